#!/usr/bin/env python3
"""How far PyTorch's own bf16 autocast drifts from the float64 reference on
the fixture's 5 AdamW steps: the yardstick for parity_bf16_test's AdamW
loss and grad-norm bounds. Runs gen_gpt_fixture.py twice (float64, then
float32 parameters with the loss under torch.autocast("cpu", bfloat16))
without writing a fixture. Usage: /usr/bin/python3 autocast_drift.py"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
src = open(os.path.join(HERE, "gen_gpt_fixture.py")).read().split("out = sys.argv[1]")[0]
STEP = "    _, loss = lm_loss(ps, tokens, targets, weights)\n    loss.backward()"
assert STEP in src and "dt = torch.float64" in src, "gen_gpt_fixture.py changed shape"
runs = {}
for mode in ("float64", "autocast"):
    s = src
    if mode == "autocast":
        s = s.replace("dt = torch.float64", "dt = torch.float32").replace(
            STEP, "    with torch.autocast('cpu', dtype=torch.bfloat16):\n"
                  "        _, loss = lm_loss(ps, tokens, targets, weights)\n    loss.backward()")
    g = {"__name__": "gen"}
    exec(compile(s, "gen_gpt_fixture.py", "exec"), g)
    runs[mode] = (g["losses"], g["norms"])
(l64, n64), (lac, nac) = runs["float64"], runs["autocast"]
rel = lambda a, b: max(abs(x - y) / abs(x) for x, y in zip(a, b))
print(f"autocast bf16 vs float64 over {len(l64)} AdamW steps: loss rel {rel(l64, lac):.3g}, "
      f"grad-norm rel {rel(n64, nac):.3g}")
