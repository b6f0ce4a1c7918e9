"""The dedup evaluation corpus: real documents with planted copies and real hard negatives, and its scoring.

Built at run time from ../shared/corpora (never copied into the repository):

- base: every document of the chosen `docs/*.jsonl` sources;
- planted copies of base documents of >= 50 characters, each document planted once, in five kinds:
  `exact` (identical), `light` (1-3% of the characters edited), `near` (5-10%), `shuffle` (paragraphs, or
  sentences when there are none, in another order) and `twin` (OpenCC s2t of a Simplified document, t2s of a
  Traditional one; plus the CMMLU Simplified/Traditional item pairs when `cmmlu_twins`);
  edits are what copy-editing, OCR and re-posting do to Chinese text: a character replaced by another one of
  the corpus, one inserted, one deleted, two neighbours swapped, a full-width punctuation mark changed;
- hard negatives: both sides of BUSTM paraphrase / not-paraphrase utterance pairs (deduplicated by folded text):
  different documents, often sharing most of their characters, that must survive.

Sources are named by file stem without the `zh_` prefix (`news_thucnews`, `wiki_drcd_hant` ...), so a sweep can
tune on some and check on one held out. BUSTM pairs are split deterministically: `bustm_part` 0 (80%) or 1 (20%).
"""

from __future__ import annotations

import json
import os
import random
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("JINGXUAN_SHARED", REPO.parent / "shared"))
DOCS = SHARED / "corpora" / "docs"
NEARDUP = SHARED / "corpora" / "neardup"
KINDS = ("exact", "light", "near", "shuffle", "twin")
RATES = {"light": (0.01, 0.03), "near": (0.05, 0.10)}
MIN_PLANT_CHARS = 50  # zh_web.yaml's length_filter drops shorter documents before dedup
PUNCT = "，。、；：！？"
NATURAL_MIN_JACCARD = 0.5  # an unplanted pair this close (char 5-grams, folded) counts as a real duplicate


def available() -> bool:
    return DOCS.is_dir() and (NEARDUP / "neardup_bustm_paraphrase_pairs.jsonl").exists()


def source_names() -> list[str]:
    return [p.stem.removeprefix("zh_") for p in sorted(DOCS.glob("*.jsonl"))]


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def edit(text: str, rate: float, rng: random.Random, alphabet: str) -> str:
    """`rate` of the characters (at least one) replaced, inserted, deleted, swapped or re-punctuated."""
    chars = list(text)
    for _ in range(max(1, round(rate * len(text)))):
        i = rng.randrange(len(chars))
        op = rng.random()
        if op < 0.4:
            chars[i] = rng.choice(alphabet)
        elif op < 0.6:
            chars.insert(i, rng.choice(alphabet))
        elif op < 0.8 and len(chars) > 1:
            del chars[i]
        elif op < 0.9 and i + 1 < len(chars):
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        else:
            chars[i] = rng.choice(PUNCT)
    return "".join(chars)


def shuffle(text: str, rng: random.Random) -> str:
    """Paragraphs in another order; sentences when the text has fewer than three paragraphs."""
    if text.count("\n") >= 2:
        parts, sep = text.split("\n"), "\n"
    else:
        parts, sep = [s + "。" for s in text.split("。") if s], ""
    if len(parts) < 3:
        mid = len(text) // 2
        return text[mid:] + text[:mid]
    order = list(range(len(parts)))
    while order == sorted(order):
        rng.shuffle(order)
    return sep.join(parts[i] for i in order)


class Corpus:
    """docs [{id, text}], `family` {copy id: original id, category}, `negatives` (ids of BUSTM documents)."""

    def __init__(self, docs: list[dict], family: dict[str, tuple[str, str]], negatives: set[str], name: str):
        self.docs, self.family, self.negatives, self.name = docs, family, negatives, name

    def __len__(self) -> int:
        return len(self.docs)


