#!/bin/bash
# Runs hf_folder_test.py with the venv Python ($LLMPIPE_PYTHON).
set -eu
PY="${LLMPIPE_PYTHON:?set LLMPIPE_PYTHON to the venv python (torch, safetensors)}"
exec "$PY" "$(dirname "$0")/hf_folder_test.py" "$1" "$(mktemp -d "${TEST_TMPDIR:-/tmp}/hf.XXXXXX")"
