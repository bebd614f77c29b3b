#!/usr/bin/env python3
"""Writes gpt_fixture.bin: an independent PyTorch GPT-2 (written out here, not
imported from llmpipe or transformers) on a small odd-sized config, with the
results the C tests compare against.

Run:  $LLMPIPE_PYTHON tests/reference/gen_gpt_fixture.py tests/reference/gpt_fixture.bin

Format (little endian): b"LPFX", u32 version=1, u32 count, then count records:
u32 name_len, name (utf-8), u8 dtype (0 f32, 1 i32), u32 ndim, i64 dims[ndim],
raw data. Tensor names are Hugging Face GPT2LMHeadModel names; prefixes:
param/ (initial weights), grad/ (LM loss), sgrad/ (scalar head objective),
pgrad/ (log-prob/entropy objective), adam/ (weights after 5 AdamW steps).
"""
import math
import struct
import sys

import torch
import torch.nn.functional as F

L, H, C, V, NCTX, B, T = 2, 4, 48, 301, 16, 3, 16
TEMP = 0.7
LR, BETAS, EPS, WD, CLIP, STEPS = 3e-3, (0.9, 0.95), 1e-8, 0.1, 0.5, 5

torch.manual_seed(1234)
torch.set_num_threads(1)
dt = torch.float64  # the reference runs in double; fixture stored as f32


def param_specs():
    yield "transformer.wte.weight", (V, C)
    yield "transformer.wpe.weight", (NCTX, C)
    for l in range(L):
        p = f"transformer.h.{l}."
        yield p + "ln_1.weight", (C,)
        yield p + "ln_1.bias", (C,)
        yield p + "attn.c_attn.weight", (C, 3 * C)
        yield p + "attn.c_attn.bias", (3 * C,)
        yield p + "attn.c_proj.weight", (C, C)
        yield p + "attn.c_proj.bias", (C,)
        yield p + "ln_2.weight", (C,)
        yield p + "ln_2.bias", (C,)
        yield p + "mlp.c_fc.weight", (C, 4 * C)
        yield p + "mlp.c_fc.bias", (4 * C,)
        yield p + "mlp.c_proj.weight", (4 * C, C)
        yield p + "mlp.c_proj.bias", (C,)
    yield "transformer.ln_f.weight", (C,)
    yield "transformer.ln_f.bias", (C,)
    yield "score.weight", (1, C)


def init_params():
    ps = {}
    for name, shape in param_specs():
        if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name.endswith("ln_f.weight"):
            t = 1.0 + 0.1 * torch.randn(shape)
        elif name.endswith(".bias"):
            t = 0.02 * torch.randn(shape)
        else:
            t = 0.02 * torch.randn(shape)
        # round to f32 so C starts from exactly these values
        ps[name] = t.float().to(dt).requires_grad_(True)
    return ps


def trunk(ps, tokens):
    Bn, Tn = tokens.shape
    x = ps["transformer.wte.weight"][tokens] + ps["transformer.wpe.weight"][:Tn]
    hs = C // H
    mask = torch.ones(Tn, Tn, dtype=torch.bool).tril()
    for l in range(L):
        p = f"transformer.h.{l}."
        h = F.layer_norm(x, (C,), ps[p + "ln_1.weight"], ps[p + "ln_1.bias"], 1e-5)
        qkv = h @ ps[p + "attn.c_attn.weight"] + ps[p + "attn.c_attn.bias"]
        q, k, v = qkv.split(C, dim=2)
        q = q.view(Bn, Tn, H, hs).transpose(1, 2)
        k = k.view(Bn, Tn, H, hs).transpose(1, 2)
        v = v.view(Bn, Tn, H, hs).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(Bn, Tn, C)
        x = x + y @ ps[p + "attn.c_proj.weight"] + ps[p + "attn.c_proj.bias"]
        h = F.layer_norm(x, (C,), ps[p + "ln_2.weight"], ps[p + "ln_2.bias"], 1e-5)
        h = F.gelu(h @ ps[p + "mlp.c_fc.weight"] + ps[p + "mlp.c_fc.bias"], approximate="tanh")
        x = x + h @ ps[p + "mlp.c_proj.weight"] + ps[p + "mlp.c_proj.bias"]
    return F.layer_norm(x, (C,), ps["transformer.ln_f.weight"], ps["transformer.ln_f.bias"], 1e-5)


def lm_loss(ps, tokens, targets, weights):
    hid = trunk(ps, tokens)
    logits = hid @ ps["transformer.wte.weight"].t()
    valid = targets >= 0
    nll = F.cross_entropy(logits.view(-1, V), targets.clamp(min=0).view(-1), reduction="none")
    w = weights.view(-1) * valid.view(-1).to(dt)
    return logits, (nll * w).sum() / w.sum()


