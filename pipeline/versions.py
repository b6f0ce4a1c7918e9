"""Dataset versions under one output root, for scheduled runs that pick up new input.

With `output.mode: versions`, `output.dir` is a root holding `runs.json` (the run ledger), one run directory
per version (`v0001/`, `v0002/` ...) and `index/` (dedup indexes shared by all versions). A run curates only
input files whose (source, fingerprint) no completed version has curated; earlier versions are never
rewritten. A version that was interrupted is resumed by the next run with the same config, on the inputs it
had recorded, so a restart cannot skip or double-count files.

`output.mode: append` does the same and also keeps `data/` at the root: one dataset whose files are every
complete version's data files in order (hard links, so nothing earlier is copied or rewritten).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.card import CARD_NAME, appended_card
from pipeline.io.files import InputError, InputFile
from pipeline.io.writer import fresh_dir, publish_dir, write_state
from stages.core.atomic import read_json, write_json
from stages.core.shards import shard_schema

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
    unfinished = [r for r in runs if r["status"] in ("running", "failed")]
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
            r.pop("error", None)
    write_json(os.path.join(root, LEDGER), book)


def fail(root: str, version: int, reason: str) -> None:
    """A version that stopped short: the next run with the same config resumes it."""
    book = ledger(root)
    for r in book["runs"]:
        if r["version"] == version and r["status"] != "complete":
            r.update(status="failed", error=reason)
    write_json(os.path.join(root, LEDGER), book)


def publish_appended(root: str, extra: int | None = None, extra_docs: int = 0) -> dict[str, int]:
    """`root/data`: all complete versions' data files (and version `extra`, about to complete, holding
    `extra_docs` documents) as one `datasets` folder, earlier versions first. A version is marked complete only
    after this succeeded with it."""
    files, info, cards = [], None, []
    for r in ledger(root)["runs"]:
        if r["status"] != "complete" and r["version"] != extra:
            continue
        data = os.path.join(root, r["dir"], "data")
        state = read_json(os.path.join(data, "state.json"))
        names = [f["filename"] for f in state["_data_files"]]
        first = shard_schema(os.path.join(data, names[0]))
        if info is not None and not first.equals(info[1]):
            raise InputError(
                f"{root}: version {r['dir']} has other columns or types than the versions before it "
                f"({first.names} vs {info[1].names}); append needs one schema: use output.mode: versions"
            )
        info = (os.path.join(data, "dataset_info.json"), first)
        files += [(r["dir"], os.path.join(data, n), state["_fingerprint"]) for n in names]
        card = Path(data, CARD_NAME)
        text = card.read_text(encoding="utf-8") if card.exists() else None
        cards.append((r["dir"], extra_docs if r["version"] == extra else r["docs_out"], text))
    if info is None:
        return {"files": 0}
    tmp = fresh_dir(os.path.join(root, "data"))
    names = []
    for version, path, _ in files:
        name = f"{version}-{os.path.basename(path)}"
        os.link(path, os.path.join(tmp, name))
        names.append(name)
    write_state(tmp, names, hashlib.sha256("".join(fp for *_, fp in files).encode()).hexdigest()[:16])
    with open(info[0], "rb") as src, open(os.path.join(tmp, "dataset_info.json"), "wb") as dst:
        dst.write(src.read())
    with open(os.path.join(tmp, CARD_NAME), "w", encoding="utf-8") as fh:
        fh.write(appended_card(cards))
    publish_dir(tmp, os.path.join(root, "data"))
    return {"files": len(names)}


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
