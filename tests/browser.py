"""Headless Chromium for tests, with no Python package beyond the standard library.

`find_chromium()` looks for a browser on PATH (or `$JINGXUAN_CHROMIUM`); tests that need one skip without it
(install Debian's `chromium` package to run them: tests never install software). `screenshot()` and
`dump_dom()` run one headless browser each; `probe_page()` copies a page with a small script appended that
records, after layout, every `svg.chart` with its size and number of `.mark` elements, every error event
(script errors, resources that failed to load) and every resource the page fetched, so `--dump-dom` returns
them in the DOM. Console messages come from `--enable-logging=stderr` lines containing `:CONSOLE`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--enable-logging=stderr",
    "--v=0",
)
TIMEOUT = 120

PROBE = """
<script id="jx-probe">
(function () {
  var charts = [];
  document.querySelectorAll("svg.chart").forEach(function (svg) {
    var box = svg.getBoundingClientRect();
    var marks = svg.querySelectorAll(".mark");
    var visible = 0;
    marks.forEach(function (m) { var b = m.getBBox(); if (b.width > 0 || b.height > 0) visible++; });
    charts.push({id: svg.id, width: box.width, height: box.height, marks: marks.length, visible: visible});
  });
  var resources = performance.getEntriesByType("resource").map(function (r) { return r.name; });
  var out = document.createElement("pre");
  out.id = "jx-probe-result";
  out.textContent = JSON.stringify({charts: charts, errors: window.__jxErrors || [], resources: resources,
                                    fonts: document.fonts ? document.fonts.status : ""});
  document.body.appendChild(out);
})();
</script>
"""
PROBE_HEAD = """<script id="jx-probe-errors">window.__jxErrors = [];
window.addEventListener("error", function (e) {
  window.__jxErrors.push(e.message || ("failed to load " + ((e.target && (e.target.src || e.target.href)) || "?")));
}, true);</script>"""

_CONSOLE = re.compile(r":CONSOLE[:(]\d+\)?\]\s*(.*)$")


def find_chromium() -> str | None:
    override = os.environ.get("JINGXUAN_CHROMIUM")
    if override:
        return override if os.path.exists(override) else shutil.which(override)
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _run(binary: str, args: list[str], profile: Path) -> subprocess.CompletedProcess:
    profile.mkdir(parents=True, exist_ok=True)
    cmd = [binary, *FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, errors="replace")


def console_messages(stderr: str) -> list[str]:
    """Messages the page wrote to the console (Chromium logs them all, errors included, as CONSOLE lines)."""
    return [m.group(1) for line in stderr.splitlines() if (m := _CONSOLE.search(line))]


def screenshot(binary: str, page: Path, png: Path, profile: Path, size: str = "1280,4000") -> list[str]:
    """Screenshot of `page`; returns the console messages logged while rendering it."""
    proc = _run(binary, [f"--screenshot={png}", f"--window-size={size}", page.resolve().as_uri()], profile)
    if not png.exists():
        raise RuntimeError(f"chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return console_messages(proc.stderr)


def dump_dom(binary: str, page: Path, profile: Path, size: str = "1280,4000") -> tuple[str, list[str]]:
    """The DOM after scripts ran, and the console messages."""
    proc = _run(binary, ["--dump-dom", f"--window-size={size}", page.resolve().as_uri()], profile)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise RuntimeError(f"chromium --dump-dom failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return proc.stdout, console_messages(proc.stderr)


@dataclass
class Probe:
    charts: list[dict]
    errors: list[str]
    resources: list[str]
    console: list[str]
    dom: str


def probe_page(binary: str, page: Path, profile: Path) -> Probe:
    """Load a copy of `page` with the probe script and return what it recorded."""
    html = page.read_text(encoding="utf-8")
    html = html.replace("<head>", "<head>" + PROBE_HEAD, 1).replace("</body>", PROBE + "</body>", 1)
    copy = page.with_name(page.stem + ".probe.html")
    copy.write_text(html, encoding="utf-8")
    dom, console = dump_dom(binary, copy, profile)
    m = re.search(r'<pre id="jx-probe-result">(.*?)</pre>', dom, re.S)
    if not m:
        raise RuntimeError("the probe script did not run (no #jx-probe-result in the DOM)")
    import html as htmlmod

    data = json.loads(htmlmod.unescape(m.group(1)))
    return Probe(data["charts"], data["errors"], data["resources"], console, dom)
