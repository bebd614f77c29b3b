#!/bin/bash
# A stage marked remote runs in a worker started by hand against the host's
# tcp:// endpoints (loopback), with and without CURVE.
. "$(dirname "$0")/lib.sh"
P="$PLUGINS"

write_cfg() {  # write_cfg FILE RUN_DIR [CURVE_BLOCK]
  cat > "$1" <<CFG
plugin_path = ["$P"];
run_dir = "$2";
heartbeat_timeout_s = 10.0;
endpoints = {
  control = "tcp://127.0.0.1:$(free_port)";
  store = "tcp://127.0.0.1:$(free_port)";
  metrics_in = "tcp://127.0.0.1:$(free_port)";
  metrics_out = "tcp://127.0.0.1:$(free_port)";
};
${3:-}
chain = (
  { name = "local"; plugin = "good"; output = "a"; params = { tag = "L"; }; },
  { name = "far"; plugin = "good"; inputs = ["a"]; output = "b"; remote = true;
    params = { tag = "R"; }; }
);
CFG
}

wait_for_waiting() {  # the host prints the worker command once it waits
  for i in $(seq 1 150); do
    grep -q "is remote; waiting for" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# Never leave a host behind, whatever happens.
trap 'kill -9 $(jobs -p) 2>/dev/null' EXIT

control_ep() { sed -n 's/.*control = "\(tcp[^"]*\)".*/\1/p' "$1"; }

# Plain tcp.
write_cfg plain.cfg "$T/run1"
"$LLMPIPE" run --quiet plain.cfg >host.out 2>host.err &
hp=$!
CHECKS=$((CHECKS + 1))
wait_for_waiting host.err || fail "host never waited for the remote stage"
expect_grep host.err "llmpipe worker --connect $(control_ep plain.cfg) --stage far"
# A worker asking for a stage the host is not running is refused.
expect_status 1 "$LLMPIPE" worker --connect "$(control_ep plain.cfg)" --stage local --timeout 10
expect_grep err "host refused stage 'local': stage 'local' is not waiting for a worker"
ep=$(control_ep plain.cfg)
(mkdir -p elsewhere && cd elsewhere && \
  "$LLMPIPE" worker --connect "$ep" --stage far --work-dir "$T/elsewhere/work" >w.out 2>w.err)
expect_eq "$?" 0 "remote worker status"
wait $hp
expect_eq "$?" 0 "host status"
expect_eq "$(json_get "$T/run1/manifest.json" '[s["state"] for s in d["stages"]]')" "['done', 'done']" "states"
expect_eq "$(find "$T/run1/artifacts" -name trace.txt -exec cat {} + | grep . | sort | tr '\n' ' ')" "L R<L " "artifacts"
CHECKS=$((CHECKS + 1))
[ -d "$T/elsewhere/work/inputs/a" ] || fail "remote worker did not fetch its input into its own work dir"

# CURVE: the right server key works, a wrong one gets no answer.
if "$LLMPIPE" keygen > keys.txt 2>keygen.err; then
  other=$("$LLMPIPE" keygen | sed -n 's/.*server_public_key = "\(.*\)";/\1/p')
  pub=$(sed -n 's/.*server_public_key = "\(.*\)";/\1/p' keys.txt)
  write_cfg curve.cfg "$T/run2" "$(cat keys.txt)"
  "$LLMPIPE" run --quiet curve.cfg >host2.out 2>host2.err &
  hp=$!
  CHECKS=$((CHECKS + 1))
  wait_for_waiting host2.err || fail "host never waited (curve)"
  expect_status 1 "$LLMPIPE" worker --connect "$(control_ep curve.cfg)" --stage far --server-key "$other" --timeout 3
  expect_grep err "no answer from the host at .* within 3 s"
  expect_status 0 "$LLMPIPE" worker --connect "$(control_ep curve.cfg)" --stage far --server-key "$pub" --work-dir "$T/w2"
  wait $hp
  expect_eq "$?" 0 "host status (curve)"
  expect_eq "$(json_get "$T/run2/manifest.json" '[s["state"] for s in d["stages"]]')" "['done', 'done']" "states (curve)"
else
  expect_grep keygen.err "built without CURVE"
fi
finish
