#!/bin/bash
# Chain files with mistakes: each reported as file:line with exit status 2,
# before anything runs.
. "$(dirname "$0")/lib.sh"
P="$PLUGINS"

cat > syntax.cfg <<CFG
plugin_path = ["$P"];
chain = (
  { name = "a"; plugin = "good"; params = { tag = ; }; }
);
CFG
expect_status 2 "$LLMPIPE" validate syntax.cfg
expect_line err "syntax.cfg:3: syntax error"

cat > unknown_key.cfg <<CFG
plugin_path = ["$P"];
chain = (
  { name = "a"; plugin = "good";
    outptu = "x";
    params = { tag = "x"; stpes = 3; }; }
);
CFG
expect_status 2 "$LLMPIPE" validate unknown_key.cfg
expect_line err "unknown_key.cfg:4: unknown key 'outptu' in stage #1 (did you mean 'output'?)"
expect_line err "unknown_key.cfg:5: unknown key 'stpes' in the params of stage 'a' (plugin good) (did you mean 'steps'?)"

cat > global_key.cfg <<CFG
plugin_path = ["$P"];
sed = 3;
chain = ( { name = "a"; plugin = "good"; params = { tag = "x"; }; } );
CFG
expect_status 2 "$LLMPIPE" validate global_key.cfg
expect_line err "global_key.cfg:2: unknown key 'sed' in the global settings (did you mean 'seed'?)"

cat > wrong_type.cfg <<CFG
plugin_path = ["$P"];
chain = (
  { name = "a"; plugin = "good";
    params = { tag = "x";
               steps = "three"; }; }
);
CFG
expect_status 2 "$LLMPIPE" validate wrong_type.cfg
expect_line err "wrong_type.cfg:5: stage 'a': parameter 'steps' must be an int, not a string"

cat > missing.cfg <<CFG
plugin_path = ["$P"];
chain = (
  { name = "a"; plugin = "good";
    params = { steps = 2; }; }
);
CFG
expect_status 2 "$LLMPIPE" validate missing.cfg
expect_line err "missing.cfg:3: stage 'a': missing required parameter 'tag' (string: text written into the artifact)"

cat > unknown_plugin.cfg <<CFG
plugin_path = ["$P"];
chain = (
  { name = "a";
    plugin = "godo"; }
);
CFG
expect_status 2 "$LLMPIPE" validate unknown_plugin.cfg
expect_grep err "^unknown_plugin.cfg:4: stage 'a': unknown plugin 'godo' \(did you mean 'good'\?\) \(searched [0-9]+ folders; see \`llmpipe plugins\`\)$"

cat > dangling.cfg <<CFG
plugin_path = ["$P"];
chain = (
  { name = "a"; plugin = "good"; output = "base"; params = { tag = "a"; }; },
  { name = "b"; plugin = "good";
    inputs = ["bsae"]; output = "base"; params = { tag = "b"; }; }
);
CFG
expect_status 2 "$LLMPIPE" validate dangling.cfg
expect_line err "dangling.cfg:5: stage 'b': input 'bsae' is not produced by an earlier stage (did you mean 'base'?)"
expect_line err "dangling.cfg:5: stage 'b': output 'base' is already produced by stage 'a' (line 3)"

# A later stage's output cannot feed an earlier stage.
cat > order.cfg <<CFG
plugin_path = ["$P"];
chain = (
  { name = "a"; plugin = "good"; inputs = ["late"]; params = { tag = "a"; }; },
  { name = "b"; plugin = "good"; output = "late"; params = { tag = "b"; }; }
);
CFG
expect_status 2 "$LLMPIPE" validate order.cfg
expect_line err "order.cfg:3: stage 'a': input 'late' is not produced by an earlier stage"

# Errors in an @include'd file name that file.
cat > model.inc <<CFG
seed = "many";
CFG
cat > include.cfg <<CFG
plugin_path = ["$P"];
@include "model.inc"
chain = ( { name = "a"; plugin = "good"; params = { tag = "x"; }; } );
CFG
expect_status 2 "$LLMPIPE" validate include.cfg
expect_grep err "model.inc:1: global: 'seed' must be an integer, not a string$"

# --set reaches stage parameters and is type-checked like the file.
cat > ok.cfg <<CFG
plugin_path = ["$P"];
chain = ( { name = "a"; plugin = "good"; params = { tag = "x"; }; } );
CFG
expect_status 0 "$LLMPIPE" validate ok.cfg --set a.steps=7
expect_status 2 "$LLMPIPE" validate ok.cfg --set a.steps=seven
expect_line err "ok.cfg: (--set) stage 'a': parameter 'steps' must be an int, not a string"

expect_status 2 "$LLMPIPE" validate does_not_exist.cfg
expect_line err "does_not_exist.cfg: cannot read config file"
finish
