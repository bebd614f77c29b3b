"""Hugging Face BPE training time on one file, one thread (byte-level, GPT-2
pre-tokenizer, the whole text as one sequence as llmpipe reads it)."""
import os
import sys
import time

os.environ["RAYON_NUM_THREADS"] = "1"
from tokenizers import Tokenizer, models, pre_tokenizers, trainers  # noqa: E402

text = open(sys.argv[1], encoding="utf-8").read()
tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tr = trainers.BpeTrainer(vocab_size=int(sys.argv[2]), special_tokens=["<|endoftext|>"],
                         initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
t0 = time.perf_counter()
tok.train_from_iterator([text], tr)
print(f"hf training {time.perf_counter() - t0:.2f} s")
