"""The page: sections in reading order, the CSS, and writing report.html atomically."""

from __future__ import annotations

import os
import webbrowser
from pathlib import Path

from pipeline.report.markup import esc
from pipeline.report.run_data import SAMPLE_VALUES, RunData, load_run
from pipeline.report.sections_data import section_language, section_signals
from pipeline.report.sections_drops import section_examples, section_funnel, section_reasons
from pipeline.report.sections_eval import section_curriculum_eval
from pipeline.report.sections_global import section_curriculum, section_dedup, section_synthetic
from pipeline.report.sections_run import section_counters, section_manifest, section_overview, section_timing
from pipeline.report.sections_sources import section_sources
from stages.core.atomic import atomic_path

REPORT_NAME = "report.html"

SECTIONS = (
    section_overview,
    section_funnel,
    section_reasons,
    section_examples,
    section_signals,
    section_sources,
    section_language,
    section_dedup,
    section_curriculum,
    section_curriculum_eval,
    section_synthetic,
    section_counters,
    section_timing,
    section_manifest,
)

CSS = """
:root { --fg:#1d2330; --muted:#667085; --line:#e3e7ee; --bg:#f6f7f9; --accent:#3b6fb6; }
* { box-sizing: border-box; }
body { margin:0; font-family: system-ui, -apple-system, "Segoe UI", "Noto Sans CJK SC", "Noto Sans SC",
  "PingFang SC", "Microsoft YaHei", "WenQuanYi Micro Hei", sans-serif; color:var(--fg); background:var(--bg);
  font-size:14px; line-height:1.5; }
header { background:#1f3556; color:#fff; padding:18px 32px; }
header h1 { margin:0; font-size:22px; font-weight:600; }
header .sub { color:#c8d3e6; font-size:13px; }
main { max-width:1180px; margin:0 auto; padding:16px 24px 48px; }
nav.toc { background:#fff; border:1px solid var(--line); border-radius:8px; padding:10px 16px; margin:12px 0; }
nav.toc ol { margin:4px 0; padding-left:20px; columns:3; }
nav.toc a { color:var(--accent); text-decoration:none; }
section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:14px 20px; margin:16px 0; }
section h2 { margin:0 0 10px; font-size:18px; border-bottom:1px solid var(--line); padding-bottom:6px; }
h3 { font-size:15px; margin:16px 0 6px; } h4 { font-size:14px; margin:12px 0 4px; }
table { border-collapse:collapse; margin:6px 0 12px; font-size:13px; }
th, td { border-bottom:1px solid var(--line); padding:3px 10px; text-align:left; vertical-align:top; }
th { background:#f0f3f8; font-weight:600; } td.n, th.n { text-align:right; font-variant-numeric:tabular-nums; }
table.kv td:first-child { color:var(--muted); white-space:nowrap; }
.cards { display:flex; flex-wrap:wrap; gap:10px; margin-bottom:10px; }
.card { border:1px solid var(--line); border-radius:8px; padding:8px 14px; min-width:150px; background:#fbfcfe; }
.card .k { color:var(--muted); font-size:12px; } .card .v { font-size:18px; font-weight:600; }
.grid2 { display:grid; grid-template-columns:repeat(auto-fill, minmax(520px, 1fr)); gap:8px 20px; }
figure { margin:8px 0; } figcaption { color:var(--muted); font-size:12px; }
svg.chart { max-width:100%; height:auto; display:block; font-size:11px; }
svg .lbl { fill:#344054; } svg .val { fill:var(--muted); } svg .thr { fill:#c0392b; font-size:10px; }
svg .axis { stroke:#98a2b3; stroke-width:1; } svg .axis-title { fill:#344054; font-weight:600; }
svg .threshold { stroke:#c0392b; stroke-width:1.5; stroke-dasharray:4 3; }
svg .drop { fill:#c0392b; fill-opacity:0.07; }
.example { border-left:3px solid #e08a2e; background:#fffaf3; padding:4px 10px; margin:6px 0; }
.example .meta { color:var(--muted); font-size:12px; }
.example .doc { white-space:pre-wrap; word-break:break-word; }
.empty { color:var(--muted); font-style:italic; } .constant { margin:2px 0; }
.note { color:var(--muted); } .muted { color:var(--muted);
  font-weight:normal; }
pre { background:#f6f8fa; border:1px solid var(--line); padding:10px; overflow:auto; font-size:12px; max-height:480px; }
code { background:#f1f3f6; padding:0 3px; border-radius:3px; font-size:12px; }
"""


def render_html(run: RunData) -> str:
    sections = [fn(run) for fn in SECTIONS]
    m = run.manifest
    title = f"jingxuan run report: {m.get('name', os.path.basename(os.path.abspath(run.run_dir)))}"
    toc = "".join(f'<li><a href="#{s.id}">{esc(s.title)}</a></li>' for s in sections)
    body = "".join(f'<section id="{s.id}"><h2>{esc(s.title)}</h2>{s.body}</section>' for s in sections)
    when = f"{m.get('started', '')} → {m.get('finished', '')}"
    sub = f"{m.get('status', '?')} · {when} · config {m.get('config_hash', '')}"
    return (
        '<!DOCTYPE html>\n<html lang="zh-Hans"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f'<header><h1>{esc(title)}</h1><div class="sub">{esc(sub)}</div></header>'
        f'<main><nav class="toc"><b>Contents</b><ol>{toc}</ol></nav>{body}</main></body></html>\n'
    )


def write_report(run_dir: str, sample_values: int = SAMPLE_VALUES) -> str:
    """Write `run_dir/report.html` (atomically) and return its path."""
    run = load_run(run_dir, sample_values)
    path = os.path.join(run_dir, REPORT_NAME)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(render_html(run))
    return path


def open_report(path: str) -> bool:
    """Open a report in the user's browser; False when no browser could be started."""
    return webbrowser.open(Path(path).resolve().as_uri())


def report_command(run_dir: str, open_browser: bool = False) -> str:
    """`jingxuan report RUN_DIR [--open]`: regenerate report.html; returns the line to print."""
    path = write_report(run_dir)
    line = f"report  {path}"
    if open_browser and not open_report(path):
        line += "  (no browser found; open the file by hand)"
    return line
