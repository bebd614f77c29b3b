#!/usr/bin/env bash
# data synth: deterministic from the seed, and its files pass an independent
# Python verification (answers, disjoint splits, flawed answers, ranking);
# data check accepts every file and confirms the references pass the C checker.
set -euo pipefail
cli=$1 verify=$2
py=${LLMPIPE_PYTHON:?LLMPIPE_PYTHON must point at the venv python (the test runner sets it)}
tmp=${TEST_TMPDIR:-$(mktemp -d)}
args=(--sft 3000 --pref 600 --ranked 200 --ppo 200 --eval 100)
"$cli" data synth --out "$tmp/a" --seed 7 "${args[@]}"
"$cli" data synth --out "$tmp/b" --seed 7 "${args[@]}"
"$cli" data synth --out "$tmp/c" --seed 8 "${args[@]}"
for f in sft pref ranked ppo eval; do
  cmp "$tmp/a/$f.jsonl" "$tmp/b/$f.jsonl"
  if cmp -s "$tmp/a/$f.jsonl" "$tmp/c/$f.jsonl"; then echo "seed 8 gave the same $f.jsonl as seed 7"; exit 1; fi
done
# the held-out set does not depend on the size of the training split
"$cli" data synth --out "$tmp/d" --seed 7 --sft 10 --pref 600 --ranked 200 --ppo 200 --eval 100
cmp "$tmp/a/eval.jsonl" "$tmp/d/eval.jsonl"
"$py" "$verify" "$tmp/a"
"$cli" data synth --out "$tmp/h" --seed 3 --level 3 --sft 500 --pref 200 --ranked 100 --ppo 100 --eval 100
"$py" "$verify" "$tmp/h"
"$cli" data check "$tmp/a/sft.jsonl" --kind sft
"$cli" data check "$tmp/a/pref.jsonl" --kind pref
"$cli" data check "$tmp/a/ranked.jsonl" --kind ranked
"$cli" data check "$tmp/a/eval.jsonl" --kind prompts
"$cli" data check "$tmp/h/ppo.jsonl" --kind prompts
# a tampered reference is caught by the checker
sed '1s/"reference":"[^"]*"/"reference":"wrong"/' "$tmp/a/eval.jsonl" > "$tmp/bad.jsonl"
if "$cli" data check "$tmp/bad.jsonl" --kind prompts; then echo "tampered reference accepted"; exit 1; fi
# too many held-out tasks for a tiny task space is refused, not silently repeated
rc=0; "$cli" data synth --out "$tmp/e" --families add_en --max-value 3 --eval 100 --sft 0 --pref 0 --ranked 0 --ppo 0 2> "$tmp/err" || rc=$?
[ "$rc" = 2 ] && grep -q "too few distinct tasks" "$tmp/err" || { echo "expected a refusal, rc=$rc"; cat "$tmp/err"; exit 1; }
echo PASS
