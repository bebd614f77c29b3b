#!/bin/bash
# kill -9 of the whole run in the middle of pretraining, then
# `llmpipe run --resume`: the stage continues from its last in-stage
# checkpoint, and the loss curve and the final weights equal an
# uninterrupted run's bit for bit. In bf16, as the quickstart trains (fp32
# resume is proven in-process by trainer_test).
. "$(dirname "$0")/lib.sh"
make_corpus corpus.txt
STEPS=60
CKPT_EVERY=10 # a wide window between checkpoints for the kill to land in

chain_cfg full.cfg "$T/full" $STEPS 'precision = "bf16";'
"$LLMPIPE" run --quiet full.cfg > full.log 2>&1 || { cat full.log >&2; fail "uninterrupted run failed"; finish; }

chain_cfg cut.cfg "$T/cut" $STEPS 'precision = "bf16"; debug_step_sleep_ms = 40;'
setsid "$LLMPIPE" run --quiet cut.cfg > cut.log 2>&1 &
pid=$!
# wait for the first in-stage checkpoint, then about three steps more (each
# step sleeps 40 ms in this run; the sleep changes no number), then kill
# everything at once: the resumed run redoes the steps after the checkpoint
for _ in $(seq 1 3000); do
  [ -d "$T/cut/stages/pretrain/ckpt/step-00000010" ] && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.01
done
sleep 0.13
kill -9 -- -$pid 2>/dev/null
wait $pid 2>/dev/null
killed_at=$(losses "$T/cut" | tail -1 | cut -d' ' -f1)
echo "killed after step ${killed_at:-0} of $STEPS" >&2
if [ -z "$killed_at" ] || [ "$killed_at" -ge $STEPS ] || [ -d "$T/cut/artifacts/base" ]; then
  fail "the run was not interrupted mid-training (last step ${killed_at:-none})"
fi

"$LLMPIPE" run --quiet --resume cut.cfg > resume.log 2>&1 || { cat resume.log >&2; fail "resume failed"; }
from=$(sed -n 's/.*resumed from .*step-[0-9]* (step \([0-9]*\)).*/\1/p' resume.log | head -1)
# (the metrics log may lag the checkpoints, so from can pass killed_at)
[ -n "$from" ] && [ "$from" -ge 10 ] && [ "$from" -lt $STEPS ] \
  && ok "resumed from the in-stage checkpoint of step $from (killed after logging step $killed_at)" \
  || { fail "resumed from step '${from}', killed after $killed_at"; head -20 resume.log >&2; }
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