def build(
    sources: list[str], per_kind: int, bustm_part: int, seed: int = 0, cmmlu_twins: bool = False, name: str = ""
) -> Corpus:
    import opencc

    from stages.chinese import fold

    rng = random.Random(seed)
    base = []
    for src in sources:
        for row in _read(DOCS / f"zh_{src}.jsonl"):
            if row.get("text"):
                base.append({"id": row["id"], "text": row["text"], "lang": row.get("lang", "")})
    alphabet = "".join(sorted({c for d in base[::20] for c in d["text"] if "\u4e00" <= c <= "\u9fff"}))
    s2t, t2s = opencc.OpenCC("s2t"), opencc.OpenCC("t2s")
    long_docs = [d for d in base if len(d["text"]) >= MIN_PLANT_CHARS]
    picks = rng.sample(long_docs, min(len(long_docs), per_kind * len(KINDS)))
    per = len(picks) // len(KINDS)
    docs = [{"id": d["id"], "text": d["text"]} for d in base]
    family: dict[str, tuple[str, str]] = {}
    for k, kind in enumerate(KINDS):
        for j, orig in enumerate(picks[k * per : (k + 1) * per]):
            t = orig["text"]
            if kind in RATES:
                t = edit(t, rng.uniform(*RATES[kind]), rng, alphabet)
            elif kind == "shuffle":
                t = shuffle(t, rng)
            elif kind == "twin":
                t = t2s.convert(t) if "Hant" in orig["lang"] or "hant" in orig["id"] else s2t.convert(t)
            cid = f"plant-{kind}-{j}"
            docs.append({"id": cid, "text": t})
            family[cid] = (orig["id"], kind)
    if cmmlu_twins:
        for j, p in enumerate(_read(NEARDUP / "neardup_cmmlu_cross_script_pairs.jsonl")):
            a, b = f"cmmlu-{j}-a", f"cmmlu-{j}-b"
            docs += [{"id": a, "text": p["text_a"]}, {"id": b, "text": p["text_b"]}]
            family[b] = (a, "twin")
    negatives: set[str] = set()
    seen = set(fold(pa.array([d["text"] for d in docs])).to_pylist())
    for p in _read(NEARDUP / "neardup_bustm_paraphrase_pairs.jsonl"):
        if int(zlib.crc32(p["id"].encode()) % 5 == 4) != bustm_part:
            continue
        for side in ("a", "b"):
            t = p[f"text_{side}"]
            f = fold(pa.array([t])).to_pylist()[0]
            if f in seen:
                continue
            seen.add(f)
            negatives.add(f"{p['id']}-{side}")
            docs.append({"id": f"{p['id']}-{side}", "text": t})
    rng.shuffle(docs)
    return Corpus(docs, family, negatives, name or "+".join(sources))


# -- scoring ---------------------------------------------------------------------------------------------------


def score(corpus: Corpus, roots: dict[str, str]) -> dict:
    """Precision, recall and their F1 from `roots` {dropped id: the kept id of its cluster}.

    A drop is correct when both documents belong to one planted family, or when neither is a hard negative and
    their families' originals are natural near-copies (true char-5-gram Jaccard >= NATURAL_MIN_JACCARD).
    Recall per kind: planted pairs whose two documents end in one cluster. `neg_lost`: hard negatives dropped;
    `other_removed`: wrong drops of base documents, as a share of the base documents."""
    from pipeline.report.dedup_inspect import true_jaccard

    text = {d["id"]: d["text"] for d in corpus.docs}
    fam = corpus.family

    def f(i: str) -> str:
        return fam[i][0] if i in fam else i

    def root(i: str) -> str:
        return roots.get(i, i)

    good = other_bad = neg = natural = 0
    for d, k in roots.items():
        if f(d) == f(k):
            good += 1
        elif d in corpus.negatives or k in corpus.negatives:
            neg += d in corpus.negatives
        elif true_jaccard(text[f(d)], text[f(k)], 5) >= NATURAL_MIN_JACCARD:  # originals that are near-copies
            good += 1
            natural += 1
        else:
            other_bad += d not in fam
    n_base = len(corpus.docs) - len(fam) - len(corpus.negatives)
    out = {
        "dropped": len(roots),
        "natural": natural,
        "precision": good / len(roots) if roots else 1.0,
        "neg_lost": neg / max(1, len(corpus.negatives)),
        "other_removed": other_bad / max(1, n_base),
    }
    found = {k: [0, 0] for k in KINDS}
    for c, (o, kind) in fam.items():
        found[kind][0] += root(c) == root(o)
        found[kind][1] += 1
    for kind, (x, n) in found.items():
        out[kind] = x / n if n else float("nan")
    out["recall"] = sum(x for x, _ in found.values()) / max(1, sum(n for _, n in found.values()))
    p, r = out["precision"], out["recall"]
    out["f1"] = 2 * p * r / (p + r) if p + r else 0.0
    return out


def roots_from_labels(ids: list[str], labels: np.ndarray) -> dict[str, str]:
    """{dropped id: kept id} for cluster labels per document (keep: first in `ids` order)."""
    first: dict[int, str] = {}
    out = {}
    for i, lab in zip(ids, labels.tolist(), strict=True):
        if lab in first:
            out[i] = first[lab]
        else:
            first[lab] = i
    return out


def write_jsonl(docs: list[dict], path: str) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for d in docs:
            fh.write(json.dumps({"id": d["id"], "text": d["text"]}, ensure_ascii=False) + "\n")


def resolve(drops: dict[str, str]) -> dict[str, str]:
    """{dropped id: kept id} with chains (exact_dedup then minhash_dedup, or a cluster's links) followed to the
    document that stayed."""
    out = {}
    for d in drops:
        k, seen = drops[d], {d}
        while k in drops and k not in seen:
            seen.add(k)
            k = drops[k]
        out[d] = k
    return out


def table(rows: list[dict], cols: list[str]) -> str:
    widths = [max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in cols]
    lines = ["  ".join(c.rjust(w) for c, w in zip(cols, widths, strict=True))]
    lines += ["  ".join(_fmt(r.get(c)).rjust(w) for c, w in zip(cols, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3f}"
    return "" if v is None else str(v)
