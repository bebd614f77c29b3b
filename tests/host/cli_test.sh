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

# stop_run NAME SIGNAL GRACE EXTRA_PARAMS: runs a one-stage chain of a slow
# stage, sends SIGNAL to the host once the stage runs, waits for the host;
# leaves $rc (exit status), $took (seconds after the signal), err, and the
# run folder $T/NAME.
stop_run() {
  cat > "$1.cfg" <<CFG
plugin_path = ["$PLUGINS"];
run_dir = "$T/$1";
stop_grace_s = $3;
endpoints = { metrics_out = "tcp://127.0.0.1:$(free_port)"; };
chain = ( { name = "$1"; plugin = "good"; output = "x";
            params = { tag = "S"; steps = 600; sleep_ms = 50; $4 }; } );
CFG
  "$LLMPIPE" run --quiet "$1.cfg" >out 2>err &
  local pid=$!
  for i in $(seq 1 100); do
    grep -q '"running"' "$T/$1/manifest.json" 2>/dev/null && break
    sleep 0.1
  done
  sleep 1
  kill "-$2" $pid
  local start=$(date +%s)
  wait $pid
  rc=$?
  took=$(( $(date +%s) - start ))
}

# SIGTERM to the host asks the running stage to stop through the
# cancellation flag: the stage ends early, the run is marked failed.
stop_run slow TERM 10.0 ""
expect_eq "$rc" 1 "exit status after SIGTERM"
CHECKS=$((CHECKS + 1))
[ "$took" -lt 8 ] || fail "stop took $took s"
expect_grep err "asking stage 'slow' to stop"
expect_grep err "stopping early on request"
expect_eq "$(json_get "$T/slow/manifest.json" 'd["stages"][0]["state"]')" failed "state after stop"

# A stage that ignores the request is killed after the grace period.
stop_run mule INT 1.0 "stubborn = true;"
expect_eq "$rc" 1 "exit status after SIGINT (stubborn)"
CHECKS=$((CHECKS + 1))
[ "$took" -lt 6 ] || fail "kill after grace took $took s"
expect_line err "llmpipe: stage 'mule' did not stop within 1 s; killing it"
expect_grep err "^llmpipe: stage 'mule' \(plugin good, .*\): worker killed by signal 9 \(Killed\)$"
expect_eq "$(json_get "$T/mule/manifest.json" 'd["stages"][0]["state"]')" failed "state after kill"
finish
