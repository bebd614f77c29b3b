"""Metrics through the broker, received by pyzmq (a client nobody here
wrote): topics, JSON fields, increasing seq per topic; metrics.jsonl holds
the same messages."""
import json
import os
import subprocess
import threading
import time

import zmq

from commlib import Broker, TOOL, check, ipc_dir, tmpdir

run_dir = tmpdir("metrics")
sock_dir = ipc_dir()
# metrics_in over ipc (the default for local workers), metrics_out over tcp.
b = Broker(run_dir, ins="ipc://%s/in.sock" % sock_dir)
ctx = zmq.Context()
sub = ctx.socket(zmq.SUB)
sub.setsockopt(zmq.SUBSCRIBE, b"")
sub.setsockopt(zmq.LINGER, 0)
sub.connect(b.eps["metrics_out"])
time.sleep(0.3)  # let the subscription reach the broker before publishing

received = []
done = threading.Event()


def reader():
    poller = zmq.Poller()
    poller.register(sub, zmq.POLLIN)
    idle_since = None
    while True:
        if dict(poller.poll(200)):
            topic, body = sub.recv_multipart()
            received.append((topic.decode(), json.loads(body)))
            idle_since = None
        else:
            if done.is_set():
                if idle_since is None:
                    idle_since = time.time()
                elif time.time() - idle_since > 0.5:
                    return


th = threading.Thread(target=reader)
th.start()
N = 20
pubs = [subprocess.Popen([TOOL, "publish", b.eps["metrics_in"], "run1", st, str(N)],
                         stdout=subprocess.PIPE, text=True)
        for st in ("pretrain", "sft")]
for p in pubs:
    out = p.communicate(timeout=60)[0]
    check(p.returncode == 0, "publisher failed")
    check(json.loads(out)["dropped"] == 0, "publisher dropped messages: " + out)
done.set()
th.join()
stats = b.stop()
sub.close()
ctx.term()

kinds = {"metrics": N, "progress": N, "event": 2, "log": 1}
for st in ("pretrain", "sft"):
    for kind, count in kinds.items():
        topic = "%s/run1/%s" % (kind, st)
        msgs = [m for t, m in received if t == topic]
        check(len(msgs) == count, "%s: got %d messages, want %d" % (topic, len(msgs), count))
        seqs = [m["seq"] for m in msgs]
        check(seqs == list(range(count)), "%s: seq %s not 0..%d" % (topic, seqs, count - 1))
        for m in msgs:
            for field in ("run", "stage", "step", "seq", "time"):
                check(field in m, "%s: field %s missing in %s" % (topic, field, m))
            check(m["run"] == "run1" and m["stage"] == st, "wrong run/stage in %s" % m)
            check(abs(m["time"] - time.time()) < 120, "time is not unix seconds: %s" % m)
    ms = [m for t, m in received if t == "metrics/run1/%s" % st]
    check([m["step"] for m in ms] == list(range(N)), "steps not 0..N-1")
    check(abs(ms[3]["values"]["loss"] - 1.0) < 1e-12, "loss value %s" % ms[3])
    check(ms[3]["values"]["lr"] == 3e-4, "lr value %s" % ms[3])
    ev = [m for t, m in received if t == "event/run1/%s" % st]
    check([e["event"] for e in ev] == ["started", "finished"], "events %s" % ev)
    lg = [m for t, m in received if t == "log/run1/%s" % st]
    check(lg[0]["text"] == "hello \u4e16\u754c", "log text %r" % lg[0]["text"])
    pr = [m for t, m in received if t == "progress/run1/%s" % st]
    check(pr[-1]["done"] == N and pr[-1]["total"] == N, "progress %s" % pr[-1])

with open(os.path.join(run_dir, "metrics.jsonl")) as f:
    lines = [json.loads(l) for l in f]
check(stats["captured"] == len(lines), "captured %d, file has %d" % (stats["captured"], len(lines)))
check(sorted((l["topic"], json.dumps(l["data"], sort_keys=True)) for l in lines)
      == sorted((t, json.dumps(m, sort_keys=True)) for t, m in received),
      "metrics.jsonl differs from what the subscriber received")
check(b.stop_seconds < 5, "broker shutdown took %.1f s" % b.stop_seconds)
print("ok: %d messages via pyzmq, identical to metrics.jsonl" % len(received))
