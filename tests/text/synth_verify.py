"""Independent check of `data synth` output: every answer recomputed in
Python, splits disjoint, wrong answers really wrong, ranked lists best first.

  synth_verify.py DIR
"""
import json
import os
import sys

LOWER = "零一二三四五六七八九"
UPPER = "零壹贰叁肆伍陆柒捌玖"
SEP = {"sort_en": ", ", "sort_zh": "，", "reverse_en": " ", "reverse_zh": " ",
       "add_en": " + ", "add_zh": " 加 ", "count_en": " ", "count_zh": " "}


def expected(family, inp):
    task = family.split("_")[0]
    if task == "sort":
        return SEP[family].join(str(v) for v in sorted(int(x) for x in inp.split(SEP[family])))
    if task == "reverse":
        return " ".join(reversed(inp.split(" ")))
    if task == "add":
        a, b = inp.split(SEP[family])
        return str(int(a) + int(b))
    if task == "count":
        return str(len(inp.split(" ")))
    if family == "upper_en":
        assert inp.isalpha() and inp.isascii(), inp
        return inp.upper()
    return "".join(UPPER[LOWER.index(c)] for c in inp)


def input_of(prompt):
    head, _, rest = prompt.partition("### Input:\n")
    assert rest, f"no input section in {prompt!r}"
    return rest.split("\n\n### Response:")[0]


def load(d, name):
    with open(os.path.join(d, name), encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def main(d):
    keys = {}
    fams = set()
    n = 0
    for name in ["sft", "pref", "ranked", "ppo", "eval"]:
        seen_here = set()
        for r in load(d, name + ".jsonl"):
            n += 1
            fam = r["family"]
            fams.add(fam)
            inp = r["input"] if name == "sft" else input_of(r["prompt"])
            want = expected(fam, inp)
            if name == "sft":
                assert r["output"] == want, (r, want)
            elif name == "pref":
                assert r["chosen"] == want, (r, want)
                assert r["rejected"].strip() != want, r
                assert r["flaw"] in ("swap", "off_by_one", "truncated", "chatter"), r
            elif name == "ranked":
                resp = r["responses"]
                assert resp[0] == want and len(resp) >= 3 and len(set(resp)) == len(resp), r
                assert all(x.strip() != want for x in resp[1:]), r
                assert want in resp[1], r  # correct but chatty comes second
            else:
                assert r["reference"] == want, (r, want)
            key = (fam, inp)
            other = keys.get(key)
            assert other is None or other == name, f"{key} is in both {other} and {name}"
            keys[key] = name
            seen_here.add(key)
    assert len(fams) == 10, fams
    print(f"verified {n} records, {len(keys)} distinct tasks, families {sorted(fams)}")


if __name__ == "__main__":
    main(sys.argv[1])
