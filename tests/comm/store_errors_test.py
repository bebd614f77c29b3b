"""Store failures, each a clear error, a bounded wait, nothing visible and
nothing lost: unknown name, put of an existing name, corrupted and truncated
chunks (both directions), a client or a store vanishing mid-transfer."""
import hashlib
import json
import os
import threading
import time

import zmq

from commlib import Broker, artifact_hash, check, dir_files, run_tool, tmpdir

CHUNK = 256 * 1024
work = tmpdir("errors")
run_dir = os.path.join(work, "run")
arts = os.path.join(run_dir, "artifacts")
src = os.path.join(work, "src")
os.makedirs(src)
run_tool("mkfile", os.path.join(src, "w.bin"), 3 * CHUNK + 1000, 3)
ref = artifact_hash(dir_files(src))
b = Broker(run_dir, timeout_ms=800)
ep = b.eps["store"]
rc, r = run_tool("put", ep, "good", src)
check(rc == 0, "put failed: %s" % r)


def visible_leftovers():
    return [n for n in os.listdir(arts) if n != "good"]


# Unknown name.
rc, r = run_tool("get", ep, "missing", os.path.join(work, "m"))
check(rc == 3 and "no artifact named 'missing'" in r["error"], "unknown name: %s" % r)
check(not os.path.exists(os.path.join(work, "m")), "failed get left a folder")
# Existing name.
rc, r = run_tool("put", ep, "good", src)
check(rc == 1 and "already exists" in r["error"], "duplicate put: %s" % r)
# Bad name (client side) and a bad name sent raw (store side).
rc, r = run_tool("put", ep, "../evil", src)
check(rc == 1 and "artifact name" in r["error"], "bad name: %s" % r)

ctx = zmq.Context()


def dealer():
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(ep)
    return s


def recv(s, ms=3000):
    check(s.poll(ms), "store did not answer within %d ms" % ms)
    return s.recv_multipart()


s = dealer()
s.send_multipart([b"PUT", b"../evil", b'{"files":[]}'])
m = recv(s)
check(m[0] == b"ERR" and b"valid artifact name" in m[1], "raw bad name: %s" % m)
s.send_multipart([b"PUT", b"x1", b'{"files":[{"path":"../a","size":1}]}'])
m = recv(s)
check(m[0] == b"ERR" and b"safe" in m[1], "raw bad path: %s" % m)
s.close()

data = os.urandom(2 * CHUNK + 77)
sha = hashlib.sha256(data).hexdigest()
manifest = json.dumps({"files": [{"path": "f.bin", "size": len(data)}]}).encode()


def rogue_put(name, mangle, vanish_after=None):
    """Serves the store's FETCHes for f.bin with mangle(chunk_index, bytes)."""
    s = dealer()
    s.send_multipart([b"PUT", name, manifest])
    served = 0
    while True:
        if vanish_after is not None and served == vanish_after:
            s.close()
            return None
        m = recv(s)
        if m[0] != b"FETCH":
            s.close()
            return m
        f, off, ln = map(int, m[1].split())
        chunk = mangle(served, data[off:off + ln])
        last = off + ln == len(data)
        s.send_multipart([b"DATA", b"%d %d" % (f, off), chunk] + ([sha.encode()] if last else []))
        served += 1


# Corrupted chunk on a put: one flipped byte in the second chunk.
m = rogue_put(b"bad1", lambda i, c: c if i != 1 else bytes([c[0] ^ 1]) + c[1:])
check(m[0] == b"ERR" and b"hash mismatch" in m[1], "corrupted put: %s" % m)
# Truncated chunk.
m = rogue_put(b"bad2", lambda i, c: c if i != 2 else c[:-5])
check(m[0] == b"ERR" and b"truncated" in m[1], "truncated put: %s" % m)
time.sleep(0.2)
check(visible_leftovers() == [], "refused puts left %s" % visible_leftovers())
check(b.hash("bad1")["rc"] == -2, "refused artifact is visible")
# A client that vanishes mid-put: the store drops the transfer after its
# timeout and removes the half-written folder.
t0 = time.time()
rogue_put(b"half", lambda i, c: c, vanish_after=2)
while visible_leftovers() and time.time() - t0 < 5:
    time.sleep(0.05)
