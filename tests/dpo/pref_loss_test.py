#!/usr/bin/env python3
"""The DPO, cDPO and IPO losses of lp_pref_loss_pair and their gradients
against PyTorch autograd (float64), through ctypes on a shared library of
//sdk/train. Usage: pref_loss_test.py path/to/libpref_loss.so"""
import ctypes as C
import sys

import numpy as np
import torch
import torch.nn.functional as F


class Cfg(C.Structure):  # lp_pref_loss_cfg
    _fields_ = [("kind", C.c_int), ("beta", C.c_double), ("label_smoothing", C.c_double)]


lib = C.CDLL(sys.argv[1])
dp = C.POINTER(C.c_double)
lib.lp_pref_loss_pair.restype = C.c_double
lib.lp_pref_loss_pair.argtypes = [C.POINTER(Cfg), C.c_double, C.c_double, C.c_double, C.c_double, dp, dp]
lib.lp_pref_loss_check.restype = C.c_int
lib.lp_pref_loss_check.argtypes = [C.POINTER(Cfg), C.c_char_p, C.c_size_t]

DPO, CDPO, IPO = 0, 1, 2
failures = []


def reference(kind, beta, eps, pc, pr, rc, rr):
    """Loss per pair and d/dpc, d/dpr, written as the papers do (TRL's
    sigmoid / label smoothing / ipo forms) with sequence log-probs."""
    pc = torch.tensor(pc, dtype=torch.float64, requires_grad=True)
    pr = torch.tensor(pr, dtype=torch.float64, requires_grad=True)
    rc = torch.tensor(rc, dtype=torch.float64)
    rr = torch.tensor(rr, dtype=torch.float64)
    logits = (pc - pr) - (rc - rr)
    if kind == IPO:
        loss = (logits - 1 / (2 * beta)) ** 2
    else:
        e = eps if kind == CDPO else 0.0
        loss = -F.logsigmoid(beta * logits) * (1 - e) - F.logsigmoid(-beta * logits) * e
    loss.sum().backward()
    return loss.detach().numpy(), pc.grad.numpy(), pr.grad.numpy()


def check(name, got, ref, tol):
    got, ref = np.asarray(got), np.asarray(ref)
    e = float(np.max(np.abs(got - ref) / np.maximum(np.abs(ref), 1.0)))
    ok = e <= tol and np.all(np.isfinite(got))
    print(f"{'ok  ' if ok else 'FAIL'} {name}: max err {e:.3g} (tol {tol:g})")
    if not ok:
        failures.append(name)


rng = np.random.default_rng(11)
n = 2000
# sequence log-probs of tens of tokens; some pairs far apart so that the
# sigmoid saturates on both sides (h up to +-600, beta h up to +-300)
rc = -rng.uniform(1, 200, n)
rr = -rng.uniform(1, 200, n)
drift = rng.normal(0, 5, (2, n))
drift[:, :50] *= 100
pc = rc + drift[0]
pr = rr + drift[1]

for kind, kname in [(DPO, "dpo"), (CDPO, "cdpo"), (IPO, "ipo")]:
    for beta in (0.01, 0.1, 0.5, 2.0):
        eps = 0.1 if kind == CDPO else 0.0
        cfg = Cfg(kind, beta, eps)
        assert lib.lp_pref_loss_check(C.byref(cfg), None, 0) == 0
        loss = np.empty(n)
        dpc = np.empty(n)
        dpr = np.empty(n)
        for i in range(n):
            a, b = C.c_double(), C.c_double()
            loss[i] = lib.lp_pref_loss_pair(C.byref(cfg), pc[i], pr[i], rc[i], rr[i], C.byref(a), C.byref(b))
            dpc[i], dpr[i] = a.value, b.value
        rl, rgc, rgr = reference(kind, beta, eps, pc, pr, rc, rr)
        check(f"{kname} beta {beta} loss", loss, rl, 1e-12)
        check(f"{kname} beta {beta} d/d chosen", dpc, rgc, 1e-12)
        check(f"{kname} beta {beta} d/d rejected", dpr, rgr, 1e-12)

# the classic figures: equal policy and reference give log 2 (DPO, cDPO) and
# 1/(4 beta^2) (IPO)
for kind, want in [(DPO, np.log(2)), (CDPO, np.log(2)), (IPO, 1 / (4 * 0.1 ** 2))]:
    got = lib.lp_pref_loss_pair(C.byref(Cfg(kind, 0.1, 0.2)), -5.0, -7.0, -5.0, -7.0, None, None)
    check(f"kind {kind} at the reference", got, want, 1e-15)

# refusals
err = C.create_string_buffer(256)
for cfg, what in [(Cfg(DPO, 0.0, 0), "beta"), (Cfg(CDPO, 0.1, 0.5), "label_smoothing"), (Cfg(7, 0.1, 0), "kind")]:
    rc_ = lib.lp_pref_loss_check(C.byref(cfg), err, 256)
    ok = rc_ != 0 and what in err.value.decode()
    print(f"{'ok  ' if ok else 'FAIL'} refused: {err.value.decode()}")
    if not ok:
        failures.append("refusal " + what)

if failures:
    print("FAILED:", ", ".join(failures))
    sys.exit(1)
print("all preference-loss checks passed")
