"""Real processes killed mid-transfer (SIGKILL, no goodbye): a client during
a put, the store during a get. Each side notices within its bounded wait,
nothing half-written becomes visible, and the store keeps serving."""
import os
import signal
import subprocess
import time

from commlib import (TOOL, Broker, artifact_hash, asan, check, dir_files,
                     run_tool, tmpdir)

MB = 1 << 20
size = (30 if asan() else 120) * MB
work = tmpdir("kill")
src = os.path.join(work, "src")
os.makedirs(src)
run_tool("mkfile", os.path.join(src, "model.safetensors"), size, 11)
ref = artifact_hash(dir_files(src))
run_dir = os.path.join(work, "run")
arts = os.path.join(run_dir, "artifacts")
b = Broker(run_dir, timeout_ms=1000)
ep = b.eps["store"]


def tmp_dirs():
    return [n for n in os.listdir(arts) if n.startswith(".tmp-")]


# A client killed during its put.
p = subprocess.Popen([TOOL, "put", ep, "model", src], stdout=subprocess.DEVNULL)
t0 = time.time()
while not tmp_dirs() and p.poll() is None and time.time() - t0 < 10:
    time.sleep(0.001)
p.send_signal(signal.SIGKILL)
p.wait()
killed_mid = not os.path.exists(os.path.join(arts, "model"))
print("client killed %s its put" % ("during" if killed_mid else "after"))
t0 = time.time()
while tmp_dirs() and time.time() - t0 < 10:
    time.sleep(0.05)
check(tmp_dirs() == [], "half-written put still on disk after %.1f s" % (time.time() - t0))
if killed_mid:
    check(b.hash("model")["rc"] == -2, "a killed put became visible")
    print("store dropped the half put after %.2f s (timeout 1 s)" % (time.time() - t0))
    rc, r = run_tool("put", ep, "model", src)
    check(rc == 0 and r["hash"] == ref, "put after a killed client: %s" % r)
check(b.hash("model") == {"rc": 0, "hash": ref}, "artifact hash after recovery")

# The store killed during a get.
dest = os.path.join(work, "got")
p = subprocess.Popen([TOOL, "get", ep, "model", dest, "--timeout", "1000"],
                     stdout=subprocess.PIPE, text=True)
t0 = time.time()
while (not any(n.startswith("got.part-") for n in os.listdir(work))
       and p.poll() is None and time.time() - t0 < 10):
    time.sleep(0.001)
b.p.send_signal(signal.SIGKILL)
b.p.wait()
t1 = time.time()
out = p.communicate(timeout=30)[0]
took = time.time() - t1
import json
r = json.loads(out.strip().splitlines()[-1])
if r["ok"]:
    print("get finished before the store died; nothing to check")
else:
    check("did not answer within 1000 ms" in r["error"], "get with a dead store: %s" % r)
    check(took < 5, "client waited %.1f s for a dead store" % took)
    check(not os.path.exists(dest), "a failed get left %s" % dest)
    print("client noticed the dead store in %.2f s: %s" % (took, r["error"]))
check(not any(n.startswith("got.part-") for n in os.listdir(work)), "temporary get folder left")

# The store restarted on the same run folder still has the artifact.
b2 = Broker(run_dir)
rc, r = run_tool("get", b2.eps["store"], "model", dest)
check(rc == 0 and r["hash"] == ref, "get from the restarted store: %s" % r)
b2.stop()
print("ok")
