#!/bin/sh
# Runs a Python reference test with the project venv ($LLMPIPE_PYTHON).
if [ -z "$LLMPIPE_PYTHON" ]; then
    echo "LLMPIPE_PYTHON is not set (the venv python with torch and numpy)" >&2
    exit 1
fi
if [ -n "$LLMPIPE_ASAN" ]; then
    # The library under test is sanitized but python is not: the runtimes
    # must be loaded first, and the interpreter's own allocations are not
    # ours to leak-check.
    LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
    ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
    export LD_PRELOAD ASAN_OPTIONS
fi
exec "$LLMPIPE_PYTHON" "$@"
