#!/bin/bash
# A reward-model artifact of a real run (host, worker, plugin) is a
# GPT2ForSequenceClassification folder with its normalisation; `llmpipe
# score` ranks responses and prints the accuracy table of a preference file;
# Hugging Face transformers loads the folder and finds llmpipe's scores to
# fp32 tolerance.
. "$(dirname "$0")/../host/lib.sh"
LL="$LLMPIPE"
"$LL" data synth --out synth --seed 5 --sft 400 --pref 60 --ranked 10 --ppo 5 --eval 10 >/dev/null 2>&1 || fail "synth"
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
chain = ({ name = "reward"; plugin = "reward"; output = "rm";
  params = { model = "base"; data = "synth/pref.jsonl"; onpolicy_tasks = "synth/eval.jsonl";
             onpolicy_prompts = 4; onpolicy_samples = 2; onpolicy_max_new = 8;
             batch_size = 4; max_steps = 10; eval_every = 0; lr = 3e-3; warmup_steps = 2; }; });
CFG
expect_status 0 "$LL" run run.cfg --quiet
for f in model.safetensors config.json tokenizer.json reward_norm.json; do
  CHECKS=$((CHECKS + 1))
  [ -f "run/artifacts/rm/$f" ] || fail "artifact has no $f"
done
expect_eq "$(json_get run/artifacts/rm/config.json 'd["architectures"][0]')" GPT2ForSequenceClassification "architecture"
expect_eq "$(json_get run/artifacts/rm/reward_norm.json 'd["source"], d["n"]')" "onpolicy 8" "normalisation"

expect_status 0 "$LL" score --model run/artifacts/rm --pairs synth/pref.jsonl --limit 24 --scores-out scores.jsonl
cp out table.txt
expect_grep table.txt "^all +24 "
expect_grep table.txt '^family '
expect_eq "$(wc -l < scores.jsonl)" 24 "scores written"
expect_status 0 "$LL" score --model run/artifacts/rm --pairs synth/pref.jsonl --limit 24 --json
expect_eq "$(json_get out 'd["values"]["pairs"]')" 24 "json pairs"
expect_status 0 "$LL" score --model run/artifacts/rm --instruction "Add the numbers." --input "2 + 3" \
  --response "5" --response "6" --response "Let me think. 5"
expect_grep out '^ +1 +-?[0-9.]+ +-?[0-9.]+  "'
expect_eq "$(grep -cE '^ +[123] ' out)" 3 "three responses ranked"
expect_status 2 "$LL" score --model base --pairs synth/pref.jsonl
expect_grep err 'not a reward-model folder'
expect_status 2 "$LL" score --model run/artifacts/rm --pairs synth/pref.jsonl --response x

CHECKS=$((CHECKS + 1))
"$LLMPIPE_PYTHON" "$R/tests/reward/hf_score.py" run/artifacts/rm synth/pref.jsonl scores.jsonl > ref.out 2>&1 || {
  fail "transformers' scores differ from llmpipe score's"
  cat ref.out >&2
}
grep -E 'transformers|scores|pooling' ref.out
finish
