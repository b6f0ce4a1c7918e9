"""Encoding detection (pipeline.io.charset): hand-made bytes, and accuracy on shared Simplified and Traditional
text encoded on the fly (never written into the repository)."""

from __future__ import annotations

import codecs
import json
import random
from pathlib import Path

from pipeline.io import charset


def _jsonl(texts: list[str]) -> str:
    return "".join(json.dumps({"id": str(i), "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(texts))


def test_hand_made_samples():
    line = _jsonl(["一个中文句子，上下文。"])
    assert charset.sniff(line.encode(), True).encoding == "utf-8"
    assert charset.sniff(codecs.BOM_UTF16_LE + line.encode("utf-16-le"), True).encoding == "utf-16"
    assert charset.sniff(line.encode("utf-16-le"), True).encoding == "utf-16-le"
    assert charset.sniff(line.encode("utf-16-be"), True).encoding == "utf-16-be"
    assert charset.sniff(_jsonl(["這是一個繁體中文的句子，內容很普通。"]).encode("big5"), True).encoding == "big5hkscs"
    assert charset.sniff(line.encode("gb18030"), True).encoding == "gb18030"
    # bytes that no candidate decodes plausibly
    junk = charset.sniff(b'{"text": "\x80\xff\xfe\x81\x30"}\n' * 3, True)
    assert junk.encoding is None and "Big5" in junk.detail


def _load(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f]


def test_accuracy_on_shared_text(shared_dir: Path):
    """Files of 1 and 5 documents of Taiwan Wikipedia (Traditional) and mainland Wikipedia (Simplified), in every
    encoding that can represent them. bench/encoding_eval.py compares with charset-normalizer at full size."""
    docs = shared_dir / "corpora" / "docs"
    corpora = {"hant": _load(docs / "zh_wiki_drcd_hant.jsonl"), "hans": _load(docs / "zh_wiki_cmrc2018_hans.jsonl")}
    expect = {"utf-8": "utf-8", "gb18030": "gb18030", "big5": "big5hkscs", "utf-16": "utf-16"}
    expect |= {"utf-16-le": "utf-16-le", "utf-16-be": "utf-16-be"}
    rng = random.Random(7)
    wrong, total = [], 0
    for script, texts in corpora.items():
        for codec, want in expect.items():
            for per_file in (1, 5):
                for _ in range(30):
                    try:
                        data = _jsonl(rng.sample(texts, per_file)).encode(codec)
                    except UnicodeEncodeError:
                        continue  # Simplified text that Big5 cannot represent
                    total += 1
                    got = charset.sniff(data, True).encoding
                    if got != want:
                        wrong.append((script, codec, per_file, got))
    print(f"encoding detection: {total - len(wrong)}/{total} right")
    assert total >= 500 and not wrong, wrong[:10]
