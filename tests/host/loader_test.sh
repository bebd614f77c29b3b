#!/bin/bash
# Every loader outcome, with its exact one-line error.
. "$(dirname "$0")/lib.sh"
cp "$PLUGINS"/*.so "$T/"
P="$(cd "$T" && pwd -P)"

chain() {  # chain PLUGIN -> writes c_PLUGIN.cfg with one stage using it
  cat >"c_$1.cfg" <<CFG
plugin_path = ["$P"];
endpoints = { metrics_out = "tcp://127.0.0.1:$(free_port)"; };
chain = (
  { name = "s"; plugin = "$1";
    params = { $2 }; }
);
CFG
}

chain abi_major_next ""
expect_status 2 "$LLMPIPE" validate c_abi_major_next.cfg
expect_line err "c_abi_major_next.cfg:4: stage 's': plugin $P/abi_major_next.so: built for ABI 2.1, host has ABI 1.1 (major differs; rebuild the plugin against this SDK)"

chain abi_minor_next ""
expect_status 2 "$LLMPIPE" validate c_abi_minor_next.cfg
expect_line err "c_abi_minor_next.cfg:4: stage 's': plugin $P/abi_minor_next.so: built for ABI 1.2, host has ABI 1.1 (plugin is newer; upgrade llmpipe or rebuild the plugin)"

chain too_small ""
expect_status 2 "$LLMPIPE" validate c_too_small.cfg
expect_grep err "^c_too_small.cfg:4: stage 's': plugin $P/too_small.so: descriptor too small \(16 bytes, ABI 1.x needs at least [0-9]+\)$"

cp no_entry.so not_a_plugin.so
chain not_a_plugin ""
expect_status 2 "$LLMPIPE" validate c_not_a_plugin.cfg
expect_line err "c_not_a_plugin.cfg:4: stage 's': plugin $P/not_a_plugin.so: no entry symbol 'lp_plugin_entry' (not an llmpipe plugin, or built without LP_PLUGIN_EXPORT)"

echo "this is not an ELF file" > garbage.so
chain garbage ""
expect_status 2 "$LLMPIPE" validate c_garbage.cfg
expect_grep err "^c_garbage.cfg:4: stage 's': plugin $P/garbage.so: dlopen failed: .*garbage.so: (invalid ELF header|file too short)$"

# An older ABI minor (1.0, smaller descriptor) loads and runs.
chain abi_minor_old ""
expect_status 0 "$LLMPIPE" validate c_abi_minor_old.cfg
expect_status 0 "$LLMPIPE" run --quiet c_abi_minor_old.cfg --set run_dir=\"$T/run_old\"
expect_eq "$(json_get "$T/run_old/manifest.json" 'd["stages"][0]["state"]')" done "abi 1.0 plugin state"

# create() failing: the run fails with the plugin's own message.
chain create_fails ""
expect_status 1 "$LLMPIPE" run --quiet c_create_fails.cfg --set run_dir=\"$T/run_cf\"
expect_line err "llmpipe: stage 's' (plugin create_fails, $P/create_fails.so): create() failed: dataset 'missing.jsonl' not found"
expect_eq "$(json_get "$T/run_cf/manifest.json" 'd["stages"][0]["state"]')" failed "create_fails state"

# The listing shows usable plugins with their schema and the unusable ones
# with their reason.
chain good 'tag = "x";'
expect_status 0 "$LLMPIPE" plugins c_good.cfg
expect_grep out "^  good 1\.2\.0 \(ABI 1\.1\) $P/good\.so$"
expect_grep out "^      steps +int +default 3 +how many metric steps to emit$"
expect_grep out "^      tag +string +required +text written into the artifact$"
expect_grep out "^  unusable: plugin $P/abi_major_next.so: built for ABI 2.1"
expect_grep out "^  abi_minor_old 0\.1\.0 \(ABI 1\.0\)"
finish
