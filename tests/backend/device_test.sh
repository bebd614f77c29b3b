#!/bin/bash
# Pre-flight checks of the kernel backend in `llmpipe validate` / `run`:
# device = "cuda" on a build without liblpk_cuda.so fails before anything
# runs, exit status 2, one line naming the stage; cpu_backend is validated
# with file:line.
. "$TEST_SRCDIR/${TEST_WORKSPACE:-llmpipe}/tests/host/lib.sh"
P="$PLUGINS"

cat > global.cfg <<CFG
plugin_path = ["$P"];
device = "cuda";
chain = ( { name = "a"; plugin = "good"; params = { tag = "x"; }; } );
CFG
expect_status 2 "$LLMPIPE" validate global.cfg
expect_grep err "^global.cfg:3: stage 'a': device cuda: this build has no CUDA backend \(liblpk_cuda.so not found in [^ ]+\)$"
CHECKS=$((CHECKS + 1))
[ "$(wc -l < err)" = 1 ] || fail "global cuda: $(wc -l < err) lines of error, expected 1"

cat > stage.cfg <<CFG
plugin_path = ["$P"];
chain = (
  { name = "first"; plugin = "good"; output = "x"; params = { tag = "x"; }; },
  { name = "second"; plugin = "good"; inputs = ["x"];
    device = "cuda"; params = { tag = "y"; }; }
);
CFG
expect_status 2 "$LLMPIPE" run stage.cfg
expect_grep err "^stage.cfg:5: stage 'second': device cuda: this build has no CUDA backend"
CHECKS=$((CHECKS + 1))
[ "$(wc -l < err)" = 1 ] || fail "stage cuda: $(wc -l < err) lines of error, expected 1"
CHECKS=$((CHECKS + 1))
[ ! -e runs ] || fail "a run started before the device check: $(ls -R runs | head -5)"

cat > bad_build.cfg <<CFG
plugin_path = ["$P"];
cpu_backend = "pentium";
chain = ( { name = "a"; plugin = "good"; params = { tag = "x"; }; } );
CFG
expect_status 2 "$LLMPIPE" validate bad_build.cfg
expect_line err "bad_build.cfg:2: global: cpu_backend must be \"auto\", \"x86-64-v2\", \"avx2\" or \"avx512\", not \"pentium\""

for b in auto x86-64-v2; do
  cat > ok_$b.cfg <<CFG
plugin_path = ["$P"];
cpu_backend = "$b";
chain = ( { name = "a"; plugin = "good"; params = { tag = "x"; }; } );
CFG
  expect_status 0 "$LLMPIPE" validate ok_$b.cfg
done

if ! grep -qw avx512bf16 /proc/cpuinfo; then
  cat > no_avx512.cfg <<CFG
plugin_path = ["$P"];
cpu_backend = "avx512";
chain = ( { name = "a"; plugin = "good"; params = { tag = "x"; }; } );
CFG
  expect_status 2 "$LLMPIPE" validate no_avx512.cfg
  expect_grep err "^no_avx512.cfg:2: global: cpu_backend \"avx512\": kernel backend cpu:avx512: this CPU cannot run it \(needs [a-z0-9.]+, which this CPU lacks\)$"
fi

# The build reaches the workers: the chain's cpu_backend, else the inherited
# LLMPIPE_CPU_BACKEND, else the best build (seen from inside a plugin).
probe() { # CPU_BACKEND_LINE ENV_VALUE
  cat > probe.cfg <<CFG
plugin_path = ["$R/tests/backend"];
$1
chain = ( { name = "p"; plugin = "kernel_probe"; params = { file = "$T/chosen"; }; } );
CFG
  rm -rf runs "$T/chosen"
  if [ -n "$2" ]; then
    expect_status 0 env LLMPIPE_CPU_BACKEND="$2" "$LLMPIPE" run probe.cfg
  else
    expect_status 0 env -u LLMPIPE_CPU_BACKEND "$LLMPIPE" run probe.cfg
  fi
  cat "$T/chosen" 2>/dev/null
}
best=$(probe "" "")
echo "best build here: $best"
CHECKS=$((CHECKS + 1))
case "$best" in cpu:*" -") ;; *) fail "auto: '$best'";; esac
got=$(probe 'cpu_backend = "x86-64-v2";' "")
CHECKS=$((CHECKS + 1))
[ "$got" = "cpu:x86-64-v2 x86-64-v2" ] || fail "cpu_backend = x86-64-v2 gave '$got'"
got=$(probe "" "x86-64-v2")
CHECKS=$((CHECKS + 1))
[ "$got" = "cpu:x86-64-v2 x86-64-v2" ] || fail "inherited LLMPIPE_CPU_BACKEND gave '$got'"
got=$(probe 'cpu_backend = "auto";' "x86-64-v2")
CHECKS=$((CHECKS + 1))
[ "$got" = "${best% -} auto" ] || fail "cpu_backend = auto over the variable gave '$got'"

echo "$CHECKS checks, $FAILS failed"
[ "$FAILS" = 0 ]
