#!/bin/sh
# Runs one Python test with the project's interpreter (torch, zmq, numpy).
set -eu
if [ -z "${LLMPIPE_PYTHON:-}" ]; then
  echo "LLMPIPE_PYTHON is not set (the venv python, e.g. .venv/bin/python)" >&2
  exit 1
fi
exec "$LLMPIPE_PYTHON" "$@"
