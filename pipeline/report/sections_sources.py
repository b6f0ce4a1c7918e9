"""Keep rate per input source (a `source` column), as `jingxuan tune` shows it per labelled group."""

from __future__ import annotations

import glob
import os
from collections import Counter

from pipeline.report.decisions import keep_by_source
from pipeline.report.markup import Section, empty_note, esc, html_table
from pipeline.report.run_data import RunData
from stages.core.shards import read_shard, shard_schema

SOURCE_COLUMN = "source"
MAX_SOURCES = 50


def section_sources(run: RunData) -> Section:
    title = "Keep rate per source"
    files = sorted(glob.glob(os.path.join(run.run_dir, "data", "*.arrow")))
    if not files or SOURCE_COLUMN not in shard_schema(files[0]).names:
        return Section("sources", title, empty_note(f"The output has no `{SOURCE_COLUMN}` column."))
    annotate = [s for s in run.stage_specs if (s.get("params") or {}).get("mode") == "annotate"]
    if not annotate:
        counts: Counter = Counter()
        for path in files:
            for batch in read_shard(path, columns=[SOURCE_COLUMN]):
                counts.update(str(v) for v in batch.column(0).to_pylist())
        note = (
            "<p class='note'>Filters ran in <code>mode: filter</code>: <code>rejected/</code> does not record the "
            "source, so only what was kept is counted here. Run with <code>jingxuan run --annotate</code> to see "
            "what every filter would keep of each source (and <code>jingxuan tune</code> to choose thresholds).</p>"
        )
        rows = [[esc(k), v] for k, v in counts.most_common(MAX_SOURCES)]
        return Section("sources", title, note + html_table(["source", "documents kept"], rows))
    verdicts = keep_by_source(run.run_dir, run.stage_specs, SOURCE_COLUMN)
    rows = []
    for src, v in sorted(verdicts.items(), key=lambda kv: -kv[1].docs)[:MAX_SOURCES]:
        top = ", ".join(f"{r} {n / v.docs:.2f}" for r, n in v.reasons.most_common(3)) or "—"
        rows.append([esc(src), v.docs, v.kept, f"{v.keep:.3f}", esc(top)])
    note = (
        f"<p class='note'>{len(annotate)} filter(s) ran in <code>mode: annotate</code>; their decisions are re-made "
        "from the recorded signals with the configured thresholds (the first filter, in run order, that would drop "
        "a document gives its reason). <code>jingxuan tune RUN_DIR --good F.. --bad F..</code> shows the same per "
        "labelled group for every candidate threshold.</p>"
    )
    table = html_table(["source", "documents", "would keep", "keep rate", "top would-drop reasons (share)"], rows)
    return Section("sources", title, note + table)
