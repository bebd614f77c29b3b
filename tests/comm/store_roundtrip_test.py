"""A 200 MB artifact (20 MB under ASan) round-trips through the store with
identical hashes (hashlib is the reference); peak RSS of the store (broker
process) and of the client processes stays far below the artifact size; a
broker recreated on the same run folder (--resume) serves it again."""
import json
import os
import subprocess
import time

from commlib import (TOOL, Broker, artifact_hash, asan, check, dir_files, ipc_dir,
                     run_tool, sha256_file, tmpdir)

MB = 1 << 20
size = (20 if asan() else 200) * MB
work = tmpdir("store")
src = os.path.join(work, "src")
os.makedirs(os.path.join(src, "optim"))
rc, _ = run_tool("mkfile", os.path.join(src, "model.safetensors"), size, 7)
check(rc == 0, "mkfile failed")
run_tool("mkfile", os.path.join(src, "optim", "state.bin"), 3 * MB + 12345, 8)
with open(os.path.join(src, "config.json"), "w") as f:
    json.dump({"n_layer": 2, "n_embd": 64}, f)
open(os.path.join(src, "empty.txt"), "w").close()
ref = artifact_hash(dir_files(src))

run_dir = os.path.join(work, "run")
sock = ipc_dir()
b = Broker(run_dir, store="ipc://%s/store.sock" % sock)
t0 = time.time()
rc, put = run_tool("put", b.eps["store"], "base", src)
t_put = time.time() - t0
check(rc == 0 and put["ok"], "put failed: %s" % put)
t0 = time.time()
dst = os.path.join(work, "got", "base")
rc, get = run_tool("get", b.eps["store"], "base", dst)
t_get = time.time() - t0
check(rc == 0 and get["ok"], "get failed: %s" % get)
check(put["hash"] == ref and get["hash"] == ref,
      "artifact hash: put %s get %s reference %s" % (put["hash"], get["hash"], ref))
check(b.hash("base") == {"rc": 0, "hash": ref}, "broker reports another hash")
check(sorted(dir_files(dst)) == sorted(dir_files(src)), "files differ after the round trip")
stored = os.path.join(run_dir, "artifacts", "base", "model.safetensors")
check(sha256_file(stored) == sha256_file(os.path.join(src, "model.safetensors")),
      "stored copy differs")
# Several clients at once: the store keeps one transfer per client.
small = os.path.join(work, "small")
os.makedirs(small)
run_tool("mkfile", os.path.join(small, "w.bin"), 10 * MB + 3, 9)
small_ref = artifact_hash(dir_files(small))
rc, r = run_tool("put", b.eps["store"], "small", small)
check(rc == 0, "put small: %s" % r)
procs = [subprocess.Popen([TOOL, "get", b.eps["store"], "small", os.path.join(work, "many", str(i))],
                          stdout=subprocess.PIPE, text=True) for i in range(3)]
procs.append(subprocess.Popen([TOOL, "put", b.eps["store"], "small2", small],
                              stdout=subprocess.PIPE, text=True))
results = [json.loads(p.communicate(timeout=120)[0].strip().splitlines()[-1]) for p in procs]
check(all(r["ok"] for r in results), "concurrent transfers: %s" % results)
check(all(r["hash"] == small_ref for r in results), "concurrent hashes")
for i in range(3):
    check(sorted(dir_files(os.path.join(work, "many", str(i)))) == sorted(dir_files(small)),
          "concurrent get %d differs" % i)
print("3 concurrent gets + 1 put: identical hashes")
stats = b.stop()

mb = size / MB
print("artifact %.0f MB: put %.2f s (%.0f MB/s), get %.2f s (%.0f MB/s)"
      % (mb, t_put, mb / t_put, t_get, mb / t_get))
print("peak RSS (VmHWM): store/broker %.1f MB, put client %.1f MB, get client %.1f MB"
      % (stats["vmhwm_kb"] / 1024, put["vmhwm_kb"] / 1024, get["vmhwm_kb"] / 1024))
if not asan():  # ASan's shadow memory says nothing about our buffers
    for who, kb in (("broker", stats["vmhwm_kb"]), ("put client", put["vmhwm_kb"]),
                    ("get client", get["vmhwm_kb"])):
        check(kb < 40 * 1024, "%s peak RSS %d kB is not far below %d MB" % (who, kb, mb))

# --resume: a new broker on the same run folder serves what the first stored,
# and clears temp folders a crash left behind.
stale = os.path.join(run_dir, "artifacts", ".tmp-half-abc123")
os.makedirs(stale)
b2 = Broker(run_dir, store="ipc://%s/store2.sock" % sock)
check(not os.path.exists(stale), "stale temp folder survived a restart")
check(b2.hash("base") == {"rc": 0, "hash": ref}, "restarted broker lost the artifact")
check(b2.hash("nothing")["rc"] == -2, "unknown artifact must be LP_ERR_NOTFOUND")
rc, get2 = run_tool("get", b2.eps["store"], "base", dst)  # replaces the earlier get
check(rc == 0 and get2["hash"] == ref, "get after restart failed: %s" % get2)
b2.stop()
print("ok")
