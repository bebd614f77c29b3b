#!/usr/bin/env bash
# Tokenizer compatibility with Hugging Face `tokenizers`, both ways, on the
# mixed Chinese/English fortunes corpus (built here from the Debian packages):
# 1. trained here -> tokenizer.json and vocab.json/merges.txt -> HF gives the same ids;
# 2. trained by HF -> loaded here (both formats) -> the same ids as HF;
# 3. decode(encode(corpus)) == corpus;
# 4. both trainers on the same corpus and size give the same merges, rank for rank.
set -euo pipefail
cli=$1 corpus_sh=$2 helper=$3
py=${LLMPIPE_PYTHON:?LLMPIPE_PYTHON must point at the venv python (the test runner sets it)}
tmp=${TEST_TMPDIR:-$(mktemp -d)}

bash "$corpus_sh" "$tmp/corpus.txt"
# special tokens inside the text must be matched whole, as in HF
{ cat "$tmp/corpus.txt"; printf 'end of corpus<|endoftext|>混合 text 2024年<|endoftext|>\n'; } > "$tmp/text.txt"
size=$(wc -c < "$tmp/text.txt")
[ "$size" -ge 1000000 ] || { echo "corpus is only $size bytes, need >= 1 MB"; exit 1; }
grep -q '春' "$tmp/text.txt" || { echo "corpus has no Chinese text (fortunes-zh missing?)"; exit 1; }

"$cli" tokenizer train --quiet --vocab-size 4096 --out "$tmp/ours.json" --gpt2-out "$tmp" "$tmp/corpus.txt"
"$cli" tokenizer encode --tokenizer "$tmp/ours.json" --binary --out "$tmp/ours.ids" "$tmp/text.txt"
"$py" "$helper" check "$tmp/ours.json" "$tmp/text.txt" "$tmp/ours.ids"
"$py" "$helper" check "$tmp" "$tmp/text.txt" "$tmp/ours.ids"
"$cli" tokenizer decode --tokenizer "$tmp/ours.json" --binary --out "$tmp/back.txt" "$tmp/ours.ids"
cmp "$tmp/back.txt" "$tmp/text.txt"

mkdir -p "$tmp/hf"
"$py" "$helper" train "$tmp/corpus.txt" 2000 "$tmp/hf.json" "$tmp/hf"
"$cli" tokenizer encode --tokenizer "$tmp/hf.json" --binary --out "$tmp/hf.ids" "$tmp/text.txt"
"$py" "$helper" check "$tmp/hf.json" "$tmp/text.txt" "$tmp/hf.ids"
"$cli" tokenizer encode --tokenizer "$tmp/hf" --binary --out "$tmp/hf2.ids" "$tmp/text.txt"
"$py" "$helper" check "$tmp/hf" "$tmp/text.txt" "$tmp/hf2.ids"
"$cli" tokenizer train --quiet --vocab-size 2000 --min-frequency 1 --out "$tmp/ours2000.json" "$tmp/corpus.txt"
"$py" "$helper" same_training "$tmp/ours2000.json" "$tmp/hf.json"
echo PASS
