#!/bin/bash
# llmpipe eval: greedy answers equal an independent PyTorch greedy decode of
# the same weights; scoring is exact match per family; bad input is refused.
. "$(dirname "$0")/../host/lib.sh"
MAKE_MODEL="$R/tests/eval/make_model"
LL="$LLMPIPE"
"$LL" data synth --out synth --seed 3 --sft 300 --pref 5 --ranked 5 --ppo 5 --eval 24 >/dev/null 2>&1 || fail "synth"
# A tokenizer trained on the task texts themselves.
"$LLMPIPE_PYTHON" - <<'PY'
import json
with open("corpus.txt", "w") as f:
    for line in open("synth/sft.jsonl"):
        r = json.loads(line)
        f.write(r["instruction"] + "\n" + r["input"] + "\n" + r["output"] + "\n")
PY
expect_status 0 "$LL" tokenizer train --vocab-size 400 --out tok.json corpus.txt
mkdir -p model
expect_status 0 "$MAKE_MODEL" model tok.json 2 4 64 256 7
expect_status 0 "$LL" eval --model model --tasks synth/eval.jsonl --max-new 12 --batch 5 --answers-out answers.jsonl
expect_grep out "^family +n +correct +accuracy$"
expect_grep out "^total +24 +[0-9]+ +[0-9.]+%$"
expect_eq "$(wc -l < answers.jsonl)" 24 "answers written"
CHECKS=$((CHECKS + 1))
"$LLMPIPE_PYTHON" "$R/tests/eval/greedy_ref.py" model answers.jsonl 12 > ref.out 2>&1 || { fail "greedy answers differ from PyTorch"; cat ref.out >&2; }
grep identical ref.out

# Batch size does not change greedy answers (left-aligned rows, own lengths).
expect_status 0 "$LL" eval --model model --tasks synth/eval.jsonl --max-new 12 --batch 1 --answers-out answers1.jsonl
CHECKS=$((CHECKS + 1))
cmp -s answers.jsonl answers1.jsonl || fail "batch 1 and batch 5 answers differ"

# Scoring: reference answers score 100 %; each family counted.
"$LLMPIPE_PYTHON" - <<'PY'
import json
rows = [json.loads(l) for l in open("synth/eval.jsonl")]
with open("right.jsonl", "w") as f:
    for r in rows:
        f.write(json.dumps({"answer": r["reference"]}) + "\n")
with open("half.jsonl", "w") as f:
    for i, r in enumerate(rows):
        f.write(json.dumps({"answer": r["reference"] if i % 2 == 0 else r["reference"] + " ok"}) + "\n")
fams = sorted(set(r["family"] for r in rows))
open("families.txt", "w").write(" ".join(fams))
PY
expect_status 0 "$LL" eval --score right.jsonl --tasks synth/eval.jsonl --json
expect_eq "$(json_get out 'd["values"]["exact_match"]')" "1.0" "reference answers"
expect_eq "$(json_get out 'd["values"]["n"]')" 24 "n"
expect_eq "$(json_get out '" ".join(sorted(k[12:] for k in d["values"] if k.startswith("exact_match/")))')" "$(cat families.txt)" "families"
expect_status 0 "$LL" eval --score half.jsonl --tasks synth/eval.jsonl --json
expect_eq "$(json_get out 'd["values"]["exact_match"]')" "0.5" "half right"

# Bad input: one line each, exit 2.
head -3 right.jsonl > short.jsonl
expect_status 2 "$LL" eval --score short.jsonl --tasks synth/eval.jsonl
expect_line err "llmpipe eval: short.jsonl: 3 answers for 24 tasks in synth/eval.jsonl"
printf '{"prompt": "2+2?"}\n' > nofam.jsonl
echo '{"answer": "4"}' > one.jsonl
expect_status 2 "$LL" eval --score one.jsonl --tasks nofam.jsonl
expect_line err "llmpipe eval: nofam.jsonl:1: task has neither a known 'family' nor a 'reference'"
printf '{"prompt": "2+2?", "reference": "4"}\n' > custom.jsonl
expect_status 0 "$LL" eval --score one.jsonl --tasks custom.jsonl --json
expect_eq "$(json_get out 'd["values"]["exact_match/other"]')" "1.0" "reference-only task"
expect_status 2 "$LL" eval --model nowhere --tasks synth/eval.jsonl
expect_grep err "^llmpipe eval: .*nowhere"
finish
