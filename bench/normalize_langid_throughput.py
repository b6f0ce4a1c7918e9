"""Throughput (MB/s of UTF-8 input, one process = one core) of `normalize`, `langid` and both, against calling
the fastText model directly on the same documents.

    .venv/bin/python bench/normalize_langid_throughput.py [--shared ../shared] [--repeat 5] [--batch 1000]

The raw-model rows call `model.f.predict(text + "\\n", k, 0.0, "strict")` per document, the fastest call
there is, on text whose whitespace was collapsed beforehand (outside the timing): once on the whole
document and once on the same first `max_chars` characters the stage reads. Times are CPU seconds of this
process (MB/s per core), best of `--repeat` passes in which all variants take turns batch by batch: the
machine is shared, and ratios measured in one script hold better than absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stages.langid import LangId, load_model, model_input  # noqa: E402
from stages.normalize import Normalize  # noqa: E402
from stages.testing import make_batch  # noqa: E402


def load_docs(shared: Path) -> list[str]:
    texts = []
    for path in sorted((shared / "corpora" / "docs").glob("*.jsonl")):
        with open(path, encoding="utf-8") as f:
            texts += [json.loads(line)["text"] for line in f]
    return texts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--batch", type=int, default=1000)
    args = ap.parse_args()

    texts = load_docs(args.shared)
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    batches = [make_batch(texts[i : i + args.batch]) for i in range(0, len(texts), args.batch)]

    normalize, langid, per_para = Normalize(), LangId(), LangId(per_paragraph=True)
    for s in (normalize, langid, per_para):
        s.ensure_setup()
    predict = load_model().f.predict
    whole = [[t + "\n" for t in model_input(b.column("text"), 0).to_pylist()] for b in batches]
    window = [[t + "\n" for t in model_input(b.column("text"), langid.max_chars).to_pylist()] for b in batches]

    def raw(lines: list[list[str]], k: int):
        return lambda i: [predict(t, k, 0.0, "strict") for t in lines[i]]

    def stage(*stages):
        def run(i):
            b = batches[i]
            for s in stages:
                b = s.apply(b).kept

        return run

    rows = [
        ("raw model k=1, whole document", raw(whole, 1)),
        (f"raw model k=1, first {langid.max_chars} chars", raw(window, 1)),
        (f"raw model k={langid.top_k}, first {langid.max_chars} chars", raw(window, langid.top_k)),
        ("normalize", stage(normalize)),
        ("langid", stage(langid)),
        ("normalize + langid", stage(normalize, langid)),
        ("langid per_paragraph", stage(per_para)),
    ]
    # Every variant runs on batch i before any runs on batch i+1, so that load from other processes hits
    # all of them alike; the best of `repeat` passes is kept per variant.
    results = {label: float("inf") for label, _ in rows}
    for _ in range(args.repeat):
        totals = dict.fromkeys(results, 0.0)
        for i in range(len(batches)):
            for label, fn in rows:
                t0 = time.process_time()
                fn(i)
                totals[label] += time.process_time() - t0
        results = {label: min(results[label], totals[label]) for label in results}

    base = results[f"raw model k=1, first {langid.max_chars} chars"]
    print(
        f"{len(texts)} documents, {mb:.1f} MB UTF-8, batches of {args.batch}, best of {args.repeat} interleaved passes"
    )
    print(f"{'':<40} {'CPU s':>8} {'MB/s':>8} {'docs/s':>9} {'vs raw k=1 same text':>21}")
    for label, secs in results.items():
        print(f"{label:<40} {secs:>8.2f} {mb / secs:>8.2f} {len(texts) / secs:>9.0f} {base / secs:>21.2f}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
