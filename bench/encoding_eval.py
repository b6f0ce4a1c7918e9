"""Encoding detection accuracy: pipeline.charset.sniff against charset-normalizer, on shared Chinese text.

Shared Simplified (Wikipedia, news, reviews, headlines) and Traditional (Taiwan Wikipedia) documents are
written as JSON Lines files of 1, 3 and 20 documents, encoded in memory to UTF-8, GB18030, Big5 and UTF-16
(BOM, LE, BE); a document that an encoding cannot represent is left out of that encoding. Nothing is written
to disk. Prints accuracy per true encoding and file size, and the time per file.

    .venv/bin/python bench/encoding_eval.py [--files 150]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pipeline.io import charset

DOCS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "corpora", "docs")
SOURCES = {
    "hans": ("zh_wiki_cmrc2018_hans", "zh_news_thucnews", "zh_reviews_waimai10k", "zh_titles_fewclue_tnews"),
    "hant": ("zh_wiki_drcd_hant",),
}
ENCODINGS = {"utf-8": "utf-8", "gb18030": "gb18030", "big5": "big5", "utf-16": "utf-16", "utf-16-le": "utf-16-le"}
ENCODINGS["utf-16-be"] = "utf-16-be"
FAMILY = {  # names either detector may give -> the family compared
    "utf_8": "utf-8",
    "utf-8": "utf-8",
    "ascii": "utf-8",
    "gb18030": "gb18030",
    "gbk": "gb18030",
    "gb2312": "gb18030",
    "big5": "big5",
    "big5hkscs": "big5",
    "cp950": "big5",
    "utf-16": "utf-16",
    "utf_16": "utf-16",
    "utf-16-le": "utf-16-le",
    "utf_16_le": "utf-16-le",
    "utf-16-be": "utf-16-be",
    "utf_16_be": "utf-16-be",
}


def load(script: str) -> list[str]:
    texts = []
    for name in SOURCES[script]:
        with open(os.path.join(DOCS, name + ".jsonl"), encoding="utf-8") as f:
            texts += [json.loads(line)["text"] for line in f]
    return texts


def files(texts: list[str], encoding: str, per_file: int, n: int, rng: random.Random) -> list[bytes]:
    out = []
    tries = 0
    while len(out) < n and tries < n * 20:
        tries += 1
        docs = rng.sample(texts, per_file)
        lines = "".join(json.dumps({"id": str(i), "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(docs))
        try:
            out.append(lines.encode(encoding))
        except UnicodeEncodeError:
            continue
    return out


def ours(data: bytes) -> str:
    return charset.sniff(data[: 1 << 20], complete=len(data) <= 1 << 20).encoding or "none"


def normalizer(data: bytes) -> str:
    from charset_normalizer import from_bytes

    best = from_bytes(data[: 1 << 20]).best()
    return best.encoding if best is not None else "none"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=150, help="files per (script, encoding, size)")
    args = ap.parse_args()
    if not os.path.isdir(DOCS):
        sys.exit(f"shared corpora not found at {DOCS}")
    rng = random.Random(0)
    corpora = {s: load(s) for s in SOURCES}
    right: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    seconds: dict[str, float] = defaultdict(float)
    total = 0
    for script, texts in corpora.items():
        for label, enc in ENCODINGS.items():
            for per_file in (1, 3, 20):
                for data in files(texts, enc, per_file, args.files, rng):
                    total += 1
                    for name, detect in (("jingxuan", ours), ("charset-normalizer", normalizer)):
                        t0 = time.perf_counter()
                        got = FAMILY.get(detect(data).lower(), detect(data).lower())
                        seconds[name] += time.perf_counter() - t0
                        cell = right[(name, script, label, per_file)]
                        cell[0] += got == label
                        cell[1] += 1
    print(f"{total} files; accuracy (right/files) per true encoding, script and documents per file\n")
    print(f"{'encoding':<10} {'script':<6} {'docs':>4}  {'jingxuan':>14}  {'charset-normalizer':>18}")
    for script in SOURCES:
        for label in ENCODINGS:
            for per_file in (1, 3, 20):
                a = right[("jingxuan", script, label, per_file)]
                b = right[("charset-normalizer", script, label, per_file)]
                if a[1]:
                    print(f"{label:<10} {script:<6} {per_file:>4}  {a[0]:>6}/{a[1]:<7}  {b[0]:>9}/{b[1]:<8}")
    for name in ("jingxuan", "charset-normalizer"):
        ok = sum(v[0] for k, v in right.items() if k[0] == name)
        n = sum(v[1] for k, v in right.items() if k[0] == name)
        print(f"\n{name}: {ok}/{n} = {ok / n:.4f} right, {1000 * seconds[name] / n:.2f} ms per file", end="")
    print()


if __name__ == "__main__":
    main()
