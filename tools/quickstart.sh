#!/bin/bash
# Sets up the machine, builds llmpipe and runs the CPU quickstart chain.
# Extra arguments go to `llmpipe run` (e.g. --resume, --set ...).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
bazel build //host:llmpipe //plugins/...
exec bazel-bin/host/llmpipe run conf/quickstart.cfg "$@"
