"""Keep rate per source file for the zh_web recipe, with the top drop reasons per source.

    python bench/quality_eval.py                 # report half (the half thresholds were not tuned on)
    python bench/quality_eval.py --half tune     # the tuning half
    python bench/quality_eval.py --signals       # per-file percentiles of every signal, tuning half
    python bench/quality_eval.py --rules         # per-file share each rule would drop on its own
    python bench/quality_eval.py --classifier    # + a quality_classifier trained on the tuning halves

Each file of ../shared/corpora/docs is split in two by a hash of the document id: thresholds were chosen by
looking at the `tune` half only (`--signals`, `--rules`); keep rates are reported on the other half. Stages of
the recipe that are not registered yet are skipped with a note.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import xxhash
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.signals import collect_signals  # noqa: E402
from stages.base import STAGES, Filter  # noqa: E402

DOCS = REPO.parent / "shared" / "corpora" / "docs"
PRE_STAGES = {"normalize", "langid", "lang_filter"}
# Classifier training data (tuning halves only). Positive: reference-like prose; negative: the web pages and
# app-store copy the recipe should not keep. Caveat: a classifier learns source style as much as quality.
POSITIVE = ["zh_wiki_cmrc2018_hans", "zh_wiki_drcd_hant", "zh_abstracts_fewclue_csldcp", "zh_news_thucnews"]
NEGATIVE = ["zh_web_chinesewebtext_ccnet", "zh_appdesc_fewclue_iflytek"]


def load_file(path: Path, half: str) -> pa.RecordBatch:
    ids, texts, urls = [], [], []
    with open(path, "rb") as f:
        for line in f:
            row = orjson.loads(line)
            ids.append(str(row["id"]))
            texts.append(row["text"])
            urls.append(row.get("url"))
    keep = np.ones(len(ids), dtype=bool)
    if half != "all":
        side = np.array([xxhash.xxh64_intdigest(i.encode()) % 2 for i in ids])
        keep = side == (0 if half == "tune" else 1)
    cols = {"id": pa.array(ids), "text": pa.array(texts)}
    if any(u is not None for u in urls):
        cols["url"] = pa.array(urls, pa.string())
    return pa.RecordBatch.from_pydict(cols).filter(pa.array(keep))


def registered() -> dict:
    """All registered stages; if some unrelated stage module fails to import, only the ones this recipe uses."""
    try:
        return STAGES.available()
    except Exception as e:  # another stage module under construction must not stop the evaluation
        print(f"note: stage discovery failed ({e}); importing the recipe's modules only")
        import importlib
        import pkgutil

        import stages.quality

        for mod in ["stages.normalize", "stages.langid"] + [
            m.name for m in pkgutil.iter_modules(stages.quality.__path__, prefix="stages.quality.")
        ]:
            try:
                importlib.import_module(mod)
            except ImportError as err:
                print(f"note: {mod}: {err}")
        return dict(STAGES._classes)


def recipe_stages(config: Path, annotate: bool = False, quality_only: bool = False) -> list:
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    stages, missing = [], []
    available = registered()
    for item in raw["stages"]:
        name, params = (item, {}) if isinstance(item, str) else next(iter(item.items()))
        if name not in available:
            missing.append(name)
            continue
        if (quality_only and name in PRE_STAGES) or available[name].kind == "global":
            continue  # dedup and other global passes: bench/dedup_bench.py, bench/paragraph_dedup_eval.py
        stage = available[name](**(params or {}))
        if annotate and isinstance(stage, Filter):
            stage = available[name](**{**(params or {}), "mode": "annotate"})
        stages.append(stage)
    if missing:
        print(f"note: stages not registered yet, skipped: {', '.join(missing)}")
    return stages


def run(stages: list, batch: pa.RecordBatch) -> tuple[pa.RecordBatch, Counter, Counter]:
    """Apply the stages in order; returns kept rows, drop reasons (stage.reason) and would-drop counters."""
    reasons: Counter = Counter()
    would: Counter = Counter()
    for stage in stages:
        if batch.num_rows == 0:
            break
        out = stage.apply(batch)
        for r, n in out.stats.reasons.items():
            reasons[f"{stage.name}.{r}"] += n
        for c, n in out.stats.counters.items():
            if c.startswith("would_drop."):
                would[f"{stage.name}.{c.removeprefix('would_drop.')}"] += n
        batch = out.kept
    return batch, reasons, would


def train_on_tune_halves(docs: Path, out_dir: Path, balance_files: bool = False) -> str:
    """Write the tuning halves of POSITIVE/NEGATIVE as JSONL and train a model on them; returns its path."""
    from stages.quality.classifier import train_quality

    def dump(stem: str) -> str:
        batch = load_file(docs / f"{stem}.jsonl", "tune")
        path = out_dir / f"{stem}.tune.jsonl"
        with open(path, "wb") as f:
            for text in batch.column("text").to_pylist():
                f.write(orjson.dumps({"text": text}) + b"\n")
        return str(path)

    model = out_dir / "zh_quality.npz"
    meta = train_quality(
        [dump(s) for s in POSITIVE], [dump(s) for s in NEGATIVE], str(model), balance_files=balance_files
    )
    h = meta["metrics"]["holdout"]
    print(
        f"classifier: positive={POSITIVE} negative={NEGATIVE} (tuning halves); {meta['docs']['train']} train docs;"
        f" held-out {h['positives']}+/{h['negatives']}-: precision {h['precision']:.3f} recall {h['recall']:.3f}"
        f" F1 {h['f1']:.3f} AUC {h['auc']:.3f}\n"
    )
    return str(model)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(REPO / "configs" / "zh_web.yaml"))
    ap.add_argument("--docs", default=str(DOCS))
    ap.add_argument("--half", choices=["tune", "report", "all"], default="report")
    ap.add_argument("--signals", action="store_true", help="print signal percentiles per file (tuning half)")
    ap.add_argument("--rules", action="store_true", help="print what each rule alone would drop (tuning half)")
    ap.add_argument("--quality-only", action="store_true", help="skip normalize/langid/lang_filter")
    ap.add_argument("--classifier", action="store_true", help="append a classifier trained on the tuning halves")
    ap.add_argument("--threshold", type=float, default=0.5, help="classifier threshold")
    ap.add_argument("--balance-files", action="store_true", help="classifier: each file weighs the same")
    args = ap.parse_args()
    files = sorted(Path(args.docs).glob("*.jsonl"))
    if not files:
        sys.exit(f"no *.jsonl under {args.docs}")
    half = "tune" if (args.signals or args.rules) else args.half
    stages = recipe_stages(Path(args.config), annotate=args.signals or args.rules, quality_only=args.quality_only)
    if args.classifier:
        import tempfile

        from stages.quality.classifier import QualityClassifier

        tmp = Path(tempfile.mkdtemp(prefix="jingxuan-quality-"))
        stages.append(
            QualityClassifier(
                model=train_on_tune_halves(Path(args.docs), tmp, args.balance_files), threshold=args.threshold
            )
        )
    print(f"stages: {' -> '.join(s.name for s in stages)}; half: {half}\n")
    if args.signals:
        for path in files:
            kept, _, _ = run(stages, load_file(path, half))
            sig = collect_signals([kept])
            print(f"== {path.stem} ({kept.num_rows} docs)   p1 / p5 / p50 / p95 / p99")
            for name in sorted(sig):
                q = np.percentile(sig[name], [1, 5, 50, 95, 99]) if len(sig[name]) else []
                print(f"  {name:22s} " + " / ".join(f"{x:8.3f}" for x in q))
        return
    if args.rules:
        print(f"{'file':36s} {'docs':>5s}  rule: share of the file it would drop on its own")
        for path in files:
            batch = load_file(path, half)
            _, _, would = run(stages, batch)
            top = ", ".join(f"{r} {n / batch.num_rows:.2f}" for r, n in would.most_common(8))
            print(f"{path.stem:36s} {batch.num_rows:5d}  {top}")
        return
    print(f"{'file':36s} {'docs':>5s} {'kept':>5s} {'keep':>5s}  top drop reasons (share of the file)")
    for path in files:
        batch = load_file(path, half)
        kept, reasons, _ = run(stages, batch)
        top = ", ".join(f"{r} {n / batch.num_rows:.2f}" for r, n in reasons.most_common(4))
        rate = kept.num_rows / max(batch.num_rows, 1)
        print(f"{path.stem:36s} {batch.num_rows:5d} {kept.num_rows:5d} {rate:5.2f}  {top}")


if __name__ == "__main__":
    main()
