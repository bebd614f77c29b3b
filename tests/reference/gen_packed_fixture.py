#!/usr/bin/env python3
"""Writes packed_fixture.bin: packed sequences (several examples per row,
each attending only to itself with positions restarting at 0) computed in
float64 PyTorch with an explicit block-diagonal causal mask, written out
here and not imported from llmpipe, for the C tests of the segment
attention kernels (tests/kernels/attn_seg_test.c) and of
lp_model_forward_packed (tests/model/packed_test.c).

Run:  /usr/bin/python3 tests/reference/gen_packed_fixture.py tests/reference/packed_fixture.bin

Format: that of gen_gpt_fixture.py (b"LPFX", version 1, records of name,
dtype 0 f32 / 1 i32, dims, data). Records:
  attn<k>/shape [B, T, C, H], attn<k>/seg, attn<k>/start (first key of
  each query), attn<k>/qkv, attn<k>/dout, and the reference attn<k>/out,
  attn<k>/lse, attn<k>/dqkv (gradient of sum(out * dout));
  gpt/config [L, H, C, V, NCTX, B, T], gpt/tokens, gpt/seg, gpt/targets,
  gpt/weights, param/<HF name>, gpt/logits, gpt/nll (per token), gpt/loss
  (sum(w * nll) / sum(w) over counted tokens), grad/<HF name>.
"""
import math
import struct
import sys

import torch
import torch.nn.functional as F

torch.manual_seed(4321)
torch.set_num_threads(1)
dt = torch.float64


def segment_starts(seg):
    """first index of each token's segment: a segment starts at a row's first
    token and wherever seg changes"""
    Bn, Tn = seg.shape
    st = torch.zeros(Bn, Tn, dtype=torch.int64)
    for b in range(Bn):
        for t in range(1, Tn):
            st[b, t] = st[b, t - 1] if seg[b, t] == seg[b, t - 1] else t
    return st


def block_mask(seg):
    """[B, T, T] True where query i may see key j: same segment, j <= i"""
    st = segment_starts(seg)
    i = torch.arange(seg.shape[1])
    return (i[None, None, :] <= i[None, :, None]) & (i[None, None, :] >= st[:, :, None])


def attention(qkv, mask, H):
    Bn, Tn, C3 = qkv.shape
    C = C3 // 3
    hs = C // H
    q, k, v = qkv.split(C, dim=2)
    q = q.view(Bn, Tn, H, hs).transpose(1, 2)
    k = k.view(Bn, Tn, H, hs).transpose(1, 2)
    v = v.view(Bn, Tn, H, hs).transpose(1, 2)
    att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
    att = att.masked_fill(~mask[:, None], float("-inf"))
    y = (att.softmax(-1) @ v).transpose(1, 2).reshape(Bn, Tn, C)
    return y, att.logsumexp(-1)


records = []


def rec(name, t, dtype=0):
    records.append((name, t.detach().cpu().clone(), dtype))


# ---- attention alone -------------------------------------------------------
# case 0: segments crossing the kernels' 64-row query blocks, a 1-token
# segment, padding (-1) at the end; 32-wide heads for the register tiles.
# case 1: odd head size, random short segments.
seg0 = torch.tensor([[0] * 40 + [1] * 50 + [2] + [3] * 30 + [-1] * 9,
                     [7] * 70 + [8] * 60])
seg1 = torch.randint(0, 3, (3, 67)).cumsum(1)
seg1[2, 60:] = -1
for k, (seg, C, H) in enumerate(((seg0, 64, 2), (seg1, 36, 4))):
    Bn, Tn = seg.shape
    qkv = torch.randn(Bn, Tn, 3 * C).float().to(dt).requires_grad_(True)
    dout = torch.randn(Bn, Tn, C).float().to(dt)
    y, lse = attention(qkv, block_mask(seg), H)
    (y * dout).sum().backward()
    p = f"attn{k}/"
    rec(p + "shape", torch.tensor([Bn, Tn, C, H]), 1)
    rec(p + "seg", seg, 1)
    rec(p + "start", segment_starts(seg), 1)
    rec(p + "qkv", qkv)
    rec(p + "dout", dout)
    rec(p + "out", y)
    rec(p + "lse", lse)
    rec(p + "dqkv", qkv.grad)

