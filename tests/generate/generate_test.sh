#!/bin/bash
# llmpipe generate / chat through a pseudo-terminal (generate_pty.py): tokens
# stream before the end, Ctrl-C stops an answer and not the chat, greedy
# equals llmpipe eval and PyTorch, seeds repeat, bad usage is one line.
. "$(dirname "$0")/../host/lib.sh"
MM="$R/tests/generate/make_chat_model"
LL="$LLMPIPE"
"$LL" data synth --out synth --seed 3 --sft 300 --pref 5 --ranked 5 --ppo 5 --eval 24 >/dev/null 2>&1 || fail "synth"
# a tokenizer with Chinese and emoji in its text, so tokens split characters
"$LLMPIPE_PYTHON" - <<'PY'
import json
with open("corpus.txt", "w") as f:
    for line in open("synth/sft.jsonl"):
        r = json.loads(line)
        f.write(r["instruction"] + "\n" + r["input"] + "\n" + r["output"] + "\n")
    f.write("中文的句子 🙂 emoji 🚀 and more 汉字\n" * 3)
PY
expect_status 0 "$LL" tokenizer train --vocab-size 400 --out tok.json corpus.txt
mkdir -p random never always
expect_status 0 "$MM" random tok.json 2 4 64 256 7 random
# slow enough that an answer takes about a second or more on one thread
expect_status 0 "$MM" never tok.json 4 4 128 2048 5 never
expect_status 0 "$MM" always tok.json 2 4 64 256 5 always
CHECKS=$((CHECKS + 1))
"$LLMPIPE_PYTHON" "$R/tests/generate/generate_pty.py" "$LL" "$R" || fail "generate_pty.py"
finish
