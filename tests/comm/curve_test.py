"""CURVE on tcp endpoints: the right server key works (store put/get,
metrics to a pyzmq CURVE subscriber); a wrong key, or none, is refused with
a clear error after a bounded wait and delivers nothing."""
import json
import os
import subprocess
import time

import zmq

from commlib import TOOL, Broker, check, dir_files, artifact_hash, run_tool, tmpdir

if not zmq.has("curve"):
    print("libzmq without CURVE: nothing to test")
    raise SystemExit(0)

work = tmpdir("curve")
server_pub, server_sec = subprocess.check_output([TOOL, "keypair"], text=True).split()
wrong_pub, _ = subprocess.check_output([TOOL, "keypair"], text=True).split()
b = Broker(os.path.join(work, "run"), secret=server_sec)
check(b.eps["public_key"] == server_pub, "broker derived another public key")
src = os.path.join(work, "src")
os.makedirs(src)
run_tool("mkfile", os.path.join(src, "w.bin"), 1 << 20, 5)

rc, r = run_tool("put", b.eps["store"], "a", src, "--key", server_pub)
check(rc == 0 and r["hash"] == artifact_hash(dir_files(src)), "put with the right key: %s" % r)
rc, r = run_tool("get", b.eps["store"], "a", os.path.join(work, "got"), "--key", server_pub)
check(rc == 0, "get with the right key: %s" % r)

for label, extra in (("wrong key", ["--key", wrong_pub]), ("no key", [])):
    t0 = time.time()
    rc, r = run_tool("get", b.eps["store"], "a", os.path.join(work, "x"), "--timeout", 800, *extra)
    check(rc == 1 and "did not answer within 800 ms" in r["error"], "%s: %s" % (label, r))
    check(time.time() - t0 < 5, "%s: unbounded wait" % label)
    print("%s refused: %s" % (label, r["error"]))
rc, r = run_tool("put", b.eps["store"], "b", src, "--key", "short")
check(rc == 1 and "40-character" in r["error"], "malformed key: %s" % r)

# Metrics: a pyzmq CURVE subscriber gets the right-key publisher's messages;
# the wrong-key publisher's never arrive (nor reach metrics.jsonl).
ctx = zmq.Context()
sub = ctx.socket(zmq.SUB)
cpub, csec = zmq.curve_keypair()
sub.curve_serverkey = server_pub.encode()
sub.curve_publickey = cpub
sub.curve_secretkey = csec
sub.setsockopt(zmq.SUBSCRIBE, b"")
sub.setsockopt(zmq.LINGER, 0)
sub.connect(b.eps["metrics_out"])
time.sleep(0.3)
for stage, key in (("good", server_pub), ("bad", wrong_pub)):
    subprocess.run([TOOL, "publish", b.eps["metrics_in"], "r", stage, "3", "--key", key],
                   check=True, capture_output=True, timeout=60)
topics = []
while sub.poll(500):
    topics.append(sub.recv_multipart()[0].decode())
sub.close()
ctx.term()
stats = b.stop()
check("metrics/r/good" in topics, "right-key metrics did not arrive: %s" % topics)
check(not any(t.endswith("/bad") for t in topics), "wrong-key metrics arrived")
with open(os.path.join(work, "run", "metrics.jsonl")) as f:
    stages = {json.loads(l)["data"]["stage"] for l in f}
check(stages == {"good"}, "metrics.jsonl stages %s" % stages)
print("ok: %d messages over CURVE" % len(topics))
