#!/usr/bin/env bash
# Tokenizer benchmark: encoding MB/s of llmpipe against Hugging Face
# `tokenizers`, single-threaded, same file (the fortunes corpus) and the same
# vocabulary (trained here, loaded by both), plus the training time.
# Usage: bench/tokenizer/run.sh [VOCAB_SIZE] [REPS]   (from the repository root)
set -euo pipefail
vocab=${1:-4096}
reps=${2:-3}
py=${LLMPIPE_PYTHON:-$(pwd)/.venv/bin/python}
# the default configuration already compiles with -O2 (-march=x86-64-v2 -mtune=native, .bazelrc)
bazel build //bench/tokenizer:tok_bench //tests/text:text_cli >/dev/null 2>&1 || bazel build //bench/tokenizer:tok_bench //tests/text:text_cli
bin=$(bazel info bazel-bin 2>/dev/null)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tools/corpus.sh "$tmp/corpus.txt" 2>/dev/null
echo "corpus $(wc -c < "$tmp/corpus.txt") bytes"
"$bin/tests/text/text_cli" tokenizer train --vocab-size "$vocab" --out "$tmp/tok.json" "$tmp/corpus.txt" 2>&1 | tail -n 1
"$py" bench/tokenizer/hf_train_bench.py "$tmp/corpus.txt" "$vocab"
ours=$(OMP_NUM_THREADS=1 "$bin/bench/tokenizer/tok_bench" "$tmp/tok.json" "$tmp/corpus.txt" "$reps")
theirs=$("$py" bench/tokenizer/hf_bench.py "$tmp/tok.json" "$tmp/corpus.txt" "$reps")
echo "$ours"
echo "$theirs"
a=$(echo "$ours" | awk '{print $2}')
b=$(echo "$theirs" | awk '{print $2}')
ta=$(echo "$ours" | awk '{print $4}')
tb=$(echo "$theirs" | awk '{print $4}')
[ "$ta" = "$tb" ] || echo "WARNING: token counts differ ($ta vs $tb)"
awk -v a="$a" -v b="$b" 'BEGIN { printf "ratio llmpipe / HF tokenizers (encoding MB/s, one thread): %.2fx\n", a / b }'
