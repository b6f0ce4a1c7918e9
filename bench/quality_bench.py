"""Throughput of the quality stages (MB/s of UTF-8 text per core), against language ID in the same process.

    python bench/quality_bench.py [--docs ../shared/corpora/docs] [--repeat 2] [--no-segmenter]

Every stage runs in annotate mode over the same batches (2,000 documents), so each sees every document;
"quality recipe" runs all quality filters of configs/zh_web.yaml one after the other on each batch, in
annotate mode (worst case: nothing is dropped early) and in filter mode (what a run does). Single process:
MB/s is per core. Also compares rjieba (HMM off) with jieba.lcut(HMM=False): identical output, speed.
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import tempfile
import time
from pathlib import Path

import orjson
import pyarrow as pa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from quality_eval import recipe_stages, registered  # noqa: E402

DOCS = REPO.parent / "shared" / "corpora" / "docs"


def load_batches(docs: Path, batch_size: int = 2000) -> tuple[list[pa.RecordBatch], list[str]]:
    texts: list[str] = []
    for path in sorted(docs.glob("*.jsonl")):
        with open(path, "rb") as f:
            texts += [orjson.loads(line)["text"] for line in f]
    batches = [
        pa.RecordBatch.from_pydict(
            {"id": [f"d{i + j}" for j in range(len(texts[i : i + batch_size]))], "text": texts[i : i + batch_size]}
        )
        for i in range(0, len(texts), batch_size)
    ]
    return batches, texts


def timed(fn, batches: list[pa.RecordBatch], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for b in batches:
            fn(b)
        best = min(best, time.perf_counter() - t0)
    return best


def run_chain(stages: list, batch: pa.RecordBatch) -> None:
    for stage in stages:
        if batch.num_rows == 0:
            return
        batch = stage.apply(batch).kept


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", default=str(DOCS))
    ap.add_argument("--repeat", type=int, default=2, help="best of N passes")
    ap.add_argument("--no-segmenter", action="store_true")
    args = ap.parse_args()
    batches, texts = load_batches(Path(args.docs))
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    print(f"{len(texts)} documents, {mb:.1f} MB UTF-8, {len(batches)} batches; best of {args.repeat}\n")

    config = REPO / "configs" / "zh_web.yaml"
    quality = recipe_stages(config, annotate=True, quality_only=True)
    quality_filter = recipe_stages(config, annotate=False, quality_only=True)
    # a classifier trained on a slice of the data, to time scoring
    from stages.quality.classifier import QualityClassifier, train_quality

    tmp = Path(tempfile.mkdtemp(prefix="jingxuan-bench-"))
    pos, neg = tmp / "pos.txt", tmp / "neg.txt"
    pos.write_text("\n".join(t.replace("\n", " ") for t in texts[::7][:1500]), encoding="utf-8")
    neg.write_text("\n".join(t.replace("\n", " ") for t in texts[3::7][:1500]), encoding="utf-8")
    train_quality([str(pos)], [str(neg)], str(tmp / "m.npz"), epochs=1)
    classifier = QualityClassifier(model=str(tmp / "m.npz"), mode="annotate")

    rows: list[tuple[str, float]] = []
    for stage in [*quality, classifier]:
        stage.ensure_setup()
        rows.append((stage.name, timed(stage.apply, batches, args.repeat)))
    t_recipe = timed(lambda b: run_chain(quality, b), batches, args.repeat)
    t_recipe_filter = timed(lambda b: run_chain(quality_filter, b), batches, args.repeat)
    rows.append(("quality recipe (annotate: all docs, all stages)", t_recipe))
    rows.append(("quality recipe (filter mode)", t_recipe_filter))
    langid = registered()["langid"]()  # always registered: the reference the quality recipe is measured against
    langid.ensure_setup()
    t_langid = timed(langid.apply, batches, args.repeat)
    rows.append(("langid", t_langid))
    print(f"{'stage':50s} {'seconds':>8s} {'MB/s':>8s} {'docs/s':>9s}")
    for name, sec in rows:
        print(f"{name:50s} {sec:8.2f} {mb / sec:8.2f} {len(texts) / sec:9.0f}")
    print(
        f"\nquality recipe / langid time: {t_recipe / t_langid:.2f}x (annotate), "
        f"{t_recipe_filter / t_langid:.2f}x (filter mode); target <= 2x"
    )

    if not args.no_segmenter:
        import jieba
        import rjieba

        jieba.setLogLevel(logging.WARNING)
        jieba.lcut("预热", HMM=False)
        rjieba.cut("预热", False)
        t0 = time.perf_counter()
        a = [jieba.lcut(t, HMM=False) for t in texts]
        tj = time.perf_counter() - t0
        t0 = time.perf_counter()
        b = [rjieba.cut(t, False) for t in texts]
        tr = time.perf_counter() - t0
        same = sum(x == y for x, y in zip(a, b, strict=True))
        print(
            f"\nsegmenter: identical output on {same}/{len(texts)} documents; "
            f"jieba.lcut(HMM=False) {mb / tj:.2f} MB/s, rjieba.cut(hmm=False) {mb / tr:.2f} MB/s ({tj / tr:.1f}x)"
        )
    print(f"\npeak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
