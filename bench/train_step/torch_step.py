#!/usr/bin/env python3
"""PyTorch reference training step for bench/train_step: the same GPT-2
architecture, data shape, optimizer (AdamW, clipping) and thread count as
train_step_bench. Usage: torch_step.py CONFIG fp32|bf16 STEPS THREADS"""
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CFGS = {"124m": (12, 12, 768, 50257, 4, 64), "small": (6, 6, 384, 50257, 8, 256),
        "quick": (4, 4, 256, 4096, 32, 256)}


class Block(nn.Module):
    def __init__(self, C, H):
        super().__init__()
        self.H = H
        self.ln1, self.ln2 = nn.LayerNorm(C), nn.LayerNorm(C)
        self.attn, self.proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
        self.fc, self.fproj = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.attn(self.ln1(x)).split(C, dim=2)
        q = q.view(B, T, self.H, C // self.H).transpose(1, 2)
        k = k.view(B, T, self.H, C // self.H).transpose(1, 2)
        v = v.view(B, T, self.H, C // self.H).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + self.proj(y)
        return x + self.fproj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, L, H, C, V, T):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(max(T, 1024), C)
        self.h = nn.ModuleList([Block(C, H) for _ in range(L)])
        self.lnf = nn.LayerNorm(C)

    def forward(self, idx, tgt):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for b in self.h:
            x = b(x)
        logits = self.lnf(x) @ self.wte.weight.t()
        return F.cross_entropy(logits.float().view(-1, logits.size(-1)), tgt.view(-1))


def main():
    name, prec, steps, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    L, H, C, V, B, T = CFGS[name]
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = GPT(L, H, C, V, T)
    with torch.no_grad():  # GPT-2 initialisation, as llmpipe's
        for n, p in model.named_parameters():
            if p.dim() == 2:
                p.normal_(0.0, 0.02 / math.sqrt(2 * L) if n.endswith("proj.weight") else 0.02)
            elif "ln" in n and n.endswith("weight"):
                p.fill_(1.0)
            else:
                p.zero_()
    decay = [p for n, p in model.named_parameters() if p.dim() == 2 and "wte" not in n and "wpe" not in n]
    other = [p for n, p in model.named_parameters() if not (p.dim() == 2 and "wte" not in n and "wpe" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}],
                            lr=3e-4, betas=(0.9, 0.95))
    data = torch.randint(0, V, (B * T + 1,))
    idx, tgt = data[:-1].view(B, T), data[1:].view(B, T)
    nparam = sum(p.numel() for p in model.parameters()) - model.wpe.weight.numel()
    flops = (6 * nparam + 12 * L * T * C) * B * T
    times = []
    cpu0 = 0.0
    for s in range(steps + 1):
        if s == 1:
            cpu0 = time.process_time()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        if prec == "bf16":
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = model(idx, tgt)
        else:
            loss = model(idx, tgt)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if s > 0:  # the first step pays one-time allocations
            times.append((time.perf_counter() - t0) * 1e3)
    med = statistics.median(times)
    cpu_ms = (time.process_time() - cpu0) * 1e3 / steps / threads
    print(f"pytorch {name} {prec} threads={threads}: {med:.1f} ms/step (median of {steps}), "
          f"{B * T / (med / 1e3):.0f} tokens/s, {flops / (med / 1e3) / 1e9:.1f} GFLOP/s, loss {loss.item():.4f}; "
          f"CPU time/threads {cpu_ms:.1f} ms/step")
    print(f"RESULT pytorch {name} {prec} {med:.3f} {cpu_ms:.3f}")


if __name__ == "__main__":
    main()
