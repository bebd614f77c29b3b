#!/usr/bin/env bash
# data shard through the CLI, checked by an independent reader (numpy + HF
# tokenizers); damaged shards are refused with a message naming the file.
set -euo pipefail
cli=$1 verify=$2
py=${LLMPIPE_PYTHON:?LLMPIPE_PYTHON must point at the venv python (the test runner sets it)}
tmp=${TEST_TMPDIR:-$(mktemp -d)}
fd=/usr/share/games/fortunes
for f in fortunes tang300; do
  [ -f "$fd/$f" ] || { echo "$fd/$f missing: install Debian packages fortunes and fortunes-zh"; exit 1; }
done
sed 's/\x1b\[[0-9;]*[A-Za-z]//g' "$fd/tang300" > "$tmp/tang.txt"
cp "$fd/fortunes" "$tmp/en.txt"
"$cli" tokenizer train --quiet --vocab-size 600 --out "$tmp/tok.json" "$tmp/en.txt" "$tmp/tang.txt"
mkdir -p "$tmp/out"
"$cli" data shard --tokenizer "$tmp/tok.json" --out "$tmp/out" --val-fraction 0.1 --doc-sep % "$tmp/en.txt" "$tmp/tang.txt"
"$py" "$verify" "$tmp/tok.json" "$tmp/out" 0.1 % "$tmp/en.txt" "$tmp/tang.txt"
# errors: usage (2) and a damaged tokenizer path (2)
rc=0; "$cli" data shard --out "$tmp/out" "$tmp/en.txt" 2>/dev/null || rc=$?
[ "$rc" = 2 ] || { echo "missing --tokenizer gave rc=$rc"; exit 1; }
rc=0; "$cli" data shard --tokenizer "$tmp/none.json" --out "$tmp/out" "$tmp/en.txt" 2> "$tmp/err" || rc=$?
[ "$rc" = 2 ] && grep -q "none.json" "$tmp/err" || { echo "missing tokenizer gave rc=$rc"; exit 1; }
echo PASS
