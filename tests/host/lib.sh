# Shared helpers for the host's shell tests. Sourced, never run.
set -u
R="${TEST_SRCDIR:-$PWD/..}/${TEST_WORKSPACE:-llmpipe}"
LLMPIPE="$R/host/llmpipe"
PLUGINS="$R/tests/host/plugins"
T="$(mktemp -d "${TEST_TMPDIR:-/tmp}/t.XXXXXX")"
cd "$T" || exit 1
FAILS=0
CHECKS=0
if [ -z "${LLMPIPE_PYTHON:-}" ]; then
  echo "LLMPIPE_PYTHON is not set: run the suite through tools/test.sh, or add --test_env=LLMPIPE_PYTHON=\$PWD/.venv/bin/python" >&2
  exit 1
fi

fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }

# expect_status WANT CMD... : runs CMD, keeps its stderr in $T/err, stdout in
# $T/out, and checks the exit status.
expect_status() {
  local want="$1"; shift
  CHECKS=$((CHECKS + 1))
  "$@" >"$T/out" 2>"$T/err"
  local got=$?
  if [ "$got" != "$want" ]; then
    fail "'$*' exited $got, expected $want"
    sed 's/^/  stderr: /' "$T/err" | head -20 >&2
    sed 's/^/  stdout: /' "$T/out" | head -20 >&2
  fi
}

# expect_line FILE TEXT : FILE holds a line equal to TEXT.
expect_line() {
  CHECKS=$((CHECKS + 1))
  if ! grep -qxF -- "$2" "$1"; then
    fail "no line '$2' in $1"
    sed 's/^/  | /' "$1" | head -20 >&2
  fi
}

# expect_grep FILE REGEX
expect_grep() {
  CHECKS=$((CHECKS + 1))
  if ! grep -qE -- "$2" "$1"; then
    fail "no match for /$2/ in $1"
    sed 's/^/  | /' "$1" | head -20 >&2
  fi
}

expect_no_grep() {
  CHECKS=$((CHECKS + 1))
  if grep -qE -- "$2" "$1"; then
    fail "unexpected match for /$2/ in $1"
  fi
}

# json_get FILE PYEXPR : evaluates a Python expression over the JSON in FILE
# (bound to d); prints the result.
json_get() {
  "${LLMPIPE_PYTHON:-/usr/bin/python3}" -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"
}

expect_eq() {
  CHECKS=$((CHECKS + 1))
  [ "$1" = "$2" ] || fail "${3:-value}: got '$1', expected '$2'"
}

# A free tcp port on 127.0.0.1 for the metrics endpoint of one run.
free_port() {
  "${LLMPIPE_PYTHON:-/usr/bin/python3}" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

finish() {
  echo "$CHECKS checks, $FAILS failed"
  [ "$FAILS" = 0 ]
  exit $?
}
