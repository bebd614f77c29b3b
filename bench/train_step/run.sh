#!/bin/sh
# Training-step benchmark: llmpipe (fp32, bf16) against PyTorch (fp32, bf16
# autocast) on the same configs, data shape and thread count, in one run.
#   bench/train_step/run.sh [CONFIGS] [STEPS] [THREADS]
#   e.g. bench/train_step/run.sh "124m small quick" 5 2
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are unset here, for both sides: the
# workplace default (Haswell) halves OpenBLAS on this AVX-512 machine. Run
# with KEEP_OPENBLAS_ENV=1 to measure under the inherited settings instead.
set -e
cd "$(dirname "$0")/../.."
CONFIGS=${1:-"124m small quick"}
STEPS=${2:-5}
THREADS=${3:-2}
PY=${LLMPIPE_PYTHON:-.venv/bin/python}
if [ -z "$KEEP_OPENBLAS_ENV" ]; then unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE; fi
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-<unset>} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-<unset>} threads=$THREADS steps=$STEPS"
bazel build //bench/train_step:train_step_bench >/dev/null 2>&1 || bazel build //bench/train_step:train_step_bench
BIN="$(bazel info bazel-bin 2>/dev/null)/bench/train_step/train_step_bench"
OUT=$(mktemp)
for c in $CONFIGS; do
    for p in fp32 bf16; do
        OMP_NUM_THREADS=$THREADS $BIN "$c" "$p" "$STEPS" "$THREADS" | tee -a "$OUT"
        OMP_NUM_THREADS=$THREADS "$PY" bench/train_step/torch_step.py "$c" "$p" "$STEPS" "$THREADS" | tee -a "$OUT"
    done
done
echo
echo "summary: wall ms/step (median); speed-up = PyTorch time / llmpipe time"
echo "(second table: process CPU time / threads, a proxy for an idle machine when others share the cores)"
awk '/^RESULT/ { t[$2" "$3" "$4] = $5; u[$2" "$3" "$4] = $6; cfg[$3] = 1 }
     END {
       for (c in cfg) {
         printf "%-6s llmpipe fp32 %8.1f  bf16 %8.1f | pytorch fp32 %8.1f  bf16 %8.1f | llmpipe-bf16 vs pytorch-fp32 %.2fx, vs pytorch-bf16 %.2fx; llmpipe-fp32 vs pytorch-fp32 %.2fx\n",
           c, t["llmpipe "c" fp32"], t["llmpipe "c" bf16"], t["pytorch "c" fp32"], t["pytorch "c" bf16"],
           t["pytorch "c" fp32"] / t["llmpipe "c" bf16"], t["pytorch "c" bf16"] / t["llmpipe "c" bf16"],
           t["pytorch "c" fp32"] / t["llmpipe "c" fp32"]
       }
       for (c in cfg) {
         printf "cpu %-6s llmpipe fp32 %8.1f  bf16 %8.1f | pytorch fp32 %8.1f  bf16 %8.1f | llmpipe-bf16 vs pytorch-fp32 %.2fx, vs pytorch-bf16 %.2fx; llmpipe-fp32 vs pytorch-fp32 %.2fx\n",
           c, u["llmpipe "c" fp32"], u["llmpipe "c" bf16"], u["pytorch "c" fp32"], u["pytorch "c" bf16"],
           u["pytorch "c" fp32"] / u["llmpipe "c" bf16"], u["pytorch "c" bf16"] / u["llmpipe "c" bf16"],
           u["pytorch "c" fp32"] / u["llmpipe "c" fp32"]
       }
     }' "$OUT"
rm -f "$OUT"
