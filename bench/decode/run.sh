#!/bin/sh
# Decode benchmark: KV cache vs full recompute per token.
#   bench/decode/run.sh [CONFIG] [PRECISION] [B] [PROMPT] [NEW] [THREADS]
set -e
cd "$(dirname "$0")/../.."
if [ -z "$KEEP_OPENBLAS_ENV" ]; then unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE; fi
bazel build //bench/decode:decode_bench >/dev/null 2>&1 || bazel build //bench/decode:decode_bench
"$(bazel info bazel-bin 2>/dev/null)/bench/decode/decode_bench" "$@"