check(visible_leftovers() == [], "vanished client left %s" % visible_leftovers())
print("vanished client cleaned up after %.2f s (timeout 0.8 s)" % (time.time() - t0))
# The name is free again and a real put of it works.
m = rogue_put(b"half", lambda i, c: c)
check(m[0] == b"DONE", "put after a vanished client: %s" % m)
check(m[1].decode() == artifact_hash([("f.bin", len(data), sha)]), "DONE hash")

# ---- faults on the get side: a fake store speaking the protocol ----------
fake = ctx.socket(zmq.ROUTER)
fake.setsockopt(zmq.LINGER, 0)
port = fake.bind_to_random_port("tcp://127.0.0.1")
fake_ep = "tcp://127.0.0.1:%d" % port
full_manifest = json.dumps({"name": "x", "hash": artifact_hash([("f.bin", len(data), sha)]),
                            "files": [{"path": "f.bin", "size": len(data), "sha256": sha}]}).encode()


def fake_store(mode, stop):
    poller = zmq.Poller()
    poller.register(fake, zmq.POLLIN)
    served = 0
    while not stop.is_set():
        if not dict(poller.poll(50)):
            continue
        msg = fake.recv_multipart()
        ident, cmd = msg[0], msg[1]
        if cmd == b"GET":
            fake.send_multipart([ident, b"MANIFEST", full_manifest])
        elif cmd == b"FETCH":
            if mode == "vanish" and served >= 2:
                continue  # store goes silent
            f, off, ln = map(int, msg[2].split())
            chunk = data[off:off + ln]
            if mode == "corrupt" and served == 1:
                chunk = chunk[:10] + bytes([chunk[10] ^ 0x80]) + chunk[11:]
            last = off + ln == len(data)
            fake.send_multipart([ident, b"DATA", b"%d %d" % (f, off), chunk]
                                + ([sha.encode()] if last else []))
            served += 1


for mode, want in (("corrupt", "hash mismatch"), ("vanish", "did not answer within 1000 ms")):
    stop = threading.Event()
    th = threading.Thread(target=fake_store, args=(mode, stop))
    th.start()
    dest = os.path.join(work, "get-" + mode)
    t0 = time.time()
    rc, r = run_tool("get", fake_ep, "x", dest, "--timeout", 1000)
    took = time.time() - t0
    stop.set()
    th.join()
    check(rc == 1 and want in r["error"], "%s get: %s" % (mode, r))
    check(took < 5, "%s get took %.1f s" % (mode, took))
    left = [n for n in os.listdir(work) if n.startswith("get-")]
    check(left == [], "%s get left %s visible" % (mode, left))
    print("%s get refused in %.2f s: %s" % (mode, took, r["error"]))

# A store that is not there at all.
t0 = time.time()
rc, r = run_tool("put", "tcp://127.0.0.1:%d" % port, "y", src, "--timeout", 500)
fake.close()
check(rc == 1 and "did not answer" in r["error"] and time.time() - t0 < 5, "no store: %s" % r)

# get never replaces a folder it did not write.
mine = os.path.join(work, "mine")
os.makedirs(mine)
open(os.path.join(mine, "keep"), "w").close()
rc, r = run_tool("get", ep, "good", mine)
check(rc == 1 and "refusing to replace" in r["error"], "foreign folder: %s" % r)
check(os.path.exists(os.path.join(mine, "keep")), "foreign folder was touched")

# Nothing lost: the first artifact is intact after all of the above.
dest = os.path.join(work, "final")
rc, r = run_tool("get", ep, "good", dest)
check(rc == 0 and r["hash"] == ref, "good artifact after the failures: %s" % r)
# Shutdown with a transfer in flight never blocks and leaves nothing half
# written: a client starts a put and goes silent.
s = dealer()
s.send_multipart([b"PUT", b"inflight", manifest])
check(recv(s)[0] == b"FETCH", "put did not start")
stats = b.stop()
s.close()
ctx.term()
check(b.stop_seconds < 3, "broker shutdown took %.1f s with a transfer in flight" % b.stop_seconds)
check(sorted(os.listdir(arts)) == ["good", "half"], "shutdown left %s" % os.listdir(arts))
print("broker shut down in %.2f s with a put in flight" % b.stop_seconds)
print("ok")
