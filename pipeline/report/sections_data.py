"""What the output holds: histograms of numeric signals with their thresholds, and categorical columns."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from pipeline.report.charts import counter_chart, histogram_chart
from pipeline.report.markup import Section, empty_note, esc, num
from pipeline.report.run_data import RunData
from pipeline.report.thresholds import column_stages


def _signal_figure(run: RunData, col: str) -> str:
    values = run.data.numeric[col]
    ths = run.thresholds.get(col, [])
    finite = values[np.isfinite(values)]
    nulls = len(values) - len(finite)
    if len(finite) and finite.min() == finite.max():
        limits = "".join(f"; {esc(t.label)}" for t in ths)
        return (
            f'<p class="constant"><code>{esc(col)}</code>: all {len(finite):,} sampled values are '
            f"{num(float(finite[0]))}{f' ({nulls:,} null)' if nulls else ''}{limits}</p>"
        )
    svg, note = histogram_chart(f"chart-hist-{col.lstrip('_')}", col, values, ths, integer=col in run.data.integer)
    caption = ""
    if len(finite):
        q = np.quantile(finite, [0.01, 0.5, 0.99])
        caption = (
            f"n {len(finite):,} · mean {num(float(finite.mean()))} · p1 {num(float(q[0]))} · "
            f"median {num(float(q[1]))} · p99 {num(float(q[2]))} · min {num(float(finite.min()))}"
            f" · max {num(float(finite.max()))}"
        )
    if nulls:
        caption += f" · null {nulls:,}"
    for t in ths:
        beyond = (finite < t.value) if t.side == "min" else (finite > t.value) if t.side == "max" else None
        if beyond is not None and len(finite):
            caption += f"<br>{esc(t.label)}: {beyond.mean():.1%} of the sample on the dropped side"
    if note:
        caption += f"<br>{esc(note)}"
    return f'<figure class="hist">{svg}<figcaption>{caption}</figcaption></figure>'


def _no_data(run: RunData) -> str | None:
    if not run.data.files:
        return "data/ holds no shard files."
    if not run.data.rows:
        return "data/ is empty: no document came through the run."
    return None


def section_signals(run: RunData) -> Section:
    if _no_data(run):
        return Section("signals", "Signal histograms", empty_note(_no_data(run)))
    numeric = run.data.numeric
    if not numeric:
        return Section("signals", "Signal histograms", empty_note("No numeric signal columns in data/."))
    n_sample = max((len(v) for v in numeric.values()), default=0)
    which = "all rows" if run.data.sample_stride == 1 else f"every {run.data.sample_stride:,}th row"
    intro = (
        f'<p class="note">Values of the documents in data/ (the output): {n_sample:,} of {run.data.rows:,} '
        f"rows ({which}). Dropped documents are not in data/; run a filter with <code>mode: annotate</code> to "
        "see its whole distribution. Dashed lines are configured thresholds; the shaded side is what they drop.</p>"
    )
    owner = column_stages(run.stage_specs)
    groups: dict[str, list[str]] = defaultdict(list)
    for col in numeric:
        groups[owner.get(col, "")].append(col)
    parts = [intro]
    for key in run.in_stage_order(groups):
        cols = sorted(groups[key], key=lambda c: (c not in owner, c))
        parts.append(f"<h3>{esc(key) if key else 'other columns'}</h3>")
        figures = [_signal_figure(run, c) for c in cols]
        parts.append('<div class="grid2">' + "".join(f for f in figures if f.startswith("<figure")) + "</div>")
        parts.extend(f for f in figures if not f.startswith("<figure"))
    missing = sorted(c for c in run.thresholds if c not in numeric)
    if missing:
        parts.append(empty_note("Thresholds configured on columns not in data/: " + ", ".join(missing)))
    return Section("signals", "Signal histograms", "".join(parts))


def section_language(run: RunData) -> Section:
    cats = run.data.categorical
    parts = []
    for col, title in (("_lang", "language (_lang)"), ("_script", "script (_script)")):
        if _no_data(run):
            parts.append(empty_note(_no_data(run)))
            break
        if cats.get(col):
            parts.append(
                f"<figure><h3>{esc(title)} in data/</h3>"
                + counter_chart(f"chart-{col.lstrip('_')}", title, cats[col])
                + "</figure>"
            )
        else:
            parts.append(empty_note(f"No {col} column in data/ (langid did not run)."))
    before = Counter()
    for st in run.stage_stats.values():
        for c, n in (st.get("counters") or {}).items():
            if c.startswith("lang."):
                before[c.removeprefix("lang.")] += n
    if before:
        parts.append(
            "<figure><h3>language as labelled by langid (before any language filter)</h3>"
            + counter_chart("chart-lang-before", "langid labels", before)
            + "</figure>"
        )
    body = '<div class="grid2">' + "".join(parts) + "</div>"
    others = {c: v for c, v in cats.items() if c not in ("_lang", "_script") and v and len(v) <= 50}
    if others:
        parts = []
        for col, counts in sorted(others.items()):
            parts.append(
                f"<figure><h4>{esc(col)}</h4>"
                + counter_chart(f"chart-cat-{col.lstrip('_')}", col, counts)
                + "</figure>"
            )
        body += '<h3>Other categorical columns</h3><div class="grid2">' + "".join(parts) + "</div>"
    return Section("language", "Language and script", body)
