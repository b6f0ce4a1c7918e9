"""Dataset versions under one output root, for scheduled runs that pick up new input.

With `output.mode: versions`, `output.dir` is a root holding `runs.json` (the run ledger), one run directory
per version (`v0001/`, `v0002/` ...) and `index/` (dedup indexes shared by all versions). A run curates only
input files whose (source, fingerprint) no completed version has curated; earlier versions are never
rewritten. A version that was interrupted is resumed by the next run with the same config, on the inputs it
had recorded, so a restart cannot skip or double-count files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipeline.io import InputFile
from pipeline.shards import read_json, write_json

LEDGER = "runs.json"


@dataclass
class VersionPlan:
    version: int
    run_dir: str
    inputs: list[InputFile]
    resumed: bool


def ledger(root: str) -> dict[str, Any]:
    path = os.path.join(root, LEDGER)
    return read_json(path) if os.path.exists(path) else {"runs": []}


def plan(root: str, config_hash: str, inputs: list[InputFile]) -> VersionPlan | None:
    """The version to run now, or None when every input file was curated before."""
    book = ledger(root)
    runs = book["runs"]
    unfinished = [r for r in runs if r["status"] == "running"]
    if unfinished and unfinished[-1]["config_hash"] == config_hash:
        r = unfinished[-1]
        recorded = {(i["source"], i["fingerprint"]) for i in r["inputs"]}
        again = [f for f in inputs if (f.source, f.fingerprint) in recorded]
        if len(again) == len(recorded):
            return VersionPlan(r["version"], os.path.join(root, r["dir"]), again, resumed=True)
    for r in unfinished:
        r["status"] = "abandoned"
    done = {(i["source"], i["fingerprint"]) for r in runs if r["status"] == "complete" for i in r["inputs"]}
    new = [f for f in inputs if (f.source, f.fingerprint) not in done]
    if not new:
        write_json(os.path.join(root, LEDGER), book)
        return None
    version = max((r["version"] for r in runs), default=0) + 1
    name = f"v{version:04d}"
    runs.append(
        {
            "version": version,
            "dir": name,
            "status": "running",
            "config_hash": config_hash,
            "started": _now(),
            "inputs": [{"source": f.source, "fingerprint": f.fingerprint, "size": f.size} for f in new],
        }
    )
    write_json(os.path.join(root, LEDGER), book)
    return VersionPlan(version, os.path.join(root, name), new, resumed=False)


def complete(root: str, version: int, docs_out: int, docs_rejected: int) -> None:
    book = ledger(root)
    for r in book["runs"]:
        if r["version"] == version:
            r.update(status="complete", finished=_now(), docs_out=docs_out, docs_rejected=docs_rejected)
    write_json(os.path.join(root, LEDGER), book)


def table(root: str) -> str:
    """The versions under an output root, one line each (`jingxuan runs`)."""
    runs = ledger(root)["runs"]
    if not runs:
        return f"{root}: no runs recorded"
    lines = [f"{'version':<9}{'status':<11}{'files':>6}{'docs out':>10}{'rejected':>10}  started              dir"]
    for r in runs:
        lines.append(
            f"{r['version']:<9}{r['status']:<11}{len(r['inputs']):>6}{r.get('docs_out', ''):>10}"
            f"{r.get('docs_rejected', ''):>10}  {r['started']:<20} {os.path.join(root, r['dir'])}"
        )
    return "\n".join(lines)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
