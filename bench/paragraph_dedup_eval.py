"""What `paragraph_dedup` removes from real pages: the shared web pages and news (../shared/corpora/docs, read at
run time), each source alone and all together, for a few `min_chars` settings.

Prints per setting: documents, characters in, characters removed (share), paragraphs removed (across documents /
inside their document), documents modified and dropped; then the most removed paragraphs and two documents
before/after, so a person can judge whether what goes is boilerplate.

    .venv/bin/python bench/paragraph_dedup_eval.py [--min-chars 5,10,20]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("zh_web_chinesewebtext_ccnet", "zh_web_quality_clean_dirty", "zh_news_thucnews")


def _docs(name: str, shared: Path) -> list[dict]:
    lines = (shared / "corpora" / "docs" / f"{name}.jsonl").read_text(encoding="utf-8").split("\n")
    return [{"id": d["id"], "text": d["text"]} for d in map(json.loads, filter(str.strip, lines)) if d.get("text")]


def run(docs: list[dict], unit: str, min_chars: int, tmp: str):
    from stages.dedup.paragraph import ParagraphDedup
    from stages.testing import make_batch, run_global

    batch = make_batch([d["text"] for d in docs], [d["id"] for d in docs])
    return run_global(ParagraphDedup(unit=unit, min_chars=min_chars, incremental=False), [batch], tmp)


def main() -> None:
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "bench"))
    from dedup_corpus import SHARED, table

    from stages.testing import read_all

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--min-chars", default="5,10,20")
    args = ap.parse_args()
    if not (SHARED / "corpora" / "docs").is_dir():
        sys.exit(f"skipped: the shared corpora are not at {SHARED / 'corpora'}")
    corpora = {name: _docs(name, SHARED) for name in SOURCES}
    corpora["all three"] = [d for name in SOURCES for d in corpora[name]]
    rows, last = [], {}
    for unit, mc in itertools.product(("line", "sentence"), [int(x) for x in args.min_chars.split(",")]):
        for name, docs in corpora.items():
            with tempfile.TemporaryDirectory() as tmp:
                r = run(docs, unit, mc, tmp)
                c = r.stats.counters
                rows.append(
                    {
                        "source": name,
                        "unit": unit,
                        "min_chars": mc,
                        "docs": len(docs),
                        "chars": r.stats.chars_in,
                        "removed": r.stats.chars_in - r.stats.chars_out,
                        "share": (r.stats.chars_in - r.stats.chars_out) / r.stats.chars_in,
                        "paras across": c["paragraphs_removed.repeated_across_documents"],
                        "paras inside": c["paragraphs_removed.repeated_in_document"],
                        "modified": c["docs_modified"],
                        "dropped": r.stats.docs_rejected,
                    }
                )
                if name == "all three" and mc == 10:
                    after = dict(zip(*read_all(r.shards).select(["id", "text"]).to_pydict().values(), strict=True))
                    last[unit] = (r.report, docs, after)
    print(table(rows, list(rows[0])))
    for unit, (report, docs, after) in last.items():
        print(f"\nmost removed {unit}s (all three sources, min_chars 10):")
        for p in report["most_removed"][:8]:
            print(f"  {p['removed']:4d} x  {p['paragraph'][:70]}")
        changed = [d for d in docs if d["id"] in after and after[d["id"]] != d["text"]]
        changed.sort(key=lambda d: len(d["text"]) - len(after[d["id"]]), reverse=True)
        for d in changed[:2]:
            print(f"  e.g. {d['id']}: {len(d['text'])} -> {len(after[d['id']])} characters; now: {after[d['id']][:60]}")


if __name__ == "__main__":
    main()
