"""A run directory -> one self-contained `report.html` a person can read offline.

Everything is inline (CSS, charts as SVG, no JavaScript or network fonts), so the file can be mailed,
archived beside the data, or opened on a machine with no internet. Only `manifest.json` is required; a
section without its data says so. Modules: `run_data` reads the run directory, `thresholds` finds the
configured thresholds per signal column, `markup` and `charts` are the HTML and SVG building blocks, the
`sections_*` modules render one topic each, and `page` assembles and writes the file. `dedup_inspect` and
`phases` read a run directory for the `dedup-inspect` and `stats` commands.
"""

from pipeline.report.page import REPORT_NAME, open_report, render_html, report_command, write_report
from pipeline.report.run_data import SAMPLE_VALUES, RunData, load_run
from pipeline.report.sections_drops import EXAMPLE_CHARS, excerpt, funnel_records
from pipeline.report.thresholds import Threshold, signal_thresholds

__all__ = [
    "EXAMPLE_CHARS",
    "REPORT_NAME",
    "SAMPLE_VALUES",
    "RunData",
    "Threshold",
    "excerpt",
    "funnel_records",
    "load_run",
    "open_report",
    "render_html",
    "report_command",
    "signal_thresholds",
    "write_report",
]
