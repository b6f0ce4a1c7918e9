"""Where documents went: the funnel per stage, drop reasons, and example documents from the ledger."""

from __future__ import annotations

import os
from typing import Any

from pipeline.report.charts import GRID_W, hbar_chart
from pipeline.report.markup import Raw, Section, docs_label, empty_note, esc, html_table, pct
from pipeline.report.run_data import EXAMPLES_PER_REASON, DataScan, LedgerScan, RunData
from stages.core.atomic import read_json

EXAMPLE_CHARS = 300
EXAMPLE_LINES = 8


FUNNEL_COLUMNS = ("stage", "docs_in", "docs_out", "docs_rejected", "kept", "chars_in", "chars_out", "chars_kept")


def _funnel_row(label: Any, docs: dict[str, Any], chars_in: int, chars_out: int) -> list[Any]:
    """One row in FUNNEL_COLUMNS order: the run's total row takes its chars from the first and last stage."""
    docs_in, docs_out = docs.get("docs_in", 0), docs.get("docs_out", 0)
    kept = pct(docs_out, docs_in)
    return [label, docs_in, docs_out, docs.get("docs_rejected", 0), kept, chars_in, chars_out, pct(chars_out, chars_in)]


def _in_out_chart(what: str, title: str, stages: list[tuple[str, dict[str, Any]]]) -> str:
    """`what` in (light) and out (dark) per stage, overlaid."""
    series = [(side, [st.get(f"{what}_{side}", 0) for _, st in stages]) for side in ("in", "out")]
    return hbar_chart(f"chart-funnel-{what}", title, [k for k, _ in stages], series, overlay=True, width=GRID_W)


def section_funnel(run: RunData) -> Section:
    stages = list(run.stage_stats.items())
    if not stages:
        return Section("funnel", "Funnel", empty_note("No stage statistics (stats.json missing or empty)."))
    rows = [_funnel_row(key, st, st.get("chars_in", 0), st.get("chars_out", 0)) for key, st in stages]
    total = _funnel_row(
        Raw("<b>run</b>"), run.stats or {}, stages[0][1].get("chars_in", 0), stages[-1][1].get("chars_out", 0)
    )
    table = html_table(
        ["stage", "docs in", "docs out", "rejected", "kept", "chars in", "chars out", "chars kept"],
        [*rows, total],
        "funnel",
    )
    body = (
        table
        + '<div class="grid2"><figure>'
        + _in_out_chart("docs", "documents in/out per stage", stages)
        + "<figcaption>Documents in (light) and out (dark)</figcaption></figure><figure>"
        + _in_out_chart("chars", "characters in/out per stage", stages)
        + "<figcaption>Characters in (light) and out (dark)</figcaption></figure></div>"
    )
    return Section("funnel", "Funnel", body)


def section_reasons(run: RunData) -> Section:
    stages = list(run.stage_stats.items())
    rows, would = [], []
    for key, st in stages:
        for reason, n in sorted((st.get("reasons") or {}).items(), key=lambda kv: -kv[1]):
            rows.append([key, reason, n, pct(n, st.get("docs_in", 0)), pct(n, st.get("docs_rejected", 0))])
        for c, n in sorted((st.get("counters") or {}).items(), key=lambda kv: -kv[1]):
            if c.startswith("would_drop."):
                would.append([key, c.removeprefix("would_drop."), n, pct(n, st.get("docs_in", 0))])
    body = ""
    if rows:
        body += html_table(["stage", "reason", "documents", "of stage input", "of stage drops"], rows, numeric_from=2)
        labels = [f"{r[0]}.{r[1]}" for r in rows]
        body += (
            "<figure>"
            + hbar_chart("chart-reasons", "documents dropped per reason", labels, [("dropped", [r[2] for r in rows])])
            + "</figure>"
        )
    else:
        body += empty_note("No document was dropped.")
    if would:
        body += "<h3>Would drop (filters in annotate mode)</h3>"
        body += html_table(["stage", "reason", "documents", "of stage input"], would, numeric_from=2)
        body += (
            "<figure>"
            + hbar_chart(
                "chart-would-drop",
                "documents a filter would drop",
                [f"{r[0]}.{r[1]}" for r in would],
                [("would drop", [r[2] for r in would])],
            )
            + "</figure>"
        )
    return Section("reasons", "Drop reasons", body)


def excerpt(text: str, max_chars: int = EXAMPLE_CHARS, max_lines: int = EXAMPLE_LINES) -> str:
    """The start of a document: at most `max_chars` characters and `max_lines` lines, "…" when cut."""
    short = text[:max_chars]
    lines = short.split("\n")
    if len(lines) > max_lines:
        short = "\n".join(lines[:max_lines])
    return short + ("…" if len(short) < len(text) else "")


def section_examples(run: RunData) -> Section:
    examples = run.ledger.examples
    if not examples:
        return Section("examples", "Examples of dropped documents", empty_note("No rejected documents in rejected/."))
    order = {k: i for i, k in enumerate(run.stage_stats)}
    parts = [
        f'<p class="note">Up to {EXAMPLES_PER_REASON} documents per reason from rejected/, first '
        f"{EXAMPLE_CHARS} characters (PII was redacted by normalize before any filter saw them).</p>"
    ]
    for (stage, reason), docs in sorted(examples.items(), key=lambda kv: (order.get(kv[0][0], 99), kv[0][1])):
        total = ((run.stage_stats.get(stage) or {}).get("reasons") or {}).get(reason)
        parts.append(
            f'<h3 class="reason">{esc(stage)}.{esc(reason)} <span class="muted">({docs_label(total)})</span></h3>'
        )
        for d in docs:
            text = d.get("text")
            shown = "(text not kept: output.keep_rejected_text is off)" if text is None else excerpt(text)
            detail = f" · detail: <code>{esc(d['detail'])}</code>" if d.get("detail") else ""
            parts.append(
                f'<div class="example"><div class="meta">id <code>{esc(d.get("id"))}</code>{detail}</div>'
                f'<div class="doc">{esc(shown)}</div></div>'
            )
    return Section("examples", "Examples of dropped documents", "".join(parts))


def funnel_records(run_dir: str) -> list[dict[str, Any]]:
    """The funnel as rows (stage, docs in/out/rejected, kept share, chars in/out, top reasons), in pipeline
    order, for a Prefect table artifact or a printout."""
    manifest = read_json(os.path.join(run_dir, "manifest.json"))
    stats = read_json(os.path.join(run_dir, "stats.json"))
    run = RunData(run_dir, manifest, stats, None, DataScan(), LedgerScan(), {})
    rows = []
    for key, st in run.stage_stats.items():
        row = dict(
            zip(FUNNEL_COLUMNS[:-1], _funnel_row(key, st, st.get("chars_in", 0), st.get("chars_out", 0)), strict=False)
        )
        reasons = sorted((st.get("reasons") or {}).items(), key=lambda kv: -kv[1])
        rows.append(row | {"top_reasons": ", ".join(f"{r} {n:,}" for r, n in reasons[:3])})
    return rows
