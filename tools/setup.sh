#!/bin/bash
# Installs everything llmpipe needs to build, test and run its quickstart on
# Debian 12 as root: the Debian packages in tools/debian-packages.txt and a
# Python venv (.venv, seeing Debian's torch/zmq/numpy) with the PyPI packages
# in tools/python-requirements.txt. Idempotent; a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

want=$(grep -v '^\s*#' tools/debian-packages.txt | awk 'NF {print $1}')
missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "setup: installing Debian packages:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

reqs=$(grep -v '^\s*#' tools/python-requirements.txt | awk 'NF {print $1}')
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  /usr/bin/python3 -m venv --system-site-packages .venv
fi
need_pip=0
for r in $reqs; do
  mod=${r%%[=<>]*}
  .venv/bin/python -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('$mod'.replace('-','_')) is None)" 2>/dev/null || need_pip=1
done
if [ "$need_pip" = 1 ]; then
  echo "setup: installing PyPI packages: $reqs"
  .venv/bin/pip install -q $reqs
fi
