"""`llmpipe watch` in plain mode (stdout not a terminal): one line per
update from a live publisher, topic filter by run, bounded run time, usage
errors in one line with exit status 2."""
import os
import subprocess
import time

from commlib import TOOL, Broker, check, tmpdir, tool_path

WATCH = tool_path("watch_tool")
b = Broker(tmpdir("watch"))
w = subprocess.Popen([WATCH, "watch", b.eps["metrics_out"], "--topic", "run1", "--for", "3"],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
time.sleep(0.5)
for run in ("run1", "other"):
    subprocess.run([TOOL, "publish", b.eps["metrics_in"], run, "pretrain", "10"],
                   check=True, capture_output=True, timeout=60)
t0 = time.time()
out, err = w.communicate(timeout=30)
print(out)
check(w.returncode == 0, "watch exited %d: %s" % (w.returncode, err))
check(time.time() - t0 < 6, "--for 3 did not stop the view")
lines = out.splitlines()
check(any("run1/pretrain EVENT started" in l for l in lines), "no started event")
check(any("run1/pretrain step 9 loss=0.4" in l for l in lines), "no metrics line for step 9")
check(any("run1/pretrain progress 10/10 (100%)" in l for l in lines), "no final progress line")
check(any("run1/pretrain LOG sample: hello" in l for l in lines), "no log line")
check(not any("other/" in l for l in lines), "--topic run1 let another run through")
check(not any("\x1b" in l for l in lines), "escape codes in plain mode")
# A run folder works as well as the endpoint (its endpoints.json).
run_dir = tmpdir("watchrun")
with open(os.path.join(run_dir, "endpoints.json"), "w") as f:
    f.write('{"metrics_out": "%s"}' % b.eps["metrics_out"])
w = subprocess.Popen([WATCH, "watch", run_dir, "--for", "2"], stdout=subprocess.PIPE, text=True)
time.sleep(0.5)
subprocess.run([TOOL, "publish", b.eps["metrics_in"], "run2", "sft", "3"],
               check=True, capture_output=True, timeout=60)
out = w.communicate(timeout=30)[0]
check(w.returncode == 0 and "run2/sft step 2 loss=" in out, "watch RUN_DIR: %r" % out)
b.stop()

for args, want in (([], "missing ENDPOINT"), (["tcp://x:1", "--bogus"], "unknown option"),
                   (["nonsense"], "ENDPOINT must look like"),
                   ([tmpdir("empty")], "or be a run folder")):
    r = subprocess.run([WATCH, "watch"] + args, capture_output=True, text=True, timeout=10)
    check(r.returncode == 2 and want in r.stderr.splitlines()[0], "usage %s: %r" % (args, r.stderr))
print("ok")
