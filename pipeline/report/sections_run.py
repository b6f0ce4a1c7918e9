"""What the run was: headline numbers, counters, time per stage, and the manifest (inputs, versions, config)."""

from __future__ import annotations

import json
import os

from pipeline.report.charts import hbar_chart
from pipeline.report.markup import Section, empty_note, esc, html_table, num, pct, render_json
from pipeline.report.run_data import RunData


def section_overview(run: RunData) -> Section:
    m, s = run.manifest, run.stats or {}
    stages = list(run.stage_stats.items())
    chars_in = stages[0][1].get("chars_in", 0) if stages else 0
    chars_out = stages[-1][1].get("chars_out", 0) if stages else 0
    cards = [
        ("documents in", num(s.get("docs_in"))),
        ("documents out", f"{num(s.get('docs_out'))} ({pct(s.get('docs_out', 0), s.get('docs_in', 0))})"),
        ("rejected", num(s.get("docs_rejected"))),
        ("characters in → out", f"{num(chars_in)} → {num(chars_out)}"),
        ("run time", f"{num(m.get('seconds'))} s" if m.get("seconds") is not None else "–"),
        ("status", m.get("status", "?")),
    ]
    body = (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="k">{esc(k)}</div><div class="v">{esc(v)}</div></div>' for k, v in cards
        )
        + "</div>"
    )
    if run.stats is None:
        body += empty_note("stats.json is missing: the run did not finish, so only the manifest is shown.")
    info = [
        ["name", m.get("name", "")],
        ["engine", m.get("engine", "")],
        ["started", m.get("started", "")],
        ["finished", m.get("finished", "")],
        ["config hash", m.get("config_hash", "")],
        ["run directory", os.path.abspath(run.run_dir)],
        ["output", f"{num((m.get('output') or {}).get('rows'))} rows in data/ ({run.data.files} files)"],
    ]
    body += html_table(["", ""], info, "kv", numeric_from=9)
    return Section("overview", "Overview", body)


def section_counters(run: RunData) -> Section:
    rows = []
    for key, st in run.stage_stats.items():
        for c, n in sorted((st.get("counters") or {}).items()):
            if not c.startswith(("would_drop.", "lang.")):
                rows.append([key, c, n])
    if not rows:
        return Section("counters", "Counters", empty_note("No stage counted anything else (PII redactions ...)."))
    return Section(
        "counters",
        "Counters",
        '<p class="note">Counts stages reported besides drops, e.g. PII '
        "redactions by kind (<code>pii.*</code>).</p>"
        + html_table(["stage", "counter", "count"], rows, numeric_from=2),
    )


def section_timing(run: RunData) -> Section:
    stages = list(run.stage_stats.items())
    if not stages:
        return Section("timing", "Run time per stage", empty_note("No stage statistics."))
    secs = [float(st.get("seconds", 0.0) or 0.0) for _, st in stages]
    total = sum(secs)
    rows = [
        [k, s, pct(s, total), num(st.get("chars_in", 0) / s / 1e6) + " M/s" if s > 0 else "–"]
        for (k, st), s in zip(stages, secs, strict=True)
    ]
    body = (
        '<p class="note">Seconds inside each stage, summed over all shard tasks (so with several workers '
        f"the sum exceeds wall time; the whole run took {num(run.manifest.get('seconds'))} s).</p>"
    )
    body += html_table(["stage", "seconds", "share", "chars/s"], rows)
    body += (
        "<figure>"
        + hbar_chart(
            "chart-timing",
            "seconds per stage",
            [k for k, _ in stages],
            [("seconds", secs)],
            fmt=lambda v: f"{num(v)} s",
        )
        + "</figure>"
    )
    return Section("timing", "Run time per stage", body)


def section_manifest(run: RunData) -> Section:
    m = run.manifest
    parts = []
    versions = m.get("stage_versions") or {}
    if versions:
        parts.append(
            "<h3>Stages</h3>"
            + html_table(
                ["key", "stage@version"], [[k, versions[k]] for k in run.in_stage_order(versions)], numeric_from=9
            )
        )
    inputs = m.get("inputs") or []
    if inputs:
        parts.append(
            "<h3>Inputs</h3>"
            + html_table(
                ["path", "source", "format", "bytes", "encoding", "fingerprint"],
                [
                    [
                        i.get("path", ""),
                        i.get("source", ""),
                        i.get("format", ""),
                        i.get("size", 0),
                        i.get("encoding", ""),
                        i.get("fingerprint", ""),
                    ]
                    for i in inputs
                ],
                numeric_from=3,
            )
        )
    pk = dict(m.get("packages") or {})
    if m.get("python"):
        pk = {"python": m["python"], **pk}
    if pk:
        parts.append(
            "<h3>Versions</h3>" + html_table(["package", "version"], [[k, v] for k, v in pk.items()], numeric_from=9)
        )
    if m.get("config") is not None:
        try:
            import yaml

            text = yaml.safe_dump(m["config"], allow_unicode=True, sort_keys=False)
        except Exception:
            text = json.dumps(m["config"], ensure_ascii=False, indent=2)
        parts.append("<h3>Resolved config</h3><pre>" + esc(text) + "</pre>")
    if run.thresholds:
        rows = [[col, t.stage, t.param, t.value] for col, ts in sorted(run.thresholds.items()) for t in ts]
        parts.append(
            "<h3>Thresholds found in the config</h3>"
            + html_table(["column", "stage", "parameter", "value"], rows, numeric_from=3)
        )
    shown = {*run.synthetic_keys, *run.dedup_keys, *(k for k in run.reports if "curriculum" in k)}
    others = {k: v for k, v in run.reports.items() if k not in shown}
    if others:
        parts.append("<h3>Reports of global stages</h3>")
        for k, v in others.items():
            parts.append(f"<h4>{esc(k)}</h4>" + render_json(v))
    shards = m.get("shards") or []
    if shards:
        parts.append(
            f"<p>{len(shards)} shard tasks; {sum(bool(s.get('skipped')) for s in shards)} were already "
            "done and skipped (resumed run).</p>"
        )
    return Section("manifest", "Manifest", "".join(parts) or empty_note("manifest.json is empty."))
