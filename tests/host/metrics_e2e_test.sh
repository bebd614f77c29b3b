#!/bin/bash
# A real ZeroMQ client (pyzmq) subscribed to a running chain's metrics
# endpoint sees every stage's metrics and events with increasing sequence
# numbers, and metrics.jsonl holds the same messages.
. "$(dirname "$0")/lib.sh"
port=$(free_port)
cat > m.cfg <<CFG
plugin_path = ["$PLUGINS"];
run_dir = "$T/run";
name = "e2e";
endpoints = { metrics_out = "tcp://127.0.0.1:$port"; };
chain = (
  # A first stage long enough for the subscriber's reconnect to land: PUB/SUB
  # drops whatever is sent before a subscription arrives (slow joiner).
  { name = "warmup"; plugin = "good"; params = { tag = "W"; steps = 15; sleep_ms = 100; }; },
  { name = "one"; plugin = "good"; output = "a"; params = { tag = "A"; steps = 5; }; },
  { name = "two"; plugin = "good"; inputs = ["a"]; params = { tag = "B"; steps = 7; }; }
);
CFG
cat > sub.py <<'PY'
import json, sys, time, zmq
ctx = zmq.Context()
s = ctx.socket(zmq.SUB)
s.setsockopt(zmq.SUBSCRIBE, b"")
s.setsockopt(zmq.RCVTIMEO, 200)
deadline = time.time() + 60
while time.time() < deadline:
    try:
        s.connect(sys.argv[1])
        break
    except zmq.ZMQError:
        time.sleep(0.05)
open("sub.ready", "w").close()
got = []
while time.time() < deadline:
    try:
        topic, body = s.recv_multipart()
    except zmq.Again:
        continue
    d = json.loads(body)
    got.append({"topic": topic.decode(), "data": d})
    if topic.decode() == "event/e2e/host" and d.get("event") == "finished" and d.get("message") == "two":
        break
json.dump(got, open("sub.json", "w"))
PY
"$LLMPIPE_PYTHON" sub.py "tcp://127.0.0.1:$port" &
sp=$!
for i in $(seq 1 100); do [ -f sub.ready ] && break; sleep 0.1; done
# The subscriber connects before the host binds; zmq reconnects until the
# host's XPUB is up.
expect_status 0 "$LLMPIPE" run --quiet m.cfg
wait $sp
"$LLMPIPE_PYTHON" - "$T/run/metrics.jsonl" > check.out 2>&1 <<'PY'
import json, sys
got = json.load(open("sub.json"))
logged = [json.loads(l) for l in open(sys.argv[1])]
def steps(msgs, stage):
    return [m["data"]["step"] for m in msgs if m["topic"] == "metrics/e2e/" + stage]
ok = True
for stage, n in (("one", 5), ("two", 7)):
    s = steps(got, stage)
    if s != list(range(1, n + 1)):
        print("stage", stage, "steps seen", s); ok = False
    for m in got:
        if m["topic"] == "metrics/e2e/" + stage:
            d = m["data"]
            for k in ("run", "stage", "step", "seq", "time", "values"):
                if k not in d: print("missing", k, d); ok = False
            if d["run"] != "e2e" or d["stage"] != stage or set(d["values"]) != {"loss", "lr"}:
                print("bad fields", d); ok = False
by_topic = {}
for m in got:
    by_topic.setdefault(m["topic"], []).append(m["data"]["seq"])
for t, seqs in by_topic.items():
    if seqs != sorted(seqs) or len(set(seqs)) != len(seqs):
        print("sequence not increasing on", t, seqs); ok = False
kinds = {m["topic"].split("/")[0] for m in got}
if not {"metrics", "event", "log", "progress"} <= kinds:
    print("kinds seen", kinds); ok = False
# Everything the subscriber saw is in the log, in the same order.
key = lambda m: (m["topic"], m["data"]["seq"], m["data"].get("step"))
lk = [key(m) for m in logged]
pos = 0
for k in map(key, got):
    try:
        pos = lk.index(k, pos) + 1
    except ValueError:
        print("not in metrics.jsonl:", k); ok = False; break
print("subscriber got", len(got), "messages; log has", len(logged))
sys.exit(0 if ok else 1)
PY
expect_eq "$?" 0 "subscriber vs metrics.jsonl"
cat check.out
finish
