#!/bin/bash
# A tiny pretraining run through the host: the loss falls, validation loss
# falls, every promised metric and a sample in each language are published,
# a NaN step is skipped with an event, and the output artifact is a Hugging
# Face folder that the safetensors package opens.
. "$(dirname "$0")/lib.sh"
make_corpus corpus.txt
# A second stage continues from the first one's output folder.
chain_cfg run.cfg "$T/run" 80 "debug_nan_step = 7; sample_every = 40;" ',
  { name = "more"; plugin = "pretrain"; inputs = ["corpus", "base"]; output = "more";
    params = { batch_size = 4; seq_len = 32; max_steps = 3; warmup_steps = 0; lr = 1e-4; min_lr = 1e-4;
               eval_every = 3; eval_batches = 2; sample_prompts = []; }; }'

"$LLMPIPE" run --quiet run.cfg > run.log 2>&1 || { cat run.log >&2; fail "run failed"; finish; }
"$PY" - "$T/run" <<'PYEOF' || FAILS=$((FAILS + 1))
import json, sys
from safetensors import safe_open
run = sys.argv[1]
loss, val, names, events, samples = {}, [], set(), [], []
for line in open(run + "/metrics.jsonl"):
    m = json.loads(line)
    d = m["data"]
    if d["stage"] != "pretrain":
        continue
    if m["topic"].startswith("metrics/"):
        names |= set(d["values"])
        if "loss" in d["values"]:
            loss[d["step"]] = d["values"]["loss"]
        if "val_loss" in d["values"]:
            val.append(d["values"]["val_loss"])
    elif m["topic"].startswith("event/"):
        events.append(d)
    elif m["topic"].startswith("log/") and d.get("label") == "sample":
        samples.append(d["text"])
fails = 0
def check(cond, what):
    global fails
    print(("ok   " if cond else "FAIL ") + what, file=sys.stderr)
    fails += not cond
steps = sorted(loss)
first = sum(loss[s] for s in steps[:5]) / 5
last = sum(loss[s] for s in steps[-10:]) / 10
print("train loss %.3f -> %.3f; validation %s" % (first, last, ["%.3f" % v for v in val]), file=sys.stderr)
check(len(steps) == 80, "80 steps logged")
check(last < first - 1.5, "training loss falls by more than 1.5 nats")
check(len(val) == 8 and val[-1] < val[0] - 1.0, "validation loss falls by more than 1 nat")
check({"loss", "lr", "grad_norm", "tokens_per_s", "mfu", "val_loss", "skipped_steps"} <= names,
      "metrics published: " + ", ".join(sorted(names)))
check(loss[7] is None, "the poisoned step 7 logs its NaN loss as null")
check(any(e.get("event") == "nonfinite" and "step 7" in e.get("message", "") for e in events),
      "a nonfinite event names step 7")
check(any(s.startswith("step 80: The cat") for s in samples) and any(s.startswith("step 80: 小猫") for s in samples),
      "samples in English and Chinese at the end")
check(len(samples) == 4, "samples every 40 steps (%d)" % len(samples))
check(all("<invalid UTF-8>" not in s for s in samples), "samples are valid UTF-8")
base = run + "/artifacts/base"
cfg = json.load(open(base + "/config.json"))
check(cfg["architectures"] == ["GPT2LMHeadModel"] and cfg["vocab_size"] == 320, "config.json")
with safe_open(base + "/model.safetensors", framework="pt") as f:
    keys = set(f.keys())
check("transformer.h.1.mlp.c_proj.weight" in keys and "lm_head.weight" in keys and len(keys) == 2 * 12 + 5,
      "model.safetensors has the 29 GPT-2 tensors of a 2-layer model")
from tokenizers import Tokenizer
tk = Tokenizer.from_file(base + "/tokenizer.json")
enc = tk.encode("The cat 12 小猫")
check(tk.get_vocab_size() == 320 and tk.decode(enc.ids) == "The cat 12 小猫",
      "tokenizer.json beside the weights loads in Hugging Face tokenizers")
more = [json.loads(l)["data"] for l in open(run + "/metrics.jsonl")]
more_loss = [d["values"]["loss"] for d in more if d["stage"] == "more" and "loss" in d.get("values", {})]
more_val = [d["values"]["val_loss"] for d in more if d["stage"] == "more" and "val_loss" in d.get("values", {})]
print("continued stage: loss %s, validation %s" % (more_loss, more_val), file=sys.stderr)
check(len(more_loss) == 3 and abs(more_val[-1] - val[-1]) < 0.3,
      "a stage given the output folder continues from its weights (validation %.3f vs %.3f)" % (more_val[-1], val[-1]))
sys.exit(1 if fails else 0)
PYEOF
grep -q "done: 80 steps" run.log && ok "summary line" || fail "no summary line"
grep -q "continuing from .*inputs/base (n_layer=2 n_head=2 n_embd=32 vocab=320 n_ctx=32)" run.log \
  && ok "second stage imported the first one's folder" || fail "no 'continuing from' line"
finish
