"""Hugging Face `tokenizers` encoding throughput on one file, one thread:
encode() of the whole text, and encode_batch() of its lines with a single
Rayon thread; each repetition loads the tokenizer afresh (cold cache).
Prints the best MB/s of the faster way and the token count of encode()."""
import os
import sys
import time

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
from tokenizers import Tokenizer  # noqa: E402

tok_path, text_path = sys.argv[1], sys.argv[2]
reps = int(sys.argv[3]) if len(sys.argv) > 3 else 3
text = open(text_path, encoding="utf-8").read()
nbytes = len(text.encode())
lines = text.splitlines(keepends=True)
best = {"encode": 1e30, "encode_batch": 1e30}
ntok = 0
for _ in range(reps):
    tok = Tokenizer.from_file(tok_path)
    t0 = time.perf_counter()
    ntok = len(tok.encode(text).ids)
    best["encode"] = min(best["encode"], time.perf_counter() - t0)
    tok = Tokenizer.from_file(tok_path)
    t0 = time.perf_counter()
    tok.encode_batch(lines)
    best["encode_batch"] = min(best["encode_batch"], time.perf_counter() - t0)
way = min(best, key=best.get)
print(f"hf {nbytes / best[way] / 1e6:.2f} MB/s {ntok} tokens {best[way]:.3f} s ({way}; "
      f"encode {nbytes / best['encode'] / 1e6:.2f}, encode_batch {nbytes / best['encode_batch'] / 1e6:.2f} MB/s)")
