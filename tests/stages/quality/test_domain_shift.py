"""The zh_web recipe keeps good prose in the forms it was not tuned on (sample_data/domain_shift, written for
this project): legal and government text with ASCII punctuation, one-line documents, converted-PDF text
with hard line breaks, forum dumps. The few it drops are listed with their reason, so a rule change that
drops more (or fewer) fails here and is looked at."""

from pathlib import Path

import orjson
import pyarrow as pa
import pytest

from pipeline.config import load_config
from stages.base import Filter

# id -> stage.reason: what the recipe drops of the domain-shift documents, and why that is accepted
EXPECTED_DROPS = {
    # a 190-character post whose title and "报名格式: A + B + C" line are 20% of it, beside list lines
    "shift-forum-005": "page_structure_filter.nonprose_text",
    # a review collection: its title and one review with no punctuation (clauses split by spaces) are 22%
    "shift-notweb-001": "page_structure_filter.nonprose_text",
    # classical verse has no function words: FineWeb-2's two-stopword rule (word_filter) drops it
    "shift-notweb-003": "word_filter.few_stopwords",
    "shift-notweb-004": "word_filter.few_stopwords",
    # a modern poem without a single punctuation mark reads like a menu to every line rule
    "shift-notweb-007": "length_filter.short_lines",
}


@pytest.fixture(scope="module")
def verdicts(repo_dir: Path) -> dict[str, tuple[str, str | None]]:
    """id -> (file, stage.reason or None) for every domain-shift document through the whole recipe."""
    # the per-document stages; the recipe's dedup passes (global stages) judge duplicates, not quality
    stages = [s for s in load_config(str(repo_dir / "configs" / "zh_web.yaml")).build_stages() if s.kind != "global"]
    out = {}
    for path in sorted((repo_dir / "sample_data" / "domain_shift").glob("*.jsonl")):
        rows = [orjson.loads(line) for line in path.read_bytes().splitlines()]
        batch = pa.RecordBatch.from_pylist([{"id": r["id"], "text": r["text"]} for r in rows])
        for r in rows:
            out[r["id"]] = (path.stem, None)
        for stage in stages:
            result = stage.apply(batch)
            if isinstance(stage, Filter) and result.rejected is not None:
                for row in result.rejected.to_pylist():
                    out[row["id"]] = (path.stem, f"{stage.name}.{row['reason']}")
            batch = result.kept
    return out


def test_recipe_keeps_the_domain_shift_prose(verdicts):
    dropped = {i: reason for i, (_, reason) in verdicts.items() if reason is not None}
    assert dropped == EXPECTED_DROPS
    for style in ("legal", "one_line", "pdf_text"):
        assert all(reason is None for f, reason in verdicts.values() if f == style), style
    kept = sum(reason is None for f, reason in verdicts.values() if f != "not_web")
    assert kept / sum(f != "not_web" for f, _ in verdicts.values()) >= 0.95


def test_page_structure_filter_keeps_verse_help_pages_and_recipes(repo_dir: Path):
    """Issue 17: the web-page rule must not take prose-like text that is not a web page."""
    from stages.quality.boilerplate import PageStructureFilter

    rows = [
        orjson.loads(line) for line in (repo_dir / "sample_data/domain_shift/not_web.jsonl").read_bytes().splitlines()
    ]
    batch = pa.RecordBatch.from_pylist([{"id": r["id"], "text": r["text"]} for r in rows])
    out = PageStructureFilter().apply(batch)
    # the unpunctuated poem, and the review collection with an unpunctuated review (see EXPECTED_DROPS)
    assert out.rejected.column("id").to_pylist() == ["shift-notweb-001", "shift-notweb-007"]
