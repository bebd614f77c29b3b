"""llmpipe generate and llmpipe chat driven as a user drives them: through a
pseudo-terminal (stdlib pty), and through pipes. Run from generate_test.sh in
a folder holding tok.json, synth/ and the model folders random/ (random
init), never/ (never writes end-of-text: every answer runs to its budget)
and always/ (always writes it first).
Usage: generate_pty.py LLMPIPE RUNFILES_ROOT"""
import json
import os
import pty
import select
import signal
import subprocess
import sys
import time

LL, ROOT = sys.argv[1], sys.argv[2]
FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILS.append(what)


class Pty:
    """A child on a pseudo-terminal; every chunk read is kept with its time."""

    def __init__(self, args):
        self.t0 = time.monotonic()
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execv(args[0], args)
        self.chunks = []  # (seconds since start, bytes)
        self.status = None
        self.exit_t = None

    def data(self):
        return b"".join(c for _, c in self.chunks)

    def _read(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return None
        try:
            b = os.read(self.fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            b = b""
        if b:
            self.chunks.append((time.monotonic() - self.t0, b))
        return b

    def expect(self, needle, timeout=30, since=0):
        """Reads until needle appears after byte offset since; its end offset."""
        end = time.monotonic() + timeout
        while True:
            i = self.data().find(needle, since)
            if i >= 0:
                return i + len(needle)
            left = end - time.monotonic()
            if left <= 0:
                return -1
            b = self._read(left)
            if b == b"":
                return -1

    def quiet(self, suffix, gap=0.4, timeout=60):
        """Reads until the output ends with suffix and then stays silent for
        gap seconds: a prompt waiting for input (text may contain suffix)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            b = self._read(gap)
            if b is None and self.data().endswith(suffix):
                return True
            if b == b"":
                return False
        return False

    def send(self, b):
        os.write(self.fd, b)

    def wait(self, timeout=30):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self._read(0.05)
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.exit_t = time.monotonic() - self.t0
                while self._read(0.05):
                    pass
                self.status = os.waitstatus_to_exitcode(st)
                os.close(self.fd)
                return self.status
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        return None


def run(args, stdin=b""):
    p = subprocess.run([LL] + args, input=stdin, capture_output=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


ONE = ["--threads", "1"]


def pytorch_greedy_same(model_dir, answers, max_new):
    """Each answer against an independent PyTorch GPT-2 (tests/ckpt/gpt2_ref.py)
    recomputing the whole sequence for every token: no KV cache."""
    import torch
    from safetensors.torch import load_file
    from tokenizers import Tokenizer

    sys.path.insert(0, os.path.join(ROOT, "tests", "ckpt"))
    from gpt2_ref import GPT2LMHeadModel

    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    model = GPT2LMHeadModel(cfg)
    model.load_state_dict(load_file(os.path.join(model_dir, "model.safetensors")), strict=False)
    model.eval()
    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    eot = tok.token_to_id("<|endoftext|>")
    same = ties = 0
    for a in answers:
        ids, out, tie = tok.encode(a["prompt"]).ids, [], False
        with torch.no_grad():
            for _ in range(max_new):
                logits = model(torch.tensor([ids + out]))[0, -1]
                top2 = torch.topk(logits, 2).values
                tie |= float(top2[0] - top2[1]) < 1e-4  # fp32 rounding may pick either
                out.append(int(torch.argmax(logits)))
                if out[-1] == eot:
                    break
        ref = tok.decode(out, skip_special_tokens=True)
        same += ref == a["answer"]
        ties += ref != a["answer"] and tie
        if ref != a["answer"] and not tie:
            print("MISMATCH", json.dumps(ref), json.dumps(a["answer"]))
    print(f"PyTorch greedy: {same} identical, {ties} differ after a near-tie, of {len(answers)}")
    return same + ties == len(answers) and same >= len(answers) - 1

# ---- generate streams: the first text arrives long before the end ---------
p = Pty([LL, "generate", "--model", "never", "--prompt", "Once upon a time", "--max-new-tokens", "1500",
         "--temperature", "0.8", "--seed", "1", "--stats"] + ONE)
st = p.wait(120)
check(st == 0, f"generate exits 0 (got {st})")
text_chunks = [(t, c) for t, c in p.chunks if not c.startswith(b"[prompt")]
first, end = text_chunks[0][0], p.exit_t
mid_bytes = sum(len(c) for t, c in text_chunks if t < first + (end - first) / 2)
total = sum(len(c) for _, c in text_chunks)
print(f"generate: first text after {first * 1e3:.0f} ms, exit after {end * 1e3:.0f} ms, "
      f"{len(text_chunks)} chunks, {mid_bytes} of {total} bytes by mid-run")
check(len(text_chunks) >= 5, f"output came in {len(text_chunks)} pieces, not at once")
check(first < 0.4 * end, f"first text at {first:.2f} s, well before the end at {end:.2f} s")
check(0 < mid_bytes < total, "some text arrived during the run, some after its middle")
stats = p.data().decode("utf-8", "replace")
check("1500 generated" in stats and "[token budget]" in stats, "stats line: 1500 tokens, ended by the budget")
full_s = end - first

# ---- generate: Ctrl-C ends the run at once, status 130 ---------------------
p = Pty([LL, "generate", "--model", "never", "--prompt", "Once", "--max-new-tokens", "1900"] + ONE)
check(bool(p._read(30)), "generate starts writing")
t_int = time.monotonic() - p.t0
p.send(b"\x03")
st = p.wait(30)
took = p.exit_t - t_int
print(f"generate Ctrl-C: exited {took * 1e3:.0f} ms after it (a full answer takes {full_s:.2f} s)")
check(st == 130, f"generate after Ctrl-C exits 130 (got {st})")
check(took < max(0.5, full_s / 2), "and does so before the answer would have ended")
check(b"stopped (Ctrl-C)" in p.data(), "saying it was stopped")

# ---- chat on a terminal: Ctrl-C stops an answer, the chat goes on ----------
p = Pty([LL, "chat", "--model", "never", "--max-new-tokens", "800", "--temperature", "0.8", "--seed", "2"] + ONE)
check(p.quiet(b"> ", timeout=30), "chat shows a banner and a prompt")
check(b"/quit or Ctrl-D" in p.data(), "the banner says how to leave")
p.send(b"Tell me a long story.\r")
o = p.expect(b"Tell me a long story.\r\n", 10)
check(o > 0, "the terminal echoes the instruction")
t_answer = time.monotonic() - p.t0
got = b""
while len(got) < 40 and p._read(20):
    got = p.data()[o:]
check(len(got) >= 40, "the answer streams in")
t_int = time.monotonic() - p.t0
p.send(b"\x03")
o2 = p.expect(b"(stopped)", 20, o)
t_stop = time.monotonic() - p.t0
check(o2 > 0, "Ctrl-C during the answer prints (stopped)")
check(p.quiet(b"> ", timeout=20), "and the prompt comes back")
print(f"chat Ctrl-C: first answer text {(t_int - t_answer) * 1e3:.0f} ms after Enter, "
      f"stopped {(t_stop - t_int) * 1e3:.0f} ms after Ctrl-C")
check(t_stop - t_int < max(0.5, full_s / 2), "the answer stops well before its budget")
check(os.waitpid(p.pid, os.WNOHANG)[0] == 0, "chat is still running after Ctrl-C")
n0 = len(p.data())
p.send(b"And then?\r")
o3 = p.expect(b"And then?\r\n", 10, n0)
check(p.quiet(b"> ", gap=0.6, timeout=90), "the next instruction is answered to its end")
check(len(p.data()) - o3 > 200, f"with a full answer ({len(p.data()) - o3} bytes)")
n1 = len(p.data())
p.send(b"half a line")
time.sleep(0.2)
p.send(b"\x03")
check(p.expect(b"Ctrl-C clears the line", 10, n1) > 0, "Ctrl-C at the prompt says how to quit")
check(p.quiet(b"> ", timeout=10), "and prompts again")
p.send(b"/reset\r")
check(p.expect(b"(conversation forgotten)", 10) > 0, "/reset forgets the conversation")
p.send(b"/quit\r")
check(p.wait(20) == 0, "/quit leaves with status 0")

p = Pty([LL, "chat", "--model", "always"] + ONE)
check(p.quiet(b"> ", timeout=30), "chat prompts")
p.send(b"\x04")
check(p.wait(20) == 0, "Ctrl-D at the prompt leaves with status 0")

# ---- chat with standard input not a terminal: one answer a line ------------
import re  # noqa: E402

lines = b"Add 2 and 3.\nName a color.\n/reset\nName a color.\n\n"
rc, out, err = run(["chat", "--model", "never", "--max-new-tokens", "12", "--stats"] + ONE, lines)
ans = out.split(b"\n")
check(rc == 0 and len(ans) == 5 and ans[4] == b"", f"4 answer lines for 4 instruction lines (got {out!r})")
check(b"> " not in out and b"llmpipe chat" not in out, "no prompt, no banner")
rc, g, _ = run(["generate", "--model", "never", "--instruction", "Name a color.", "--max-new-tokens", "12"] + ONE)
fresh = g[:-1].replace(b"\\", b"\\\\").replace(b"\n", b"\\n")
check(ans[2] == fresh, "after /reset the answer is generate's for that instruction alone")
check(ans[3] == b"", "an empty line gets an empty answer line")
# the context of each answer: the first turn (prompt, 12 tokens, the
# end-of-text closing them) comes before the second, not after /reset
st = [(int(m[1]), int(m[2])) for m in re.finditer(rb"\[prompt (\d+) tokens, (\d+) generated", err)]
check(len(st) == 3 and st[1][0] == st[0][0] + st[0][1] + 1 + st[2][0],
      f"the second answer sees the first turn, the third (after /reset) does not: {st}")
rc, out2, err2 = run(["chat", "--model", "never", "--max-new-tokens", "12", "--stats", "--no-history"] + ONE, lines)
a2 = out2.split(b"\n")
st2 = [int(m[1]) for m in re.finditer(rb"\[prompt (\d+) tokens", err2)]
check(a2[1] == fresh and a2[2] == fresh and st2[1] == st2[2], "--no-history answers each line on its own")
# a context of 256 holds one turn: older ones are dropped, said once
rc, out3, err3 = run(["chat", "--model", "random", "--max-new-tokens", "12"] + ONE, b"One.\nTwo.\nThree.\n")
check(rc == 0 and len(out3.split(b"\n")) == 4, "a conversation longer than the context goes on")
check(err3.count(b"no longer fits the model's context of 256 tokens") == 1, f"and says so once: {err3!r}")

# ---- greedy equals llmpipe eval and PyTorch -------------------------------
rc, _, err = run(["eval", "--model", "random", "--tasks", "synth/eval.jsonl", "--max-new", "12",
                  "--answers-out", "eval_answers.jsonl"] + ONE)
check(rc == 0, f"llmpipe eval runs ({err[-200:]!r})")
rows = []
for line in open("eval_answers.jsonl", encoding="utf-8", errors="replace"):
    try:
        rows.append(json.loads(line))
    except ValueError:
        pass  # an answer that was not UTF-8
same = 0
mine = []
for r in rows[:8]:
    rc, g, _ = run(["generate", "--model", "random", "--prompt", r["prompt"], "--max-new-tokens", "12",
                    "--temperature", "0"] + ONE)
    text = g[:-1].decode("utf-8", "replace")
    same += text == r["answer"]
    mine.append({"prompt": r["prompt"], "answer": text})
check(len(mine) >= 6 and same == len(mine), f"greedy generate equals llmpipe eval on {same} of {len(mine)} prompts")
with open("generate_answers.jsonl", "w") as f:
    for m in mine:
        f.write(json.dumps(m) + "\n")
check(pytorch_greedy_same("random", mine, 12), "greedy generate equals a PyTorch full recomputation")

# ---- seeds, samples, end-of-text -------------------------------------------
args = ["generate", "--model", "random", "--prompt", "The", "--n", "3", "--max-new-tokens", "16", "--seed", "42"]
r1, r2, r3 = run(args + ONE), run(args + ONE), run(args[:-1] + ["43"] + ONE)
check(r1[0] == 0 and r1[1] == r2[1], "the same seed gives the same samples")
check(r1[1] != r3[1], "another seed gives others")
heads = [l for l in r1[1].split(b"\n") if l.startswith(b"--- sample ")]
check(heads == [b"--- sample 1/3 ---", b"--- sample 2/3 ---", b"--- sample 3/3 ---"], f"3 samples, headed {heads}")
parts = r1[1].split(b"--- sample ")[1:]
check(len(set(parts)) == 3, "--n samples (temperature 0.8 by default) differ")
rc, out, err = run(["generate", "--model", "always", "--instruction", "Hi.", "--stats"] + ONE)
check(rc == 0 and out == b"\n" and b"[end-of-text]" in err, f"end-of-text ends the answer ({out!r}, {err!r})")

# ---- bad usage: one line, status 2 ------------------------------------------
bad = [
    (["generate", "--model", "random", "--prompt", "x", "--temprature", "1"], b"did you mean --temperature?"),
    (["generate", "--model", "random", "--prompt", "x", "--temperature", "hot"], b"--temperature: expected"),
    (["generate", "--model", "random", "--prompt", "x", "--top-p", "1.5"], b"--top-p: expected"),
    (["generate", "--model", "random", "--prompt", "x", "--n", "0"], b"--n: expected"),
    (["generate", "--model", "random", "--prompt", "x", "--max-new-tokens", "12x"], b"--max-new-tokens: expected"),
    (["generate", "--model", "random", "--prompt", "x", "--seed"], b"--seed needs a value"),
    (["generate", "--model", "random"], b"give one of --prompt TEXT or --instruction TEXT"),
    (["generate", "--model", "random", "--prompt", "x", "--input", "y"], b"--input goes with --instruction"),
    (["generate", "--prompt", "x"], b"--model DIR is required"),
    (["generate", "--model", "no/such/folder", "--prompt", "x"], b"--model no/such/folder: no such folder"),
    (["generate", "--model", "synth", "--prompt", "x"], b"--model synth: not a model folder (no config.json)"),
    (["generate", "--model", "random", "--prompt", "x", "--precision", "fp8"], b"fp32 or bf16"),
    (["chat", "--model", "random", "--bogus"], b"unknown option '--bogus'"),
    (["chat", "--model", "no/such/folder"], b"llmpipe chat: --model no/such/folder: no such folder"),
    (["chat", "--model", "random", "--n", "2"], b"one sample"),
]
for a, want in bad:
    rc, out, err = run(a)
    lines = err.decode().splitlines()
    check(rc == 2 and len(lines) == 1 and want in err and out == b"",
          f"{' '.join(a[:1] + a[3:] if len(a) > 3 else a)}: status {rc}, {lines}")
rc, out, err = run(["generate", "--help"])
check(rc == 0 and b"--temperature" in out and b"greedy" in out, "--help lists the options and defaults")

print(f"{len(FAILS)} failed")
sys.exit(1 if FAILS else 0)
