#!/usr/bin/env bash
# The tokenizer and data subcommands: help, exit codes (0 ok, 2 usage or
# input error), text-format encode/decode through stdin, GPT-2 files out.
set -euo pipefail
cli=$1
tmp=${TEST_TMPDIR:-$(mktemp -d)}
expect() { # expected-rc command...
  local want=$1 rc=0
  shift
  "$@" > "$tmp/out" 2> "$tmp/err" || rc=$?
  [ "$rc" = "$want" ] || { echo "exit $rc, expected $want: $*"; cat "$tmp/err"; exit 1; }
}
expect 0 "$cli" tokenizer --help
grep -q "tokenizer train --vocab-size" "$tmp/out"
expect 0 "$cli" data synth --help
expect 2 "$cli" tokenizer
expect 2 "$cli" tokenizer frobnicate
expect 2 "$cli" tokenizer train --vocab-size 10 --out "$tmp/t.json" "$tmp/none"
grep -q "257" "$tmp/err"
expect 2 "$cli" tokenizer train --vocab-size 300 --out "$tmp/t.json" "$tmp/none.txt"
grep -q "none.txt: cannot open" "$tmp/err"
printf 'hello hello world, 你好世界 hello\n' > "$tmp/c.txt"
expect 0 "$cli" tokenizer train --quiet --vocab-size 300 --min-frequency 1 --out "$tmp/t.json" --gpt2-out "$tmp" --special '<|user|>' "$tmp/c.txt"
[ -s "$tmp/vocab.json" ] && head -1 "$tmp/merges.txt" | grep -q '^#version'
printf 'hello<|user|>世界\xff' | "$cli" tokenizer encode --tokenizer "$tmp/t.json" > "$tmp/ids.txt"
"$cli" tokenizer decode --tokenizer "$tmp" < "$tmp/ids.txt" > "$tmp/back.bin"
printf 'hello<|user|>世界\xff' | cmp - "$tmp/back.bin"
"$cli" tokenizer decode --tokenizer "$tmp/t.json" --skip-special < "$tmp/ids.txt" | cmp - <(printf 'hello世界\xff')
expect 0 "$cli" tokenizer info --tokenizer "$tmp/t.json"
grep -q "special [0-9]*: <|user|>" "$tmp/out"
echo "1 2 99999" > "$tmp/bad.txt"
expect 2 "$cli" tokenizer decode --tokenizer "$tmp/t.json" "$tmp/bad.txt"
grep -q "outside the vocabulary" "$tmp/err"
echo "1 x" > "$tmp/bad.txt"
expect 2 "$cli" tokenizer decode --tokenizer "$tmp/t.json" "$tmp/bad.txt"
expect 2 "$cli" tokenizer encode --tokenizer "$tmp/missing.json" "$tmp/c.txt"
echo '{"instruction": "x"}' > "$tmp/s.jsonl"
expect 2 "$cli" data check "$tmp/s.jsonl" --kind sft
grep -q "s.jsonl:1:1: missing field \"output\"" "$tmp/err"
expect 2 "$cli" data check "$tmp/s.jsonl" --kind nonsense
printf '{"instruction": "x", "output": "y"}\n{"instruction": 1}\n' > "$tmp/s2.jsonl"
expect 0 "$cli" data check "$tmp/s2.jsonl" --kind sft --skip-bad
grep -q "1 sft records, 1 skipped (first: .*s2.jsonl:2:1:" "$tmp/out"
expect 2 "$cli" data synth --out "$tmp/syn" --families sort_en,bogus
expect 2 "$cli" data synth --out "$tmp/syn" --items 5-2
echo PASS
