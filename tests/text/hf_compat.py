"""Hugging Face `tokenizers` side of the tokenizer compatibility test.

  hf_compat.py check TOKENIZER TEXT IDS.bin   HF encodes TEXT with TOKENIZER (a
      tokenizer.json, or a folder with vocab.json + merges.txt) and the ids must
      equal IDS.bin (int32 little-endian, written by llmpipe).
  hf_compat.py train TEXT VOCAB OUT.json OUTDIR   trains a GPT-2 style byte-level
      BPE with HF and saves it as tokenizer.json and as vocab.json + merges.txt.
  hf_compat.py same_training OURS.json HF.json   both trainers, same corpus and
      size: the merge lists must be identical, rank for rank.
"""
import json
import os
import sys

import numpy as np

try:
    import tokenizers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
except ImportError as e:
    sys.exit(f"hf_compat.py: Hugging Face 'tokenizers' is not installed in {sys.executable} "
             f"({e}); install it with: .venv/bin/pip install tokenizers")


def load(path):
    if os.path.isdir(path):
        tok = Tokenizer(models.BPE.from_file(os.path.join(path, "vocab.json"),
                                             os.path.join(path, "merges.txt")))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        tok.add_special_tokens(["<|endoftext|>"])
        return tok
    return Tokenizer.from_file(path)


def check(tok_path, text_path, ids_path):
    tok = load(tok_path)
    text = open(text_path, encoding="utf-8").read()
    ref = np.array(tok.encode(text).ids, dtype=np.int32)
    ours = np.fromfile(ids_path, dtype="<i4")
    n = min(len(ref), len(ours))
    diff = np.nonzero(ref[:n] != ours[:n])[0]
    if len(diff) or len(ref) != len(ours):
        i = int(diff[0]) if len(diff) else n
        lo = max(0, i - 4)
        sys.exit(f"MISMATCH {tok_path}: HF {len(ref)} ids, llmpipe {len(ours)}; first difference at "
                 f"{i}: HF {ref[lo:i + 4].tolist()} llmpipe {ours[lo:i + 4].tolist()} "
                 f"text {tok.decode(ref[lo:i + 4].tolist())!r}")
    # and HF decodes them back to the text
    if tok.decode(ref.tolist(), skip_special_tokens=False) != text:
        sys.exit(f"HF decode of the ids does not give back {text_path}")
    print(f"identical: {len(ref)} ids for {len(text.encode())} bytes with {tok_path} "
          f"(tokenizers {tokenizers.__version__})")


def train(text_path, vocab, out_json, out_dir):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=int(vocab), special_tokens=["<|endoftext|>"],
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    # the whole text as one sequence, as llmpipe reads it (HF's file reader
    # would cut pieces at line ends)
    tok.train_from_iterator([open(text_path, encoding="utf-8").read()], tr)
    tok.save(out_json)
    os.makedirs(out_dir, exist_ok=True)
    tok.model.save(out_dir)
    print(f"HF trained vocabulary {tok.get_vocab_size()} -> {out_json}, {out_dir}")


def same_training(ours_path, hf_path):
    ours = json.load(open(ours_path, encoding="utf-8"))["model"]
    hf = json.load(open(hf_path, encoding="utf-8"))["model"]
    om = ours["merges"]
    hm = [m if isinstance(m, str) else " ".join(m) for m in hf["merges"]]
    for i, (a, b) in enumerate(zip(om, hm)):
        if a != b:
            sys.exit(f"merge {i} differs: llmpipe {a!r}, HF {b!r}")
    if len(om) != len(hm) or set(ours["vocab"]) != set(hf["vocab"]):
        sys.exit(f"llmpipe {len(om)} merges, HF {len(hm)}; vocabularies differ by "
                 f"{len(set(ours['vocab']) ^ set(hf['vocab']))} tokens")
    print(f"same training: {len(om)} merges identical rank for rank, same vocabulary")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "check":
        check(*sys.argv[2:])
    elif len(sys.argv) == 6 and sys.argv[1] == "train":
        train(*sys.argv[2:])
    elif len(sys.argv) == 4 and sys.argv[1] == "same_training":
        same_training(*sys.argv[2:])
    else:
        sys.exit(__doc__)