# ---- a small GPT on packed rows -------------------------------------------
# T = 24 > NCTX = 16: only positions must stay below n_ctx; row 1's first
# example fills n_ctx exactly.
L, H, C, V, NCTX, B, T = 2, 4, 32, 97, 16, 2, 24
seg = torch.tensor([[0] * 9 + [1] * 12 + [-1] * 3,
                    [5] * 16 + [6] * 5 + [-1] * 3])


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


def init(name, shape):
    # peaked attention and position embeddings that matter, so a mask or a
    # position off by one shows in every output
    if name.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight")):
        return 1.0 + 0.1 * torch.randn(shape)
    if name.endswith(("wte.weight", "wpe.weight")):
        return 0.1 * torch.randn(shape)
    if name.endswith("c_attn.weight"):
        return 0.2 * torch.randn(shape)
    return 0.02 * torch.randn(shape)


ps = {n: init(n, s).float().to(dt).requires_grad_(True) for n, s in param_specs()}
tokens = torch.randint(0, V, (B, T))
st = segment_starts(seg)
pos = torch.arange(T)[None, :] - st
# next token within the example; the example's last token, the first two
# (prompt) tokens and padding carry no loss
targets = torch.full((B, T), -1, dtype=torch.int64)
for b in range(B):
    for t in range(T - 1):
        if seg[b, t] >= 0 and seg[b, t + 1] == seg[b, t] and pos[b, t] >= 2:
            targets[b, t] = tokens[b, t + 1]
weights = torch.ones(B, T, dtype=dt)
weights[1, 3:9] = 0.5

mask = block_mask(seg)
x = ps["transformer.wte.weight"][tokens] + ps["transformer.wpe.weight"][pos]
for l in range(L):
    p = f"transformer.h.{l}."
    h = F.layer_norm(x, (C,), ps[p + "ln_1.weight"], ps[p + "ln_1.bias"], 1e-5)
    y, _ = attention(h @ ps[p + "attn.c_attn.weight"] + ps[p + "attn.c_attn.bias"], mask, H)
    x = x + y @ ps[p + "attn.c_proj.weight"] + ps[p + "attn.c_proj.bias"]
    h = F.layer_norm(x, (C,), ps[p + "ln_2.weight"], ps[p + "ln_2.bias"], 1e-5)
    h = F.gelu(h @ ps[p + "mlp.c_fc.weight"] + ps[p + "mlp.c_fc.bias"], approximate="tanh")
    x = x + h @ ps[p + "mlp.c_proj.weight"] + ps[p + "mlp.c_proj.bias"]
hid = F.layer_norm(x, (C,), ps["transformer.ln_f.weight"], ps["transformer.ln_f.bias"], 1e-5)
logits = hid @ ps["transformer.wte.weight"].t()
valid = (targets >= 0).to(dt)
nll = F.cross_entropy(logits.view(-1, V), targets.clamp(min=0).view(-1), reduction="none").view(B, T) * valid
w = weights * valid
loss = (nll * w).sum() / w.sum()
loss.backward()

rec("gpt/config", torch.tensor([L, H, C, V, NCTX, B, T]), 1)
rec("gpt/tokens", tokens, 1)
rec("gpt/seg", seg, 1)
rec("gpt/targets", targets, 1)
rec("gpt/weights", weights)
for n, t in ps.items():
    rec("param/" + n, t)
rec("gpt/logits", logits)
rec("gpt/nll", nll)
rec("gpt/loss", loss.reshape(1))
for n, t in ps.items():
    rec("grad/" + n, t.grad)

out = sys.argv[1] if len(sys.argv) > 1 else "packed_fixture.bin"
with open(out, "wb") as f:
    f.write(b"LPFX" + struct.pack("<II", 1, len(records)))
    for name, t, dtype in records:
        nb = name.encode()
        f.write(struct.pack("<I", len(nb)) + nb + struct.pack("<BI", dtype, t.dim()))
        f.write(struct.pack("<%dq" % t.dim(), *t.shape))
        f.write(t.to(torch.int32 if dtype else torch.float32).contiguous().numpy().tobytes())
print("wrote", out, "records", len(records), "loss", float(loss))
