#!/bin/bash
# The pairwise and K-wise losses and gradients of llmpipe/reward.h equal
# PyTorch's (autograd, float64) on seeded random scores, wide spreads included.
set -u
R="${TEST_SRCDIR:-$PWD/..}/${TEST_WORKSPACE:-llmpipe}"
if [ -z "${LLMPIPE_PYTHON:-}" ]; then
  echo "LLMPIPE_PYTHON is not set: run through tools/test.sh or add --test_env=LLMPIPE_PYTHON=\$PWD/.venv/bin/python" >&2
  exit 1
fi
"$R/tests/reward/loss_dump" | "$LLMPIPE_PYTHON" "$R/tests/reward/rank_loss_ref.py"
