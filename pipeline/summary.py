"""The one-screen summary printed at the end of a run."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.runner import RunResult


def summary_text(result: RunResult, max_reasons: int = 6) -> str:
    s = result.stats
    share = s.docs_out / s.docs_in if s.docs_in else 0.0
    lines = [
        f"docs in {s.docs_in:,}  ->  out {s.docs_out:,} ({share:.1%})  rejected {s.docs_rejected:,}"
        f"  in {result.seconds:.1f} s ({result.skipped_tasks}/{result.total_tasks} tasks already done)",
        "",
    ]
    synthetic = any(k.startswith("synthetic.") for st in s.stages.values() for k in st.counters)
    syn_head = f"{'synthetic':>13}" if synthetic else ""
    lines.append(f"{'stage':<24}{'in':>10}{'out':>10}{'dropped':>10}{syn_head}  top reasons")
    for key, st in s.stages.items():
        reasons = ", ".join(f"{r} {n:,}" for r, n in st.reasons.most_common(max_reasons))
        would = [(k.removeprefix("would_drop."), n) for k, n in st.counters.items() if k.startswith("would_drop.")]
        if would:
            reasons += (", " if reasons else "") + "annotate: " + ", ".join(f"{r} {n:,}" for r, n in would)
        other = [
            (k, n)
            for k, n in st.counters.items()
            if not k.startswith(("would_drop.", "synthetic.")) and k not in st.reasons
        ]
        if other:
            reasons += (", " if reasons else "") + ", ".join(f"{k} {n:,}" for k, n in other[:max_reasons])
        syn = ""
        if synthetic:
            c = st.counters
            syn = f"{c.get('synthetic.docs_in', ''):>6}->{c.get('synthetic.docs_out', ''):<5}"
        lines.append(f"{key:<24}{st.docs_in:>10,}{st.docs_out:>10,}{st.docs_rejected:>10,}{syn:>13}  {reasons}")
    lines += [
        "",
        f"output    {result.run_dir}/data   (datasets.load_from_disk)",
        f"ledger    {result.run_dir}/rejected   ({result.rejected_rows:,} rows: id, stage, reason, detail, text)",
        f"manifest  {result.run_dir}/manifest.json   stats {result.run_dir}/stats.json",
    ]
    return "\n".join(lines)
