"""Proof with real clients: the safetensors package opens an llmpipe model
folder and finds exactly GPT2LMHeadModel's state-dict names and shapes, and
the PyTorch reference computes the same logits from those weights; the other
way, a hub-style GPT-2 folder written by safetensors (no "transformer."
prefix, F16 and F32 mixed, attention mask buffers, no lm_head) imports into
llmpipe and gives the reference's logits. A reward model exports as
GPT2ForSequenceClassification, a policy with a value head as GPT2LMHeadModel
plus value_head.safetensors, and a folder without a head imports into a
scalar-head model with the head drawn as configured."""
import json
import math
import os
import subprocess
import sys

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpt2_ref import GPT2ForSequenceClassification, GPT2LMHeadModel  # noqa: E402

tool, tmp = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
fails = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        fails.append(what)


L, H, C, V, NCTX = 2, 4, 32, 97, 24
tokens = [int(x) for x in np.random.RandomState(1).randint(0, V, size=NCTX)]
tok_arg = ",".join(map(str, tokens))

# ---- export: llmpipe -> Hugging Face layout
d = os.path.join(tmp, "export")
os.makedirs(d)
subprocess.run([tool, "export", d, "7", str(L), str(H), str(C), str(V), str(NCTX), tok_arg,
                os.path.join(tmp, "c_logits.bin")], check=True)
cfg = json.load(open(os.path.join(d, "config.json")))
check(cfg["model_type"] == "gpt2" and cfg["architectures"] == ["GPT2LMHeadModel"], "config.json names GPT2LMHeadModel")
check((cfg["n_layer"], cfg["n_head"], cfg["n_embd"], cfg["vocab_size"], cfg["n_positions"]) == (L, H, C, V, NCTX),
      "config.json sizes")
check(cfg["activation_function"] == "gelu_new" and cfg["tie_word_embeddings"] is True, "config.json activation, tying")

ref = GPT2LMHeadModel(cfg)
want = {k: tuple(v.shape) for k, v in ref.state_dict().items()}
with safe_open(os.path.join(d, "model.safetensors"), framework="pt") as f:
    got = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    meta = f.metadata()
    tensors = {k: f.get_tensor(k) for k in f.keys()}
check(set(got) == set(want), "tensor names are exactly GPT2LMHeadModel's state dict (%d names)" % len(want))
for k in sorted(set(got) ^ set(want)):
    print("   differs:", k)
check(all(got[k] == want[k] for k in want if k in got), "every shape matches (Conv1D [in, out])")
check(meta.get("format") == "pt", "metadata format=pt")
check(all(t.dtype == torch.float32 for t in tensors.values()), "all tensors F32")

ref.load_state_dict(tensors, strict=True)
with torch.no_grad():
    want_logits = ref(torch.tensor([tokens]))[0].numpy()
c_logits = np.fromfile(os.path.join(tmp, "c_logits.bin"), dtype=np.float32).reshape(NCTX, V)
err = float(np.abs(c_logits - want_logits).max())
print("   export: max |logit difference| = %.3g (logit scale %.3g)" % (err, float(np.abs(want_logits).max())))
check(err < 2e-4, "llmpipe logits equal the PyTorch reference's from the exported weights")

# ---- import: a hub-style GPT-2 folder -> llmpipe
L2, H2, C2, V2, N2 = 3, 2, 16, 61, 20
cfg2 = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_layer": L2, "n_head": H2, "n_embd": C2,
        "vocab_size": V2, "n_positions": N2, "n_ctx": N2, "activation_function": "gelu_new",
        "layer_norm_epsilon": 1e-5, "n_inner": None}
ref2 = GPT2LMHeadModel(cfg2)
with torch.no_grad():
    for n, p in ref2.named_parameters():
        p.copy_(torch.randn_like(p) * (0.3 if p.dim() == 2 else 0.1) + (1.0 if "ln" in n and n.endswith("weight") else 0))
hub = {}
for k, v in ref2.state_dict().items():
    if k == "lm_head.weight":
        continue  # hub files leave the tied head out
    name = k[len("transformer."):]
    # half precision for one tensor: the loader must convert F16
    hub[name] = v.half().contiguous() if name == "h.1.mlp.c_fc.weight" else v.contiguous().clone()
for i in range(L2):  # old checkpoints carry the causal-mask buffers
    hub["h.%d.attn.bias" % i] = torch.ones(1, 1, N2, N2).tril()
    hub["h.%d.attn.masked_bias" % i] = torch.tensor(-1e4)
with torch.no_grad():
    ref2.transformer.h[1].mlp.c_fc.weight.copy_(hub["h.1.mlp.c_fc.weight"].float())
d2 = os.path.join(tmp, "hub")
os.makedirs(d2)
save_file(hub, os.path.join(d2, "model.safetensors"), metadata={"format": "pt"})
json.dump(cfg2, open(os.path.join(d2, "config.json"), "w"))
tokens2 = [int(x) for x in np.random.RandomState(2).randint(0, V2, size=N2)]
subprocess.run([tool, "import", d2, ",".join(map(str, tokens2)), os.path.join(tmp, "c2.bin")], check=True)
with torch.no_grad():
    want2 = ref2(torch.tensor([tokens2]))[0].numpy()
