#!/bin/bash
# The CLI surface: versions, help, unknown commands, a stop request.
. "$(dirname "$0")/lib.sh"
expect_status 0 "$LLMPIPE" --version
expect_grep out "^llmpipe [0-9]+\.[0-9]+\.[0-9]+ \(SDK [0-9]+\.[0-9]+\.[0-9]+, plugin ABI 1\.1\)$"
expect_status 0 "$LLMPIPE" help
for c in run validate plugins worker; do expect_grep out "^  $c "; done
expect_status 2 "$LLMPIPE" frobnicate
expect_line err "llmpipe: unknown command 'frobnicate' (see \`llmpipe help\`)"
expect_status 2 "$LLMPIPE" run
expect_status 2 "$LLMPIPE" worker --connect
expect_line err "llmpipe worker: --connect needs a value"

# SIGTERM to the host asks the running stage to stop through the
# cancellation flag: the stage ends early, the run is marked failed.
cat > slow.cfg <<CFG
plugin_path = ["$PLUGINS"];
run_dir = "$T/run";
stop_grace_s = 10.0;
endpoints = { metrics_out = "tcp://127.0.0.1:$(free_port)"; };
chain = ( { name = "slow"; plugin = "good"; output = "x";
            params = { tag = "S"; steps = 600; sleep_ms = 50; }; } );
CFG
"$LLMPIPE" run --quiet slow.cfg >out 2>err &
pid=$!
for i in $(seq 1 100); do
  grep -q '"running"' "$T/run/manifest.json" 2>/dev/null && break
  sleep 0.1
done
sleep 1
kill -TERM $pid
start=$(date +%s)
wait $pid
rc=$?
took=$(( $(date +%s) - start ))
expect_eq "$rc" 1 "exit status after SIGTERM"
CHECKS=$((CHECKS + 1))
[ "$took" -lt 8 ] || fail "stop took $took s"
expect_grep err "asking stage 'slow' to stop"
expect_grep err "stopping early on request"
expect_eq "$(json_get "$T/run/manifest.json" 'd["stages"][0]["state"]')" failed "state after stop"

# A stage that ignores the request is killed after the grace period.
cat > stubborn.cfg <<CFG
plugin_path = ["$PLUGINS"];
run_dir = "$T/run2";
stop_grace_s = 1.0;
endpoints = { metrics_out = "tcp://127.0.0.1:$(free_port)"; };
chain = ( { name = "mule"; plugin = "good"; output = "x";
            params = { tag = "M"; steps = 600; sleep_ms = 50; stubborn = true; }; } );
CFG
"$LLMPIPE" run --quiet stubborn.cfg >out 2>err &
pid=$!
for i in $(seq 1 100); do
  grep -q '"running"' "$T/run2/manifest.json" 2>/dev/null && break
  sleep 0.1
done
sleep 1
kill -INT $pid
start=$(date +%s)
wait $pid
rc=$?
took=$(( $(date +%s) - start ))
expect_eq "$rc" 1 "exit status after SIGINT (stubborn)"
CHECKS=$((CHECKS + 1))
[ "$took" -lt 6 ] || fail "kill after grace took $took s"
expect_line err "llmpipe: stage 'mule' did not stop within 1 s; killing it"
expect_grep err "^llmpipe: stage 'mule' \(plugin good, .*\): worker killed by signal 9 \(Killed\)$"
expect_eq "$(json_get "$T/run2/manifest.json" 'd["stages"][0]["state"]')" failed "state after kill"
finish
