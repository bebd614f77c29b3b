"""Loads an SFT artifact with Hugging Face transformers as GPT2LMHeadModel
and its tokenizer.json with the tokenizers library, answers each held-out
task greedily with generate() (stop at end-of-text), and compares with the
answers `llmpipe eval` wrote for the same folder. Usage:
hf_sft_greedy.py MODEL_DIR ANSWERS MAX_NEW"""
import json
import os
import sys

import torch
import transformers
from tokenizers import Tokenizer
from transformers import GPT2LMHeadModel

model_dir, answers_path, max_new = sys.argv[1], sys.argv[2], int(sys.argv[3])
model = GPT2LMHeadModel.from_pretrained(os.path.abspath(model_dir), local_files_only=True)
model.eval()
print(f"transformers {transformers.__version__}: {type(model).__name__}, "
      f"{sum(p.numel() for p in model.parameters())} parameters")
tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
eot = tok.token_to_id("<|endoftext|>")
n_ctx = model.config.n_positions

rows = [json.loads(line) for line in open(answers_path)]
same = tie = 0
with torch.no_grad():
    for row in rows:
        ids = tok.encode(row["prompt"]).ids[-(n_ctx - max_new):]
        x = torch.tensor([ids])
        out = model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=max_new, do_sample=False,
                             eos_token_id=eot, pad_token_id=eot, output_scores=True,
                             return_dict_in_generate=True)
        new = out.sequences[0, len(ids):].tolist()
        if eot in new:
            new = new[:new.index(eot)]
        ref = tok.decode(new, skip_special_tokens=True)
        # fp32 rounding may pick either of two tokens whose logits tie
        near = any(float(torch.topk(s[0], 2).values.diff().abs()) < 1e-4 for s in out.scores)
        if ref == row["answer"]:
            same += 1
        elif near:
            tie += 1
        else:
            print("MISMATCH", json.dumps(row["prompt"][-50:]), json.dumps(ref), json.dumps(row["answer"]))
right = sum(1 for r in rows if r.get("correct"))
print(f"{same} identical, {tie} differ after a near-tie, of {len(rows)} ({right} right)")
sys.exit(0 if same + tie == len(rows) and same >= len(rows) - 1 else 1)