records = []


def rec(name, t, dtype=0):
    records.append((name, t.detach().cpu().clone(), dtype))


tokens = torch.randint(0, V, (B, T))
targets = torch.randint(0, V, (B, T))
targets[0, 3] = -1
targets[2, 10] = -1
weights = torch.ones(B, T, dtype=dt)
weights[:, :4] = 0.0          # prompt tokens carry no loss (SFT)
weights[1, 8:] = 0.5
lengths = torch.tensor([16, 9, 5])
rec("config", torch.tensor([L, H, C, V, NCTX, B, T]), 1)
rec("tokens", tokens, 1)
rec("targets", targets, 1)
rec("weights", weights)
rec("lengths", lengths, 1)

ps = init_params()
for n, t in ps.items():
    rec("param/" + n, t)

# 1. LM loss with mask
logits, loss = lm_loss(ps, tokens, targets, weights)
loss.backward()
rec("logits", logits)
rec("loss", loss.reshape(1))
for n, t in ps.items():
    if n != "score.weight":
        rec("grad/" + n, t.grad)
    t.grad = None

# 2. scalar head at the last real token; objective sum_b c_b * r_b
coef = torch.tensor([1.0, -0.5, 0.25], dtype=dt)
hid = trunk(ps, tokens)
r = torch.stack([hid[b, lengths[b] - 1] @ ps["score.weight"][0] for b in range(B)])
(r * coef).sum().backward()
rec("scalar", r)
rec("scalar_coef", coef)
for n, t in ps.items():
    rec("sgrad/" + n, t.grad)
    t.grad = None

# 3. PPO head: log-probs of tokens under softmax(logits/TEMP) and entropy;
#    objective sum(a * logp + e * entropy)
hid = trunk(ps, tokens)
lg = (hid @ ps["transformer.wte.weight"].t()) / TEMP
logp_all = lg.log_softmax(-1)
chosen = targets.clamp(min=0)
logp = logp_all.gather(-1, chosen.unsqueeze(-1)).squeeze(-1)
ent = -(logp_all.exp() * logp_all).sum(-1)
a = torch.randn(B, T, dtype=dt)
e = 0.1 * torch.randn(B, T, dtype=dt)
(a * logp + e * ent).sum().backward()
rec("lp_tokens", chosen, 1)
rec("lp_temp", torch.tensor([TEMP]))
rec("lp_dlogp", a)
rec("lp_dent", e)
rec("lp_logp", logp)
rec("lp_ent", ent)
for n, t in ps.items():
    if n != "score.weight":
        rec("pgrad/" + n, t.grad)
    t.grad = None

# 4. AdamW, 5 steps with clipping; no decay on biases, norms, embeddings
decay = [t for n, t in ps.items() if n.endswith(".weight") and t.dim() == 2
         and "wte" not in n and "wpe" not in n and n != "score.weight"]
nodecay = [t for n, t in ps.items() if not any(t is d for d in decay)]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": WD},
                         {"params": nodecay, "weight_decay": 0.0}],
                        lr=LR, betas=BETAS, eps=EPS)
losses, norms = [], []
for step in range(STEPS):
    opt.zero_grad()
    _, loss = lm_loss(ps, tokens, targets, weights)
    loss.backward()
    norms.append(float(torch.nn.utils.clip_grad_norm_(list(ps.values()), CLIP)))
    losses.append(float(loss))
    opt.step()
rec("adam_hparams", torch.tensor([LR, BETAS[0], BETAS[1], EPS, WD, CLIP, STEPS]))
rec("adam_loss", torch.tensor(losses))
rec("adam_gradnorm", torch.tensor(norms))
for n, t in ps.items():
    rec("adam/" + n, t)

out = sys.argv[1] if len(sys.argv) > 1 else "gpt_fixture.bin"
with open(out, "wb") as f:
    f.write(b"LPFX" + struct.pack("<II", 1, len(records)))
    for name, t, dtype in records:
        nb = name.encode()
        f.write(struct.pack("<I", len(nb)) + nb + struct.pack("<BI", dtype, t.dim()))
        f.write(struct.pack("<%dq" % t.dim(), *t.shape))
        arr = t.to(torch.int32 if dtype else torch.float32).contiguous().numpy()
        f.write(arr.tobytes())
print("wrote", out, "records", len(records), "loss", float(records[[r[0] for r in records].index("loss")][1]))
