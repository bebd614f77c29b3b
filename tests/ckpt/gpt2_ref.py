"""An independent PyTorch GPT-2 (the Hugging Face GPT2LMHeadModel layout:
Conv1D weights [in, out], tied lm_head, tanh GELU, pre-LN), written for the
llmpipe tests because transformers needs a newer torch than this machine's."""
import math

import torch
import torch.nn as nn


class Conv1D(nn.Module):
    def __init__(self, nx, nf):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(nx, nf))
        self.bias = nn.Parameter(torch.zeros(nf))

    def forward(self, x):
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).reshape(*x.shape[:-1], -1)


class Attention(nn.Module):
    def __init__(self, c, h):
        super().__init__()
        self.h = h
        self.c_attn = Conv1D(c, 3 * c)
        self.c_proj = Conv1D(c, c)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        sh = lambda t: t.view(B, T, self.h, C // self.h).transpose(1, 2)
        q, k, v = sh(q), sh(k), sh(v)
        att = q @ k.transpose(-1, -2) / math.sqrt(C // self.h)
        mask = torch.ones(T, T, dtype=torch.bool).tril()
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_fc = Conv1D(c, 4 * c)
        self.c_proj = Conv1D(4 * c, c)

    def forward(self, x):
        a = self.c_fc(x)
        g = 0.5 * a * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (a + 0.044715 * a.pow(3))))
        return self.c_proj(g)


class Block(nn.Module):
    def __init__(self, c, h, eps):
        super().__init__()
        self.ln_1 = nn.LayerNorm(c, eps=eps)
        self.attn = Attention(c, h)
        self.ln_2 = nn.LayerNorm(c, eps=eps)
        self.mlp = MLP(c)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class Trunk(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        c, eps = cfg["n_embd"], cfg.get("layer_norm_epsilon", 1e-5)
        self.wte = nn.Embedding(cfg["vocab_size"], c)
        self.wpe = nn.Embedding(cfg["n_positions"], c)
        self.h = nn.ModuleList([Block(c, cfg["n_head"], eps) for _ in range(cfg["n_layer"])])
        self.ln_f = nn.LayerNorm(c, eps=eps)


def trunk_forward(t, idx):
    pos = torch.arange(idx.shape[1])
    x = t.wte(idx) + t.wpe(pos)[None]
    for b in t.h:
        x = b(x)
    return t.ln_f(x)


class GPT2LMHeadModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.transformer = Trunk(cfg)
        self.lm_head = nn.Linear(cfg["n_embd"], cfg["vocab_size"], bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied

    def forward(self, idx):
        return self.lm_head(trunk_forward(self.transformer, idx))


class GPT2ForSequenceClassification(nn.Module):
    """The Hugging Face reward-model layout: the trunk and score.weight
    [num_labels, n_embd] without bias. forward gives the score at every
    position [B, T, num_labels]; Hugging Face pools the last non-padding one."""

    def __init__(self, cfg):
        super().__init__()
        self.transformer = Trunk(cfg)
        self.score = nn.Linear(cfg["n_embd"], cfg.get("num_labels", 1), bias=False)

    def forward(self, idx):
        return self.score(trunk_forward(self.transformer, idx))
