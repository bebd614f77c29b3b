#!/bin/bash
# Sets up the machine, builds llmpipe and runs the CPU quickstart chain on the
# fortunes corpus. Extra arguments go to `llmpipe run` (e.g. --resume,
# --set pretrain.max_steps=100). A finished quickstart is not run again:
# remove runs/quickstart to start over.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
bazel build //host:llmpipe //plugins/...
[ -s data/fortunes.txt ] || { mkdir -p data && tools/corpus.sh data/fortunes.txt; }
# the synthetic instruction tasks (defaults: level 1, seed 1; eval.jsonl is
# the held-out yardstick, no task of it in the training files)
[ -s data/synth/eval.jsonl ] || bazel-bin/host/llmpipe data synth --out data/synth
args=("$@")
if [ -f runs/quickstart/manifest.json ] && [[ " $* " != *" --resume "* ]]; then
  echo "quickstart: runs/quickstart exists; continuing it (--resume)"
  args+=(--resume)
fi
exec bazel-bin/host/llmpipe run conf/quickstart.cfg "${args[@]}"
