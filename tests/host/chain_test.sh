#!/bin/bash
# A chain of three stages passes an artifact along; the third crashes; resume
# reruns only the third. A segfaulting plugin takes down only its worker.
. "$(dirname "$0")/lib.sh"
P="$PLUGINS"
cat > three.cfg <<CFG
plugin_path = ["$P"];
run_dir = "$T/run";
endpoints = { metrics_out = "tcp://127.0.0.1:$(free_port)"; };
chain = (
  { name = "first";  plugin = "good"; output = "a"; params = { tag = "A"; }; },
  { name = "second"; plugin = "good"; inputs = ["a"]; output = "b";
    params = { tag = "B"; steps = 4; }; },
  { name = "third";  plugin = "good"; inputs = ["b"]; output = "c";
    params = { tag = "C"; fail = true; }; }
);
CFG
expect_status 1 "$LLMPIPE" run --quiet three.cfg
expect_line err "llmpipe: stage 'third' (plugin good, $(readlink -f "$P/good.so")): worker killed by signal 6 (Aborted)"
M="$T/run/manifest.json"
expect_eq "$(json_get "$M" '[s["state"] for s in d["stages"]]')" "['done', 'done', 'failed']" "states after crash"
hash_a="$(json_get "$M" 'd["stages"][0]["artifact"]["sha256"]')"

# Without --resume the folder is protected.
expect_status 2 "$LLMPIPE" run --quiet three.cfg
expect_grep err "already holds a run; add --resume"

# A changed setting of a done stage refuses resume.
expect_status 2 "$LLMPIPE" run --quiet --resume three.cfg --set first.tag=Z
expect_grep err "stage 'first' is done but its settings changed"

expect_status 0 "$LLMPIPE" run --quiet --resume three.cfg --set third.fail=false
expect_line err "llmpipe: stage 'first' already done; skipped"
expect_line err "llmpipe: stage 'second' already done; skipped"
expect_no_grep err "stage 'third' already done"
expect_eq "$(json_get "$M" '[s["state"] for s in d["stages"]]')" "['done', 'done', 'done']" "states after resume"
expect_eq "$(json_get "$M" 'd["stages"][0]["artifact"]["sha256"]')" "$hash_a" "artifact a untouched"
expect_eq "$(json_get "$M" 'd["stages"][2]["settings"]["params"]["fail"]')" "False" "resolved params recorded"

# The artifacts in the store show what flowed along the chain.
expect_eq "$(find "$T/run/artifacts" -name trace.txt -exec cat {} + | grep . | sort | tr '\n' ' ')" "A B<A C<B<A " "artifacts"

# The whole chain done: resume has nothing to do.
expect_status 0 "$LLMPIPE" run --quiet --resume three.cfg --set third.fail=false
expect_line err "llmpipe: stage 'third' already done; skipped"

# --only reruns one stage of an existing run; its earlier artifact is kept
# aside, the others are not touched.
expect_status 0 "$LLMPIPE" run --quiet three.cfg --only second --set third.fail=false
expect_no_grep err "stage '(first|third)'"
expect_grep err "earlier artifact 'b' moved to $T/run/retired/b-"
expect_eq "$(cat "$T"/run/retired/b-*/trace.txt)" "B<A" "retired artifact b"
expect_eq "$(json_get "$M" '[s["state"] for s in d["stages"]]')" "['done', 'done', 'done']" "states after --only"
# --only in a new run folder needs the stage's inputs.
expect_status 2 "$LLMPIPE" run --quiet three.cfg --only third --set run_dir=\"$T/empty\"
expect_grep err "^llmpipe: --only third: its input 'b' is not in the store of "

# A segfault in a plugin (under ASan the sanitizer must let the signal
# through, as it would in a normal build)
[ -n "${ASAN_OPTIONS:-}" ] && export ASAN_OPTIONS="$ASAN_OPTIONS:handle_segv=0"
#: one line naming stage, plugin, signal; earlier
# artifacts kept.
cat > crash.cfg <<CFG
plugin_path = ["$P"];
run_dir = "$T/crashrun";
endpoints = { metrics_out = "tcp://127.0.0.1:$(free_port)"; };
chain = (
  { name = "first"; plugin = "good"; output = "a"; params = { tag = "A"; }; },
  { name = "boom"; plugin = "crasher"; inputs = ["a"]; }
);
CFG
expect_status 1 "$LLMPIPE" run --quiet crash.cfg
expect_line err "llmpipe: stage 'boom' (plugin crasher, $(readlink -f "$P/crasher.so")): worker killed by signal 11 (Segmentation fault)"
expect_eq "$(json_get "$T/crashrun/manifest.json" '[s["state"] for s in d["stages"]]')" "['done', 'failed']" "crash states"
expect_grep "$T/crashrun/manifest.json" "signal 11"
finish
