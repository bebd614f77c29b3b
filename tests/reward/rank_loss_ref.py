"""Recomputes the reward losses of loss_dump's lines with PyTorch (float64,
autograd): K-wise = mean over pairs i < j of -logsigmoid(s_i - s_j), as
InstructGPT; pairwise = -logsigmoid(chosen - rejected - margin)."""
import itertools
import json
import sys

import torch

worst_l = worst_g = 0.0
n = 0
for line in sys.stdin:
    row = json.loads(line)
    s = torch.tensor(row["scores"], dtype=torch.float64, requires_grad=True)
    if row["kind"] == "kwise":
        pairs = list(itertools.combinations(range(len(s)), 2))
        loss = torch.stack([-torch.nn.functional.logsigmoid(s[i] - s[j]) for i, j in pairs]).mean()
    else:
        loss = -torch.nn.functional.logsigmoid(s[0] - s[1] - row["margin"])
    loss.backward()
    el = abs(loss.item() - row["loss"]) / (1e-6 + abs(loss.item()))
    eg = max(abs(a - b) for a, b in zip(s.grad.tolist(), row["grad"])) / (1e-6 + s.grad.abs().max().item())
    worst_l, worst_g = max(worst_l, el), max(worst_g, eg)
    n += 1
    if el > 1e-6 or eg > 1e-5:
        print("MISMATCH", row, loss.item(), s.grad.tolist())
print(f"{n} cases vs PyTorch float64 autograd: worst relative loss error {worst_l:.2g}, gradient {worst_g:.2g}")
sys.exit(0 if n >= 80 and worst_l <= 1e-6 and worst_g <= 1e-5 else 1)
