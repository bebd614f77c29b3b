"""Independent check of `data shard`: reads train.bin / val.bin with numpy
from the documented header layout, and compares their tokens with Hugging
Face `tokenizers` encoding every document (split on the separator line)
followed by <|endoftext|>; the validation share must be the fraction asked.

  shard_verify.py TOKENIZER.json OUTDIR VAL_FRACTION SEP FILES...
"""
import struct
import sys

import numpy as np
from tokenizers import Tokenizer


def read_shard(path):
    raw = open(path, "rb").read()
    magic, version, width, count, vocab, eot = struct.unpack_from("<8sIIQIi", raw, 0)
    assert magic == b"LPTOKSHD" and version == 1 and width in (2, 4), (magic, version, width)
    assert raw[32:64] == bytes(32), "reserved header bytes must be zero"
    assert len(raw) == 64 + count * width, "size does not match the count"
    return np.frombuffer(raw, dtype="<u2" if width == 2 else "<u4", offset=64).astype(np.int64), vocab, eot


def documents(files, sep):
    for path in files:
        text = open(path, encoding="utf-8").read()
        doc = []
        lines = [ln + "\n" for ln in text.split("\n")]
        lines[-1] = lines[-1][:-1]
        for line in lines:
            if line.rstrip("\r\n") == sep:
                yield "".join(doc)
                doc = []
            else:
                doc.append(line)
        yield "".join(doc)


def main(tok_path, out, frac, sep, *files):
    tok = Tokenizer.from_file(tok_path)
    eot = tok.token_to_id("<|endoftext|>")
    docs = [d for d in documents(files, sep) if d.strip()]
    enc = [tok.encode(d, add_special_tokens=False).ids + [eot] for d in docs]
    train, vocab, eot_hdr = read_shard(f"{out}/train.bin")
    val, _, _ = read_shard(f"{out}/val.bin")
    assert vocab == tok.get_vocab_size() and eot_hdr == eot, (vocab, eot_hdr)
    # the documents appear in order, each whole, in one shard or the other
    pos_t = pos_v = n_val = 0
    for i, ids in enumerate(enc):
        n = len(ids)
        if train[pos_t:pos_t + n].tolist() == ids:
            pos_t += n
        elif val[pos_v:pos_v + n].tolist() == ids:
            pos_v += n
            n_val += 1
        else:
            sys.exit(f"document {i} is in neither shard at the expected place")
    assert pos_t == len(train) and pos_v == len(val), "extra tokens in a shard"
    share = n_val / len(enc)
    assert abs(share - float(frac)) <= 1.0 / len(enc) + 1e-9, f"validation share {share} for fraction {frac}"
    print(f"verified {len(enc)} documents ({n_val} validation), {len(train)} + {len(val)} tokens")


if __name__ == "__main__":
    main(*sys.argv[1:])
