"""Loads a reward-model artifact with Hugging Face transformers as
GPT2ForSequenceClassification and its tokenizer.json with the tokenizers
library, scores the first records of a preference file (prompt + response +
end-of-text, the prompt and the response encoded apart as llmpipe does), and
compares with the scores `llmpipe score --scores-out` wrote. Also scores a
right-padded batch with an attention mask, reading the head at each row's
last real token, and reports what the class's own pooling reads when
pad_token_id is end-of-text (the token before the closing end-of-text).
Usage: hf_score.py MODEL_DIR PAIRS SCORES"""
import json
import os
import sys

import torch
import transformers
from tokenizers import Tokenizer
from transformers import GPT2ForSequenceClassification

model_dir, pairs_path, scores_path = sys.argv[1:4]
model = GPT2ForSequenceClassification.from_pretrained(os.path.abspath(model_dir), local_files_only=True)
model.eval()
print(f"transformers {transformers.__version__}: {type(model).__name__}, num_labels {model.config.num_labels}, "
      f"pad_token_id {model.config.pad_token_id}")
tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
eot = tok.token_to_id("<|endoftext|>")
ours = [json.loads(line) for line in open(scores_path)]
recs = [json.loads(line) for line in open(pairs_path)][:len(ours)]

seqs = []
for r in recs:
    p = tok.encode(r["prompt"]).ids
    for resp in (r["chosen"], r["rejected"]):
        seqs.append(p + tok.encode(resp).ids + [eot])
want = [s for o in ours for s in o["scores"]]
assert len(want) == len(seqs), (len(want), len(seqs))

worst = 0.0
pooled_eot = []
with torch.no_grad():
    # one sequence at a time: no padding, the class pools at the last token
    # when it has no pad id
    pad = model.config.pad_token_id
    model.config.pad_token_id = None
    alone = [model(torch.tensor([s])).logits[0, 0].item() for s in seqs]
    model.config.pad_token_id = pad
    # right-padded batch, the head read at each row's last real token
    T = max(len(s) for s in seqs)
    x = torch.tensor([s + [eot] * (T - len(s)) for s in seqs])
    mask = torch.tensor([[1] * len(s) + [0] * (T - len(s)) for s in seqs])
    captured = {}
    hook = model.score.register_forward_hook(lambda mod, inp, out: captured.update(all=out))
    out = model(x, attention_mask=mask).logits[:, 0]
    hook.remove()
    batched = [captured["all"][i, len(s) - 1, 0].item() for i, s in enumerate(seqs)]
    pooled_eot = out.tolist()
for a, b, w in zip(alone, batched, want):
    worst = max(worst, abs(a - w) / (1e-3 + abs(a)), abs(b - w) / (1e-3 + abs(b)))
differ = sum(1 for a, p in zip(alone, pooled_eot) if abs(a - p) > 1e-4)
print(f"{len(seqs)} scores: transformers (alone and right-padded batch) vs llmpipe score, worst relative "
      f"difference {worst:.2g}")
print(f"the class's own pooling with pad_token_id = end-of-text reads another token in {differ} of {len(seqs)}")
sys.exit(0 if worst <= 1e-4 else 1)
