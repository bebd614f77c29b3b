#!/bin/sh
# A Python reference test under the project venv ($LLMPIPE_PYTHON); under
# --config=asan the sanitizer runtimes go first, as the library under test
# is sanitized and the interpreter is not.
if [ -z "$LLMPIPE_PYTHON" ]; then
    echo "LLMPIPE_PYTHON is not set (the venv python with torch and numpy)" >&2
    exit 1
fi
if [ -n "$LLMPIPE_ASAN" ]; then
    LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
    ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
    export LD_PRELOAD ASAN_OPTIONS
fi
exec "$LLMPIPE_PYTHON" "$@"
