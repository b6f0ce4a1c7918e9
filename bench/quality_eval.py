"""Keep rate per source file for the zh_web recipe, with the top drop reasons per source.

    python bench/quality_eval.py                 # report half (the half thresholds were not tuned on)
    python bench/quality_eval.py --half tune     # the tuning half
    python bench/quality_eval.py --signals       # per-file percentiles of every signal, tuning half
    python bench/quality_eval.py --rules         # per-file share each rule would drop on its own
    python bench/quality_eval.py --classifier    # + a quality_classifier trained on the tuning halves
    python bench/quality_eval.py --loso          # leave-one-source-out: thresholds tuned without each source
    python bench/quality_eval.py --page-structure  # page_structure_filter alone, also on review collections

Each file of ../shared/corpora/docs is split in two by a hash of the document id: thresholds were chosen by
looking at the `tune` half only (`--signals`, `--rules`); keep rates are reported on the other half. Stages of
the recipe that are not registered yet are skipped with a note.

`--loso` holds out whole sources instead of halves. Every file is annotated once (all documents); then, for
each good source, `pipeline.tune` proposes thresholds from the *other* good sources and the bad ones, and the
held-out source is judged with them, beside the bad sources, the headlines, and the documents written in
other styles for this project (sample_data/domain_shift: legal prose with ASCII punctuation, one-line
documents, converted-PDF text, forum dumps), which no tuning ever sees. Labels:
good = both Wikipedia files, THUCNews, CSL abstracts and the `clean` half of clean_dirty; bad = the CCNet
pages and the `dirty` half; reviews, app descriptions and headlines are reported, never tuned on.
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
# Leave-one-source-out labels ("file:label" selects rows of a file by its `label` field).
GOOD = [
    "zh_wiki_cmrc2018_hans",
    "zh_wiki_drcd_hant",
    "zh_news_thucnews",
    "zh_abstracts_fewclue_csldcp",
    "zh_web_quality_clean_dirty:clean",
]
BAD = ["zh_web_chinesewebtext_ccnet", "zh_web_quality_clean_dirty:dirty"]
REPORTED = [
    "zh_titles_fewclue_tnews",
    "zh_appdesc_fewclue_iflytek",
    "zh_reviews_fewclue_eprstmt",
    "zh_reviews_waimai10k",
]
DOMAIN_SHIFT = REPO / "sample_data" / "domain_shift"


def load_file(path: Path, half: str, label: str | None = None) -> pa.RecordBatch:
    ids, texts, urls = [], [], []
    with open(path, "rb") as f:
        for line in f:
            row = orjson.loads(line)
            if label is not None and row.get("label") != label:
                continue
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


def annotated_group(stages: list, path: Path, label: str | None = None) -> tuple[pa.RecordBatch, int]:
    """All documents of a file (or of one label) through the recipe in annotate mode; and how many went in."""
    batch = load_file(path, "all", label)
    kept, _, _ = run(stages, batch)
    return kept, batch.num_rows


def loso(config: Path, docs: Path, max_loss: float) -> None:
    from pipeline.tune import tune

    stages = recipe_stages(config, annotate=True)
    specs = [{"name": s.name, "key": s.name, "resolved": s.params()} for s in stages]
    groups: dict[str, pa.RecordBatch] = {}
    for name in GOOD + BAD + REPORTED:
        stem, _, label = name.partition(":")
        if (docs / f"{stem}.jsonl").exists():
            groups[name.replace("zh_web_quality_clean_dirty", "clean_dirty")], _ = annotated_group(
                stages, docs / f"{stem}.jsonl", label or None
            )
    for stem in ("zh_reviews_waimai10k", "zh_titles_fewclue_tnews"):  # review pages / headline lists
        if (docs / f"{stem}.jsonl").exists():
            coll = collections(load_file(docs / f"{stem}.jsonl", "all"))
            groups[f"{stem} x10"] = run(stages, coll)[0]
    shift = sorted(DOMAIN_SHIFT.glob("*.jsonl"))
    for path in shift:
        groups[f"shift:{path.stem}"], _ = annotated_group(stages, path)
    short = {n: n.replace("zh_web_quality_clean_dirty", "clean_dirty") for n in GOOD + BAD + REPORTED}
    good = [short[n] for n in GOOD if short[n] in groups]
    bad = [short[n] for n in BAD if short[n] in groups]
    watch = [*bad, "zh_titles_fewclue_tnews", *(g for g in groups if g.startswith("shift:") or g.endswith("x10"))]
    print(f"stages: {' -> '.join(s.name for s in stages)}; all documents; max_loss per rule {max_loss:g}\n")

    def keep(v) -> str:
        return f"{v.keep:.2f}"

    head = f"{'held out':30s} {'docs':>5s} {'recipe':>6s} {'loso':>5s} {'loso+t':>6s}  "
    head += " ".join(f"{w[-12:]:>12s}" for w in watch)
    print("keep rate of each good source with thresholds tuned without it (loso: loosen only, the tuner's")
    print("default; loso+t: --tighten), and of the bad / headline / domain-shift groups under the loso")
    print("thresholds; recipe = the config's own values")
    print(head)
    tops, changes = {}, {}
    for tighten in (False, True):
        full = tune(specs, {g: groups[g] for g in good}, {b: groups[b] for b in bad}, max_loss, groups, tighten)
        if not tighten:
            row = " ".join(f"{keep(full.before[w]):>12s}" for w in watch)
            print(f"{'(recipe as configured)':51s}  {row}")
        row = " ".join(f"{keep(full.after[w]):>12s}" for w in watch)
        print(f"{'(tuned on all good' + (', --tighten)' if tighten else ')'):51s}  {row}")
    for held in good:
        rest = {g: groups[g] for g in good if g != held}
        res = tune(specs, rest, {b: groups[b] for b in bad}, max_loss, groups)
        res_t = tune(specs, rest, {b: groups[b] for b in bad}, max_loss, groups, tighten=True)
        v = res.after[held]
        row = " ".join(f"{keep(res.after[w]):>12s}" for w in watch)
        print(f"{held:30s} {v.docs:5d} {keep(res.before[held]):>6s} {keep(v):>5s} {keep(res_t.after[held]):>6s}  {row}")
        tops[held] = (res.before[held], v)
        changes[held] = res.changes()
    print("\ntop drop reasons of each held-out source (share of the source): recipe | loso")
    for held, (b, a) in tops.items():
        fb = ", ".join(f"{r} {n / b.docs:.3f}" for r, n in b.reasons.most_common(3)) or "-"
        fa = ", ".join(f"{r} {n / a.docs:.3f}" for r, n in a.reasons.most_common(3)) or "-"
        print(f"  {held}: {fb} | {fa}")
    print("\nthreshold changes proposed without each source")
    for held, ch in changes.items():
        print(f"  without {held}: " + (", ".join(f"{k.label} {k.value:g}->{v:g}" for k, v in ch.items()) or "none"))
    print("\nother groups under the recipe as configured: docs keep top reasons")
    full = tune(specs, {g: groups[g] for g in good}, {b: groups[b] for b in bad}, max_loss, groups)
    for g in groups:
        if g not in good:
            b = full.before[g]
            top = ", ".join(f"{r} {n / b.docs:.2f}" for r, n in b.reasons.most_common(3)) or "-"
            print(f"  {g:34s} {b.docs:5d} {b.keep:5.2f}  {top}")


def collections(batch: pa.RecordBatch, per_doc: int = 10) -> pa.RecordBatch:
    """`per_doc` consecutive documents joined one per line: review pages, comment dumps, headline lists."""
    texts = batch.column("text").to_pylist()
    joined = ["\n".join(texts[i : i + per_doc]) for i in range(0, len(texts) - per_doc + 1, per_doc)]
    return pa.RecordBatch.from_pydict({"id": [f"c{i}" for i in range(len(joined))], "text": joined})


def page_structure(docs: Path, per_doc: int = 10) -> None:
    """Issue 17: what page_structure_filter alone (after boilerplate_mapper) keeps of each file, and of
    "collections": `per_doc` consecutive reviews or headlines joined one per line, the shape review pages,
    comment dumps and headline lists have."""
    from stages.quality.boilerplate import BoilerplateMapper, PageStructureFilter

    mapper, psf = BoilerplateMapper(), PageStructureFilter()
    print(f"{'input':44s} {'docs':>5s} {'keep':>5s}  page_structure_filter reasons (share)")
    for path in [*sorted(docs.glob("*.jsonl")), *sorted(DOMAIN_SHIFT.glob("*.jsonl"))]:
        batch = load_file(path, "all")
        variants = [(path.stem if path.parent == docs else f"shift:{path.stem}", batch)]
        if any(k in path.stem for k in ("reviews", "titles")):
            variants.append((f"{path.stem} x{per_doc} per doc", collections(batch, per_doc)))
        for name, b in variants:
            out = psf.apply(mapper.apply(b).kept)
            top = ", ".join(f"{r} {n / b.num_rows:.2f}" for r, n in out.stats.reasons.most_common(3)) or "-"
            print(f"{name:44s} {b.num_rows:5d} {out.kept.num_rows / b.num_rows:5.2f}  {top}")


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
    ap.add_argument("--page-structure", action="store_true", help="page_structure_filter alone, incl. collections")
    ap.add_argument("--loso", action="store_true", help="leave-one-source-out table (pipeline.tune)")
    ap.add_argument("--max-loss", type=float, default=0.01, help="--loso: good share one rule may drop per source")
    args = ap.parse_args()
    if args.page_structure:
        page_structure(Path(args.docs))
        return
    if args.loso:
        loso(Path(args.config), Path(args.docs), args.max_loss)
        return
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
