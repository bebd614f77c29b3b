"""Helpers for the data-plane tests: start the broker helper, run clients,
speak the store protocol by hand (for fault injection)."""
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def tool_path(name="comm_tool"):
    if os.environ.get("LLMPIPE_COMM_TOOL_DIR"):  # iterating outside bazel
        return os.path.join(os.environ["LLMPIPE_COMM_TOOL_DIR"], name)
    for cand in (os.path.join("tests", "comm", name), os.path.join(HERE, name)):
        if os.path.exists(cand):
            return os.path.abspath(cand)
    raise SystemExit("cannot find %s (run under bazel test)" % name)


TOOL = tool_path()


def asan():
    return os.environ.get("LLMPIPE_ASAN") == "1"


def tmpdir(prefix):
    base = os.environ.get("TEST_TMPDIR") or None
    return tempfile.mkdtemp(prefix=prefix, dir=base)


def ipc_dir():
    # ipc paths must stay under ~107 bytes: bazel's TEST_TMPDIR can be long.
    return tempfile.mkdtemp(prefix="lpc", dir="/tmp")


class Broker:
    """comm_tool broker in a subprocess; endpoints in .eps."""

    def __init__(self, run_dir, ins="tcp://127.0.0.1:0", out="tcp://127.0.0.1:0",
                 store="tcp://127.0.0.1:0", secret=None, timeout_ms=None):
        args = [TOOL, "broker", run_dir, ins, out, store]
        if secret:
            args += ["--secret", secret]
        if timeout_ms:
            args += ["--timeout", str(timeout_ms)]
        self.p = subprocess.Popen(args, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        self.eps = json.loads(line)
        if "error" in self.eps:
            raise RuntimeError(self.eps["error"])

    def hash(self, name):
        self.p.stdin.write("hash %s\n" % name)
        self.p.stdin.flush()
        return json.loads(self.p.stdout.readline())

    def stop(self):
        """Closes stdin; returns the final stats (vmhwm_kb, captured)."""
        t0 = time.time()
        self.p.stdin.close()
        out = self.p.stdout.read()
        rc = self.p.wait(timeout=30)
        self.stop_seconds = time.time() - t0
        check(rc == 0, "broker exited with %d" % rc)
        return json.loads(out.strip().splitlines()[-1])


def run_tool(*args, timeout=120):
    r = subprocess.run([TOOL] + [str(a) for a in args], capture_output=True,
                       text=True, timeout=timeout)
    if r.stderr:
        sys.stderr.write(r.stderr)
    out = r.stdout.strip().splitlines()
    return r.returncode, (json.loads(out[-1]) if out else None)


def check(cond, msg):
    if not cond:
        print("FAIL:", msg)
        sys.exit(1)


def sha256_file(path):
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return h.hexdigest()
            h.update(b)


def artifact_hash(files):
    """Reference artifact hash from (path, size, sha256) triples."""
    import hashlib
    h = hashlib.sha256()
    for path, size, sha in sorted(files):
        h.update(("%s %d %s\n" % (sha, size, path)).encode())
    return h.hexdigest()


def dir_files(root):
    out = []
    for dp, dn, fn in os.walk(root):
        for f in fn:
            p = os.path.join(dp, f)
            rel = os.path.relpath(p, root)
            if rel == ".llmpipe-manifest.json":
                continue
            out.append((rel, os.path.getsize(p), sha256_file(p)))
    return out
