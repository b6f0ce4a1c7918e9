"""Accuracy of the `langid` stage on the shared language-ID sets, against lid.176 without rules.

    .venv/bin/python bench/langid_eval.py [--shared ../shared]

Data (read at run time, never copied): `langid_lingua_leipzig_75langs.jsonl` (75 languages, unit=sentence or
word_pair) and `langid_zh_hans_vs_hant_sentences.jsonl` (gold script from the source: CMRC2018 = zh-Hans,
DRCD = zh-Hant). zh = Chinese in any script. Rules were chosen on the `tune` half (hash of the id) and are
reported on the `held-out` half and on all. Script accuracy counts `ambiguous` as wrong.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stages.langid import LangId  # noqa: E402
from stages.testing import make_batch  # noqa: E402

LINGUA = "corpora/langid/langid_lingua_leipzig_75langs.jsonl"
SCRIPTS = "corpora/langid/langid_zh_hans_vs_hant_sentences.jsonl"


def split_of(doc_id: str) -> str:
    """`tune` or `held-out`, fixed by a hash of the id."""
    return "tune" if hashlib.md5(doc_id.encode()).digest()[0] % 2 == 0 else "held-out"


def load(shared: Path) -> list[dict]:
    rows = []
    for rel in (LINGUA, SCRIPTS):
        with open(shared / rel, encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                gold = r["lang"]
                rows.append(
                    {
                        "id": r["id"],
                        "text": r["text"],
                        "file": "lingua" if rel == LINGUA else "zh_script",
                        "gold": "zh" if gold.startswith("zh") else gold,
                        "gold_script": {"zh-Hans": "Hans", "zh-Hant": "Hant"}.get(gold),
                        "unit": r.get("unit", "sentence"),
                        "split": split_of(r["id"]),
                    }
                )
    return rows


def predict(rows: list[dict], **params) -> list[dict]:
    stage = LangId(**params)
    batch = make_batch([r["text"] for r in rows], ids=[r["id"] for r in rows])
    out = stage.apply(batch).kept
    langs = out.column("_lang").to_pylist()
    scores = out.column("_lang_score").to_pylist()
    scripts = out.column("_script").to_pylist()
    return [
        {**r, "lang": lg, "score": sc, "script": sp} for r, lg, sc, sp in zip(rows, langs, scores, scripts, strict=True)
    ]


def _ratio(num: int, den: int) -> float:
    return num / den if den else float("nan")


def metrics(rows: list[dict]) -> dict[str, float | int]:
    """zh recall/precision, ja/ko recall, script accuracy over the given (already predicted) rows."""
    zh_gold = [r for r in rows if r["gold"] == "zh"]
    zh_pred = [r for r in rows if r["lang"] == "zh"]
    lingua = [r for r in rows if r["file"] == "lingua"]
    lingua_zh_pred = [r for r in lingua if r["lang"] == "zh"]
    ja = [r for r in rows if r["gold"] == "ja"]
    ko = [r for r in rows if r["gold"] == "ko"]
    scr = [r for r in rows if r["gold_script"]]
    return {
        "n": len(rows),
        "zh_n": len(zh_gold),
        "zh_recall": _ratio(sum(r["lang"] == "zh" for r in zh_gold), len(zh_gold)),
        "zh_precision": _ratio(sum(r["gold"] == "zh" for r in zh_pred), len(zh_pred)),
        "zh_precision_lingua": _ratio(sum(r["gold"] == "zh" for r in lingua_zh_pred), len(lingua_zh_pred)),
        "zh_false_pos": sum(r["gold"] != "zh" for r in zh_pred),
        "ja_recall": _ratio(sum(r["lang"] == "ja" for r in ja), len(ja)),
        "ko_recall": _ratio(sum(r["lang"] == "ko" for r in ko), len(ko)),
        "script_n": len(scr),
        "script_acc": _ratio(sum(r["script"] == r["gold_script"] for r in scr), len(scr)),
        "script_ambiguous": _ratio(sum(r["script"] == "ambiguous" for r in scr), len(scr)),
    }


def evaluate(shared: Path, **params) -> dict[tuple[str, str], dict]:
    """Metrics per (unit, split): unit in sentence/word_pair, split in tune/held-out/all."""
    rows = predict(load(shared), **params)
    out = {}
    for unit in ("sentence", "word_pair"):
        for split in ("tune", "held-out", "all"):
            sel = [r for r in rows if r["unit"] == unit and (split == "all" or r["split"] == split)]
            out[unit, split] = metrics(sel)
    out["_rows"] = rows
    return out


def _table(title: str, results: dict) -> None:
    cols = ["n", "zh_recall", "zh_precision", "zh_precision_lingua", "zh_false_pos", "ja_recall", "ko_recall"]
    cols += ["script_acc", "script_ambiguous"]
    print(f"\n{title}")
    print(f"{'unit':<10} {'split':<9} " + " ".join(f"{c:>19}" for c in cols))
    for (unit, split), m in ((k, v) for k, v in results.items() if k != "_rows"):
        if unit == "word_pair" and m["n"] == 0:
            continue
        cells = [f"{m[c]:>19}" if isinstance(m[c], int) else f"{m[c]:>19.4f}" for c in cols]
        print(f"{unit:<10} {split:<9} " + " ".join(cells))


def _errors(rows: list[dict]) -> None:
    sent = [r for r in rows if r["unit"] == "sentence"]
    fn = Counter(r["lang"] for r in sent if r["gold"] == "zh" and r["lang"] != "zh")
    fp = Counter(r["gold"] for r in sent if r["lang"] == "zh" and r["gold"] != "zh")
    ja = Counter(r["lang"] for r in sent if r["gold"] == "ja" and r["lang"] != "ja")
    ko = Counter(r["lang"] for r in sent if r["gold"] == "ko" and r["lang"] != "ko")
    scr = Counter((r["gold_script"], r["script"]) for r in sent if r["gold_script"] and r["script"] != r["gold_script"])
    print("\nsentence errors (counts only): zh missed as", dict(fn.most_common(8)))
    print("  called zh but gold is", dict(fp.most_common(8)), "| ja missed as", dict(ja.most_common(5)))
    print("  ko missed as", dict(ko.most_common(5)), "| script (gold, predicted)", dict(scr))


def _score_distribution(shared: Path) -> None:
    """zh score quantiles on the shared Chinese documents: the evidence for lang_filter's min_score."""
    stage = LangId()
    print("\nlang_filter evidence: _lang and _lang_score on the shared Chinese documents (document level)")
    print(f"{'file':<36} {'docs':>6} {'zh':>7} {'p01':>6} {'p05':>6} {'<0.3':>6} {'<0.5':>6} {'<0.65':>6} {'<0.8':>6}")
    for path in sorted((shared / "corpora" / "docs").glob("*.jsonl")):
        with open(path, encoding="utf-8") as f:
            texts = [json.loads(line)["text"] for line in f]
        out = stage.apply(make_batch(texts)).kept
        langs = np.array(out.column("_lang").to_pylist(), dtype=object)
        scores = out.column("_lang_score").to_numpy()
        zh = scores[langs == "zh"]
        # documents not called zh count as score 0 for the "< t" shares
        allz = np.where(langs == "zh", scores, 0.0)
        q = np.quantile(zh, [0.01, 0.05]) if len(zh) else [np.nan, np.nan]
        shares = [float(np.mean(allz < t)) for t in (0.3, 0.5, 0.65, 0.8)]
        print(
            f"{path.stem:<36} {len(texts):>6} {len(zh) / len(texts):>7.3f} {q[0]:>6.3f} {q[1]:>6.3f} "
            + " ".join(f"{s:>6.3f}" for s in shares)
        )


def _false_positive_scores(rows: list[dict]) -> None:
    fp = np.array([r["score"] for r in rows if r["lang"] == "zh" and r["gold"] != "zh"])
    tp = np.array([r["score"] for r in rows if r["lang"] == "zh" and r["gold"] == "zh" and r["unit"] == "sentence"])
    if len(fp):
        print(f"\nscores of non-zh text called zh (all units): n={len(fp)} median={np.median(fp):.3f}", end="")
        print(f" share<0.5={np.mean(fp < 0.5):.2f}; true zh sentences below 0.5: {np.mean(tp < 0.5):.4f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    args = ap.parse_args()
    if not (args.shared / LINGUA).is_file():
        sys.exit(f"missing {args.shared / LINGUA}")
    raw = evaluate(args.shared, label_map={}, script_rules=False)
    _table("lid.176 alone (no label_map, no script rules); wuu/yue count as not zh", raw)
    ours = evaluate(args.shared)
    _table("langid stage (defaults)", ours)
    _errors(ours["_rows"])
    _false_positive_scores(ours["_rows"])
    _score_distribution(args.shared)
    print(f"\npyarrow {pa.__version__}; splits by md5(id)[0] % 2")


if __name__ == "__main__":
    main()
