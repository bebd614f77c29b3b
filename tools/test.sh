#!/bin/bash
# Sets up the machine and runs the whole test suite twice: a normal build and
# an AddressSanitizer + UndefinedBehaviorSanitizer build. Ends with
# "N passed, N failed" (test targets, both builds counted) and exits non-zero
# on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }
export LLMPIPE_PYTHON="$PWD/.venv/bin/python"

passed=0
failed=0
run_suite() {
  local label="$1"; shift
  local log
  log=$(mktemp)
  echo "=== $label: bazel test $* //..."
  local start=$SECONDS
  bazel test "$@" --test_tag_filters=-bench,-manual //... 2>&1 | tee "$log" | \
    grep -E '^//|^ERROR|^FAIL|Executed|passed|failed' || true
  local p f
  p=$(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "$log")
  f=$(grep -cE '^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|NO STATUS|INCOMPLETE|FLAKY)' "$log")
  if [ "$p" = 0 ] && [ "$f" = 0 ]; then f=1; fi   # the build itself failed
  if grep -q '^ERROR: ' "$log" && [ "$f" = 0 ]; then f=1; fi
  echo "=== $label: $p passed, $f failed in $((SECONDS - start)) s"
  passed=$((passed + p))
  failed=$((failed + f))
  rm -f "$log"
}

# One code style (.clang-format): a file that clang-format would change
# counts as a failed target, named here.
style_start=$SECONDS
unformatted=$(git ls-files '*.c' '*.h' 2>/dev/null | xargs -r clang-format --dry-run 2>&1 | grep -oE '^[^:]+\.[ch]' | sort -u)
if [ -n "$unformatted" ]; then
  echo "=== style: files clang-format would change:"; echo "$unformatted"
  failed=$((failed + 1))
else
  echo "=== style: every C file matches .clang-format ($((SECONDS - style_start)) s)"
  passed=$((passed + 1))
fi

run_suite "normal" --test_env=LLMPIPE_PYTHON="$LLMPIPE_PYTHON"
run_suite "asan+ubsan" --config=asan --test_env=LLMPIPE_PYTHON="$LLMPIPE_PYTHON"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
