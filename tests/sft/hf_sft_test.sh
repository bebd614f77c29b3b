#!/bin/bash
# The SFT artifact of a real run (host, worker, plugin) loads in Hugging Face
# transformers as GPT2LMHeadModel, and its greedy answers to held-out tasks
# equal `llmpipe eval`'s token for token.
. "$(dirname "$0")/../host/lib.sh"
LL="$LLMPIPE"
"$LL" data synth --out synth --seed 5 --sft 400 --pref 5 --ranked 5 --ppo 5 --eval 30 >/dev/null 2>&1 || fail "synth"
"$LLMPIPE_PYTHON" - <<'PY'
import json
tpl = ("Below is an instruction that describes a task, paired with an input that provides further context. "
       "Write a response that appropriately completes the request.\n\n### Instruction:\n\n\n### Input:\n\n\n"
       "### Response:\n")
with open("corpus.txt", "w") as f:
    for line in open("synth/sft.jsonl"):
        r = json.loads(line)
        f.write(tpl + r["instruction"] + "\n" + r["input"] + "\n" + r["output"] + "\n")
PY
expect_status 0 "$LL" tokenizer train --vocab-size 500 --out tok.json corpus.txt
mkdir -p base
expect_status 0 "$R/tests/eval/make_model" base tok.json 2 4 64 192 7
cat > run.cfg <<CFG
name = "hf"; run_dir = "run"; seed = 7;
endpoints = { metrics_out = "tcp://127.0.0.1:$(free_port)"; };
chain = ({ name = "sft"; plugin = "sft"; output = "sft";
  params = { model = "base"; data = "synth/sft.jsonl"; eval_tasks = "synth/eval.jsonl";
             batch_size = 4; max_steps = 40; eval_every = 0; lr = 3e-3; warmup_steps = 5; }; });
CFG
expect_status 0 "$LL" run run.cfg --quiet
expect_status 0 "$LL" eval --model run/artifacts/sft --tasks synth/eval.jsonl --max-new 16 --answers-out answers.jsonl
expect_eq "$(wc -l < answers.jsonl)" 30 "answers written"
CHECKS=$((CHECKS + 1))
"$LLMPIPE_PYTHON" "$R/tests/sft/hf_sft_greedy.py" run/artifacts/sft answers.jsonl 16 > ref.out 2>&1 || {
  fail "transformers' greedy answers differ from llmpipe eval's"
  cat ref.out >&2
}
grep -E 'transformers|identical' ref.out
finish
