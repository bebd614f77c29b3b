# Shared helpers of the pretrain shell tests. Sourced, never run.
set -u
R="${TEST_SRCDIR:-$PWD/..}/${TEST_WORKSPACE:-llmpipe}"
LLMPIPE="$R/host/llmpipe"
PY="${LLMPIPE_PYTHON:?set LLMPIPE_PYTHON to the venv python}"
T="$(mktemp -d "${TEST_TMPDIR:-/tmp}/pt.XXXXXX")"
cd "$T" || exit 1
FAILS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
ok() { echo "ok   $*" >&2; }
finish() { [ "$FAILS" = 0 ] && echo "PASS" >&2 || echo "$FAILS failures" >&2; exit $((FAILS > 0)); }

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# A small deterministic corpus: English and Chinese "fortunes" split by %.
make_corpus() {
  local i
  for i in $(seq 1 300); do
    echo "The cat number $i sat on the mat, and the dog $((i * 7 % 13)) looked at it."
    echo "小猫 $i 坐在垫子上，小狗看着它。"
    echo "%"
    echo "A wise man $((i % 5)) said: the sun rises in the east and sets in the west."
    echo "%"
  done > "$1"
}

# chain_cfg FILE RUN_DIR STEPS [extra pretrain params] [more stages, each starting with a comma]
chain_cfg() {
  cat > "$1" <<CFG
plugin_path = ["$R/plugins"];
run_dir = "$2";
threads = 2;
seed = 7;
endpoints = { metrics_out = "tcp://127.0.0.1:$(free_port)"; };
chain = (
  { name = "tokenize"; plugin = "tokenize"; output = "corpus";
    params = { files = ["$T/corpus.txt"]; vocab_size = 320; val_fraction = 0.1; }; },
  { name = "pretrain"; plugin = "pretrain"; inputs = ["corpus"]; output = "base";
    params = { n_layer = 2; n_head = 2; n_embd = 32; n_ctx = 32; batch_size = 4;
               tokens_per_step = 256; max_steps = $3; warmup_steps = 5; lr = 3e-3; min_lr = 3e-4;
               eval_every = 10; eval_batches = 2; ckpt_every = ${CKPT_EVERY:-5}; keep_last = 2;
               sample_prompts = ["The cat", "小猫"]; sample_tokens = 16; $4 }; }${5:-}
);
CFG
}

# losses RUN_DIR: "step loss" per pretrain step, the last value logged for
# each step (a resumed run logs some steps twice).
losses() {
  "$PY" - "$1/metrics.jsonl" <<'PYEOF'
import json, sys
last = {}
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m["topic"].startswith("metrics/") and m["data"]["stage"] == "pretrain" and "loss" in m["data"]["values"]:
        last[m["data"]["step"]] = m["data"]["values"]["loss"]
for s in sorted(last):
    print(s, repr(last[s]))
PYEOF
}
