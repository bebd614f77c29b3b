"""A subscriber that never reads must not slow publishing: measure a
publisher's message rate with no subscriber and with a stuck one, and show
that the stuck subscriber's losses are visible as a gap in seq."""
import json
import os
import subprocess
import time

import zmq

from commlib import TOOL, Broker, asan, check, run_tool, tmpdir

N = 20000 if asan() else 100000
run_dir = tmpdir("slow")
b = Broker(run_dir)


def captured():
    with open(os.path.join(run_dir, "metrics.jsonl"), "rb") as f:
        return sum(1 for _ in f)


rc, base = run_tool("pubrate", b.eps["metrics_in"], N)
check(rc == 0, "pubrate failed")
# The broker may still be forwarding its backlog: let it finish so the
# second run's subscriber sees only the second run.
t0 = time.time()
while captured() < N and time.time() - t0 < 30:
    time.sleep(0.1)
print("broker captured %d messages %.2f s after the publisher finished" % (captured(), time.time() - t0))
ctx = zmq.Context()
stuck = ctx.socket(zmq.SUB)
stuck.setsockopt(zmq.RCVHWM, 10)
stuck.setsockopt(zmq.RCVBUF, 4096)
stuck.setsockopt(zmq.LINGER, 0)
stuck.setsockopt(zmq.SUBSCRIBE, b"metrics/")
stuck.connect(b.eps["metrics_out"])
time.sleep(0.3)
p = subprocess.Popen([TOOL, "pubrate", b.eps["metrics_in"], str(N), "--tail", "1500"],
                     stdout=subprocess.PIPE, text=True)
slow = json.loads(p.stdout.readline())  # the stuck phase is over
time.sleep(0.2)
got = []
while stuck.poll(300):  # only now does the subscriber read what it kept
    got.append(json.loads(stuck.recv_multipart()[1])["seq"])
p.wait(timeout=30)
while stuck.poll(1000):  # the tail sent after the pause
    got.append(json.loads(stuck.recv_multipart()[1])["seq"])
stuck.close()
ctx.term()
b.stop()
gaps = [(a, c) for a, c in zip(got, got[1:]) if c != a + 1]
print("publisher: %.0f msg/s with no subscriber, %.0f msg/s with one that never reads "
      "(ratio %.2f); publisher-side drops %d / %d"
      % (base["rate"], slow["rate"], slow["rate"] / base["rate"], base["dropped"], slow["dropped"]))
print("stuck subscriber kept %d of %d messages; seq gaps %s" % (len(got), N + 10, gaps[:3]))
# A publisher blocked by the subscriber would show a rate near zero or hang.
check(slow["rate"] > 0.4 * base["rate"], "publishing slowed down by a stuck subscriber")
check(got == sorted(got) and len(got) < N, "stuck subscriber cannot have kept everything")
check(got[-10:] == list(range(N, N + 10)), "tail messages missing: %s" % got[-10:])
check(len(gaps) > 0, "the drops must show as gaps in seq")
print("ok")
