"""Greedy answers for eval tasks from an independent PyTorch GPT-2
(tests/ckpt/gpt2_ref.py) and Hugging Face tokenizers, compared with the
answers `llmpipe eval` wrote. Usage: greedy_ref.py MODEL_DIR ANSWERS MAX_NEW"""
import json
import os
import sys

import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "ckpt"))
from gpt2_ref import GPT2LMHeadModel  # noqa: E402

model_dir, answers_path, max_new = sys.argv[1], sys.argv[2], int(sys.argv[3])
cfg = json.load(open(os.path.join(model_dir, "config.json")))
model = GPT2LMHeadModel(cfg)
state = load_file(os.path.join(model_dir, "model.safetensors"))
missing = model.load_state_dict(state, strict=False)
assert not [k for k in missing.missing_keys if k != "lm_head.weight"], missing
model.eval()
tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
eot = tok.token_to_id("<|endoftext|>")

rows = [json.loads(line) for line in open(answers_path)]
same = near_tie = 0
for row in rows:
    ids = tok.encode(row["prompt"]).ids
    ids = ids[-(cfg["n_positions"] - max_new):]  # llmpipe keeps the end too
    out = []
    tie = False
    with torch.no_grad():
        for _ in range(max_new):
            logits = model(torch.tensor([ids + out]))[0, -1]
            top2 = torch.topk(logits, 2).values
            if float(top2[0] - top2[1]) < 1e-4:
                tie = True  # fp32 rounding may pick either token
            nxt = int(torch.argmax(logits))
            out.append(nxt)
            if nxt == eot:
                break
    ref = tok.decode(out, skip_special_tokens=True)
    if ref == row["answer"]:
        same += 1
    elif tie:
        near_tie += 1
    else:
        print("MISMATCH", json.dumps(row["prompt"][-60:]), json.dumps(ref), json.dumps(row["answer"]))
print(f"{same} identical, {near_tie} differ after a near-tie, of {len(rows)}")
sys.exit(0 if same + near_tie == len(rows) and same >= len(rows) - 1 else 1)
