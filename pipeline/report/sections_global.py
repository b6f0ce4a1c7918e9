"""Sections for global stages: dedup clusters, curriculum phases and the synthetic share per phase.

Their reports differ by stage and version, so these read them tolerantly and fall back to what data/ shows.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from pipeline.report.charts import GRID_W, hbar_chart, range_chart
from pipeline.report.markup import Section, empty_note, esc, html_table, num, pct, records_table, render_json
from pipeline.report.run_data import RunData
from pipeline.report.thresholds import is_number


def _cluster_chart(chart_id: str, title: str, hist: Counter) -> str:
    """Bars of `hist` (cluster size -> number of clusters), smallest size first."""
    sizes = sorted(hist)
    return hbar_chart(chart_id, title, [str(s) for s in sizes], [("clusters", [hist[s] for s in sizes])], width=GRID_W)


def _report_cluster_sizes(report: Any) -> Counter | None:
    """A size -> count mapping a dedup stage put in its report (`cluster_sizes` or similar), if any."""
    if not isinstance(report, dict):
        return None
    for k, v in report.items():
        if "cluster" in k and "size" in k and isinstance(v, dict):
            try:
                return Counter({int(a): int(b) for a, b in v.items()})
            except (TypeError, ValueError):
                continue
    return None


def section_dedup(run: RunData) -> Section:
    parts = []
    kept_per_cluster = run.data.dup_clusters
    for key in run.dedup_keys:
        from_report = _report_cluster_sizes(run.reports.get(key))
        if from_report:
            hist, src = from_report, "the stage's report"
        elif run.ledger.matched.get(key):
            # A dropped row's detail names the kept document of its cluster (minhash: its `_dup_cluster`).
            hist = Counter(kept_per_cluster.get(k, 1) + n for k, n in run.ledger.matched[key].items())
            src = "the ledger: the kept document plus the duplicates whose detail names it"
        else:
            hist, src = None, ""
        st = run.stage_stats.get(key, {})
        gone, seen = st.get("docs_rejected", 0), st.get("docs_in", 0)
        parts.append(
            f"<h3>{esc(key)}</h3><p>{num(gone)} duplicates removed of {num(seen)} documents ({pct(gone, seen)}).</p>"
        )
        if hist:
            parts.append(
                "<figure>"
                + _cluster_chart(f"chart-dedup-{key}", "clusters by size", hist)
                + f"<figcaption>{sum(hist.values()):,} clusters with duplicates, by size (documents per cluster), from "
                f"{esc(src)}.</figcaption></figure>"
            )
        else:
            parts.append(empty_note("No duplicate clusters recorded for this stage."))
        if run.reports.get(key):
            parts.append(f"<details><summary>report of {esc(key)}</summary>{render_json(run.reports[key])}</details>")
    if kept_per_cluster and (not parts or max(kept_per_cluster.values()) > 1):
        parts.append(
            "<h3>_dup_cluster in data/</h3><figure>"
            + _cluster_chart("chart-dup-cluster", "clusters by documents kept", Counter(kept_per_cluster.values()))
            + "<figcaption>Documents of the same cluster kept in data/ "
            f"({len(kept_per_cluster):,} clusters).</figcaption></figure>"
        )
    if not parts:
        return Section("dedup", "Deduplication", empty_note("No dedup stage ran in this run."))
    return Section("dedup", "Deduplication", "".join(parts))


def _curriculum_phases(cur: Any) -> list[dict[str, Any]]:
    phases = cur.get("phases") if isinstance(cur, dict) else cur
    if isinstance(phases, list):
        return [p for p in phases if isinstance(p, dict)]
    if isinstance(phases, dict):
        return [{"phase": k, **v} if isinstance(v, dict) else {"phase": k, "value": v} for k, v in phases.items()]
    return []


def section_curriculum(run: RunData) -> Section:
    phases = run.data.phases
    cur = run.curriculum
    if not phases and cur is None:
        return Section("curriculum", "Curriculum phases", empty_note("No curriculum stage ran (no _phase column)."))
    parts = []
    if phases:
        total_docs = sum(p.docs for p in phases.values()) or 1
        total_chars = sum(p.chars for p in phases.values()) or 1
        sources = sorted({s for p in phases.values() for s in p.sources})
        names = {str(p.get("phase")): p.get("name") for p in _curriculum_phases(cur)}
        rows = []
        for k in sorted(phases):
            p = phases[k]
            mix = ", ".join(f"{s} {pct(p.sources[s], p.docs)}" for s in sources if p.sources[s]) or "–"
            rows.append(
                [
                    (f"{k} {names[str(k)]}" if names.get(str(k)) else str(k)) if k >= 0 else "(none)",
                    p.docs,
                    pct(p.docs, total_docs),
                    p.chars,
                    pct(p.chars, total_chars),
                    p.difficulty_min if p.difficulty_n else None,
                    p.difficulty_max if p.difficulty_n else None,
                    p.difficulty_sum / p.difficulty_n if p.difficulty_n else None,
                    mix,
                ]
            )
        parts.append(
            html_table(
                ["phase", "docs", "share", "chars", "share", "difficulty min", "max", "mean", "source mix"],
                rows,
                numeric_from=1,
            )
        )
        labels = [f"phase {k}" for k in sorted(phases)]
        parts.append(
            '<div class="grid2"><figure>'
            + hbar_chart(
                "chart-phase-docs",
                "documents per phase",
                labels,
                [("docs", [phases[k].docs for k in sorted(phases)])],
                width=GRID_W,
            )
            + "<figcaption>Documents per phase, in training order.</figcaption></figure>"
        )
        with_diff = [k for k in sorted(phases) if phases[k].difficulty_n]
        if with_diff:
            parts.append(
                "<figure>"
                + range_chart(
                    "chart-phase-difficulty",
                    "difficulty range per phase",
                    [f"phase {k}" for k in with_diff],
                    [
                        (
                            phases[k].difficulty_min,
                            phases[k].difficulty_sum / phases[k].difficulty_n,
                            phases[k].difficulty_max,
                        )
                        for k in with_diff
                    ],
                )
                + "<figcaption>Difficulty min–max per phase; the dot is the mean.</figcaption></figure>"
            )
        parts.append("</div>")
    if cur is not None:
        listed = _curriculum_phases(cur)
        if listed:
            parts.append("<h3>Phases recorded in curriculum.json</h3>" + records_table(listed))
        skip = ("phases", "phase_boundaries")
        extra = {k: v for k, v in cur.items() if k not in skip} if isinstance(cur, dict) else {}
        if extra:
            parts.append("<h3>Curriculum settings</h3>" + render_json(extra))
    return Section("curriculum", "Curriculum phases", "".join(parts))


def _per_phase_targets(report: Any) -> dict[str, dict[str, Any]]:
    """{phase: {target, achieved, ...}} from a synthetic report, tolerant of its exact shape."""
    if not isinstance(report, dict):
        return {}
    for key in ("phases", "per_phase", "ratios"):
        v = report.get(key)
        if isinstance(v, list):
            out = {}
            for i, item in enumerate(v):
                if isinstance(item, dict):
                    out[str(item.get("phase", i))] = item
            if out:
                return out
        if isinstance(v, dict) and all(isinstance(x, dict) for x in v.values()):
            return {str(k): x for k, x in v.items()}
    return {}


def _first_number(d: dict[str, Any], *names: str) -> float | None:
    for n in names:
        for k, v in d.items():
            if n in k and is_number(v):
                return float(v)
    return None


def section_synthetic(run: RunData) -> Section:
    parts = []
    phases = run.data.phases
    has_source = "_source" in run.data.categorical
    keys = run.synthetic_keys
    n_synthetic = run.data.categorical.get("_source", Counter()).get("synthetic", 0)
    if not keys and not n_synthetic:
        return Section("synthetic", "Synthetic data", empty_note("No synthetic data in this run."))
    if has_source:
        counts = run.data.categorical["_source"]
        total = sum(counts.values())
        parts.append(
            f"<p>Synthetic documents in data/: {num(counts.get('synthetic', 0))} of {num(total)} "
            f"({pct(counts.get('synthetic', 0), total)}).</p>"
        )
    target_rows = {}
    for key in keys:
        target_rows.update(_per_phase_targets(run.reports.get(key)))
    # One row per phase: the share of synthetic documents in data/, and the stage's own target and achieved
    # ratio (in its unit: documents or characters) when it reported them.
    phase_keys = [str(k) for k in sorted(phases)] if phases and has_source else list(target_rows)
    labels, in_data, achieved, targets = [], [], [], []
    for k in phase_keys:
        t = target_rows.get(k, {})
        p = phases.get(int(k)) if k.lstrip("-").isdigit() else None
        labels.append(f"phase {k}")
        in_data.append(p.sources.get("synthetic", 0) / p.docs if p is not None and p.docs and has_source else None)
        achieved.append(_first_number(t, "achieved", "actual") if t else None)
        targets.append(_first_number(t, "target") if t else None)
    if labels:
        unit = next((r.get("unit") for r in (run.reports.get(k) for k in keys) if isinstance(r, dict)), None)
        rows = [
            [lab, *("–" if v is None else f"{v:.1%}" for v in (d, t, a))]
            for lab, d, t, a in zip(labels, in_data, targets, achieved, strict=True)
        ]
        unit_note = f" ({unit})" if unit else ""
        parts.append(html_table(["phase", "synthetic docs in data/", "target", f"achieved{unit_note}"], rows))
        series = [
            (name, vals)
            for name, vals in (("data/", in_data), ("target", targets), ("achieved", achieved))
            if any(v is not None for v in vals)
        ]
        parts.append(
            "<figure>"
            + hbar_chart("chart-synthetic", "synthetic share per phase", labels, series, fmt=lambda v: f"{v:.1%}")
            + "<figcaption>Synthetic share per phase: documents in data/, the configured target and the ratio the "
            "stage reports.</figcaption></figure>"
        )
    for key in keys:
        parts.append(f"<h3>Report of {esc(key)}</h3>" + render_json(run.reports.get(key)))
    return Section("synthetic", "Synthetic data", "".join(parts))
