#!/bin/sh
# Runs a Python reference test with the project venv ($LLMPIPE_PYTHON).
if [ -z "$LLMPIPE_PYTHON" ]; then
    echo "LLMPIPE_PYTHON is not set (the venv python with torch and numpy)" >&2
    exit 1
fi
exec "$LLMPIPE_PYTHON" "$@"
