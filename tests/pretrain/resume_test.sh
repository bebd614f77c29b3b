#!/bin/bash
# kill -9 of the whole run in the middle of pretraining, then
# `llmpipe run --resume`: the stage continues from its last in-stage
# checkpoint, and the loss curve and the final weights equal an
# uninterrupted run's bit for bit.
. "$(dirname "$0")/lib.sh"
make_corpus corpus.txt
STEPS=60

chain_cfg full.cfg "$T/full" $STEPS ""
"$LLMPIPE" run --quiet full.cfg > full.log 2>&1 || { cat full.log >&2; fail "uninterrupted run failed"; finish; }

chain_cfg cut.cfg "$T/cut" $STEPS ""
setsid "$LLMPIPE" run --quiet cut.cfg > cut.log 2>&1 &
pid=$!
# wait for the second in-stage checkpoint, then kill everything at once
for _ in $(seq 1 1200); do
  [ -d "$T/cut/stages/pretrain/ckpt/step-00000010" ] && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.02
done
kill -9 -- -$pid 2>/dev/null
wait $pid 2>/dev/null
killed_at=$(losses "$T/cut" | tail -1 | cut -d' ' -f1)
echo "killed after step ${killed_at:-0} of $STEPS" >&2
if [ -z "$killed_at" ] || [ "$killed_at" -ge $STEPS ] || [ -d "$T/cut/artifacts/base" ]; then
  fail "the run was not interrupted mid-training (last step ${killed_at:-none})"
fi

"$LLMPIPE" run --quiet --resume cut.cfg > resume.log 2>&1 || { cat resume.log >&2; fail "resume failed"; }
grep -q "resumed from .*step-000000[0-9]* (step [1-9]" resume.log && ok "resumed from an in-stage checkpoint" \
  || { fail "no 'resumed from' line"; head -20 resume.log >&2; }
grep -q "tokenize' already done; skipped" resume.log && ok "finished stage skipped" || fail "tokenize rerun"

losses "$T/full" > full.loss
losses "$T/cut" > cut.loss
[ "$(wc -l < full.loss)" = $STEPS ] && ok "$STEPS losses logged" || fail "full run logged $(wc -l < full.loss) losses"
if cmp -s full.loss cut.loss; then
  ok "loss curve after kill -9 + resume equals the uninterrupted one bitwise"
else
  fail "loss curves differ"; diff full.loss cut.loss | head -10 >&2
fi
a=$(sha256sum < "$T/full/artifacts/base/model.safetensors")
b=$(sha256sum < "$T/cut/artifacts/base/model.safetensors")
[ "$a" = "$b" ] && ok "final weights identical" || fail "final weights differ"
finish