got2 = np.fromfile(os.path.join(tmp, "c2.bin"), dtype=np.float32).reshape(N2, V2)
err2 = float(np.abs(got2 - want2).max())
print("   import: max |logit difference| = %.3g (logit scale %.3g)" % (err2, float(np.abs(want2).max())))
check(err2 < 2e-4 * max(1.0, float(np.abs(want2).max())), "a hub-style GPT-2 folder imports and gives the reference logits")

# A wrong shape in config.json is refused with a message naming the tensor.
cfg3 = dict(cfg2, n_embd=C2 * 2)
d3 = os.path.join(tmp, "bad")
os.makedirs(d3)
save_file(hub, os.path.join(d3, "model.safetensors"))
json.dump(cfg3, open(os.path.join(d3, "config.json"), "w"))
r = subprocess.run([tool, "import", d3, "1,2", os.path.join(tmp, "c3.bin")], capture_output=True, text=True)
check(r.returncode != 0 and "the config expects" in r.stderr, "shape mismatch refused: " + r.stderr.strip())

# ---- a reward model: GPT2ForSequenceClassification
d4 = os.path.join(tmp, "rm")
os.makedirs(d4)
subprocess.run([tool, "export-rm", d4, "9", str(L), str(H), str(C), str(V), str(NCTX), tok_arg,
                os.path.join(tmp, "rm_values.bin")], check=True)
cfg4 = json.load(open(os.path.join(d4, "config.json")))
check(cfg4["architectures"] == ["GPT2ForSequenceClassification"] and cfg4["num_labels"] == 1
      and cfg4["pad_token_id"] == V - 1, "reward model config.json: GPT2ForSequenceClassification, num_labels 1, "
      "pad_token_id")
rm = GPT2ForSequenceClassification(cfg4)
with safe_open(os.path.join(d4, "model.safetensors"), framework="pt") as f:
    t4 = {k: f.get_tensor(k) for k in f.keys()}
check(set(t4) == set(rm.state_dict()) and tuple(t4["score.weight"].shape) == (1, C),
      "reward model tensors are exactly GPT2ForSequenceClassification's (score.weight [1, %d], no lm_head)" % C)
rm.load_state_dict(t4, strict=True)
with torch.no_grad():
    want4 = rm(torch.tensor([tokens]))[0, :, 0].numpy()
got4 = np.fromfile(os.path.join(tmp, "rm_values.bin"), dtype=np.float32)
err4 = float(np.abs(got4 - want4).max())
print("   reward model: max |score difference| = %.3g (scale %.3g)" % (err4, float(np.abs(want4).max())))
check(err4 < 2e-4 * max(1.0, float(np.abs(want4).max())), "reward scores equal the reference's at every position")

# ---- a policy with a value head: GPT2LMHeadModel + value_head.safetensors
d5 = os.path.join(tmp, "policy")
os.makedirs(d5)
subprocess.run([tool, "export-vh", d5, "9", str(L), str(H), str(C), str(V), str(NCTX), tok_arg,
                os.path.join(tmp, "vh_values.bin")], check=True)
cfg5 = json.load(open(os.path.join(d5, "config.json")))
check(cfg5["architectures"] == ["GPT2LMHeadModel"] and "num_labels" not in cfg5, "policy config.json: GPT2LMHeadModel")
with safe_open(os.path.join(d5, "model.safetensors"), framework="pt") as f:
    t5 = {k: f.get_tensor(k) for k in f.keys()}
with safe_open(os.path.join(d5, "value_head.safetensors"), framework="pt") as f:
    vh = {k: f.get_tensor(k) for k in f.keys()}
check(set(t5) == set(GPT2LMHeadModel(cfg5).state_dict()), "policy model.safetensors is exactly GPT2LMHeadModel's")
check(list(vh) == ["score.weight"] and tuple(vh["score.weight"].shape) == (1, C),
      "value_head.safetensors holds score.weight [1, %d]" % C)
check(torch.equal(vh["score.weight"], t4["score.weight"]), "the value head is the same head as the reward export's")
subprocess.run([tool, "import-values", d5, tok_arg, os.path.join(tmp, "vh_back.bin"), "5"], check=True,
               capture_output=True)
back = np.fromfile(os.path.join(tmp, "vh_back.bin"), dtype=np.float32)
check(np.array_equal(back, got4), "policy + value head import gives the exported values bit for bit")

# ---- an LM folder without a head into a scalar-head model: the head is drawn
r1 = subprocess.run([tool, "import-values", d, tok_arg, os.path.join(tmp, "h1.bin"), "5"], check=True,
                    capture_output=True, text=True)
r2 = subprocess.run([tool, "import-values", d, tok_arg, os.path.join(tmp, "h2.bin"), "5"], check=True,
                    capture_output=True, text=True)
r3 = subprocess.run([tool, "import-values", d, tok_arg, os.path.join(tmp, "h3.bin"), "6"], check=True,
                    capture_output=True, text=True)
std = float(r1.stdout.split()[-1])
h1, h2, h3 = (np.fromfile(os.path.join(tmp, n), dtype=np.float32) for n in ("h1.bin", "h2.bin", "h3.bin"))
print("   drawn head: std %.4f (configured 1/sqrt(n_embd+1) = %.4f)" % (std, 1 / math.sqrt(C + 1)))
check(abs(std - 1 / math.sqrt(C + 1)) < 0.35 / math.sqrt(C + 1), "a missing head is drawn N(0, 1/(n_embd+1))")
check(np.array_equal(h1, h2) and not np.array_equal(h1, h3), "the drawn head depends on its seed only")

print("%d failures" % len(fails))
sys.exit(1 if fails else 0)
