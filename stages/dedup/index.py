"""The persistent dedup indexes that later runs deduplicate against (one directory per stage).

Layout of a MinHash index directory:

    params.json                 threshold, num_perm, ngram, tokenizer, seed, bands, rows, hash scheme
    segments/seg-00000/         one segment per run that added documents (append-only)
        meta.json               run name, run dir, stage key, rows per part
        part-00000.bands.arrow  one uint64 column per band (`b0` ...), `has`
        part-00000.sig.npy      (rows, num_perm) uint32 signatures, for verification and estimated Jaccard
        part-00000.docs.arrow   `id`, `run` of the kept documents

The exact-dedup index has the same `params.json` + `segments/seg-NNNNN/meta.json` frame; its parts are the 128-bit
keys of kept documents partitioned by key bucket (see `stages.dedup.exact`), and `meta.json` also records the
segment's bucket count. `params.json` names the key definition, so the two kinds refuse each other's directory.

A segment is written under a temporary name and renamed when complete, so a killed run leaves the index as it
was. A re-run of the same run replaces its own segment instead of matching itself. "The same run" never depends
on absolute paths (a moved or copied run folder is the same run): a segment records the run's id (its output
folder's marker id and its place in that folder, `pipeline.outdir`) and the run folder's path relative to the
index; either one matching, with the stage key, makes the segment the run's own.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from typing import Any

from stages.core.atomic import read_json, write_json

PARAM_KEYS = ("threshold", "num_perm", "ngram", "tokenizer", "seed", "bands", "rows", "hash_scheme")


@dataclass(frozen=True)
class Owner:
    """The run and stage a segment belongs to."""

    run_id: str  # `GlobalContext.run_id`; "" when the runner gave none
    run_dir_rel: str  # the run folder relative to the index folder
    stage_key: str
    run_dir: str = ""  # absolute, only to recognise segments written before identities were relative

    def meta(self) -> dict[str, str]:
        return {"run_id": self.run_id, "run_dir_rel": self.run_dir_rel, "stage_key": self.stage_key}

    def owns(self, meta: dict) -> bool:
        if meta.get("stage_key") != self.stage_key:
            return False
        if self.run_id and meta.get("run_id") == self.run_id:
            return True
        if "run_dir_rel" in meta:
            return meta["run_dir_rel"] == self.run_dir_rel
        return meta.get("run_dir") == self.run_dir


class DedupIndex:
    def __init__(self, path: str, param_keys: tuple[str, ...] = PARAM_KEYS):
        self.path = os.path.abspath(path)
        self.param_keys = param_keys  # the parameters that must match for two runs' entries to compare
        self.params_path = os.path.join(self.path, "params.json")
        self.segments_dir = os.path.join(self.path, "segments")

    def exists(self) -> bool:
        return os.path.exists(self.params_path)

    def params(self) -> dict[str, Any] | None:
        return read_json(self.params_path) if self.exists() else None

    def check_params(self, params: dict[str, Any]) -> None:
        """Refuse an index built with other parameters: its band hashes and signatures would not compare."""
        have = self.params()
        if have is None:
            return
        if not any(k in have for k in self.param_keys):
            raise ValueError(
                f"dedup index {self.path} belongs to another kind of dedup stage (its params.json has "
                f"{sorted(have)}, this stage needs {list(self.param_keys)}); use another index_dir"
            )
        bad = [
            f"{k}: index has {have.get(k)!r}, stage has {params[k]!r}"
            for k in self.param_keys
            if have.get(k) != params[k]
        ]
        if bad:
            raise ValueError(
                f"dedup index {self.path} was built with other parameters ({'; '.join(bad)}); "
                "use the index's parameters or another index_dir"
            )

    def write_params(self, params: dict[str, Any]) -> None:
        if not self.exists():
            write_json(self.params_path, {k: params[k] for k in self.param_keys} | {"format": 1})

    def owner(self, run_dir: str, stage_key: str, run_id: str = "") -> Owner:
        run_dir = os.path.abspath(run_dir)
        return Owner(run_id, os.path.relpath(run_dir, self.path), stage_key, run_dir)

    def segments(self, exclude: Owner | None = None) -> list[tuple[str, dict]]:
        """(dir, meta) of complete segments in order, without those of `exclude` (the current run)."""
        if not os.path.isdir(self.segments_dir):
            return []
        out = []
        for name in sorted(os.listdir(self.segments_dir)):
            d = os.path.join(self.segments_dir, name)
            if not name.startswith("seg-") or not os.path.exists(os.path.join(d, "meta.json")):
                continue
            meta = read_json(os.path.join(d, "meta.json"))
            if exclude is not None and exclude.owns(meta):
                continue
            out.append((d, meta))
        return out

    def parts(self, exclude: Owner | None = None) -> list[dict]:
        """Every indexed part as a source: paths of its band table, signatures and ids, and its rows."""
        out = []
        for d, meta in self.segments(exclude):
            for i, rows in enumerate(meta["parts"]):
                if rows:
                    out.append(
                        {
                            "bands": os.path.join(d, f"part-{i:05d}.bands.arrow"),
                            "sig": os.path.join(d, f"part-{i:05d}.sig.npy"),
                            "meta": os.path.join(d, f"part-{i:05d}.docs.arrow"),
                            "rows": rows,
                            "run": meta["run"],
                            "run_dir": self.run_dir(meta),
                        }
                    )
        return out

    def run_dir(self, meta: dict) -> str:
        """Where the segment's run folder is now (resolved relative to the index, which moves with it)."""
        rel = meta.get("run_dir_rel")
        return os.path.normpath(os.path.join(self.path, rel)) if rel is not None else meta.get("run_dir", "")

    def new_segment_dir(self, stage_key: str) -> str:
        d = os.path.join(self.segments_dir, f".tmp-{stage_key}-{os.getpid()}")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        return d

    def commit_segment(self, tmp: str, meta: dict, owner: Owner) -> str:
        """Rename a finished segment into place (replacing this run's earlier segment, if any)."""
        write_json(os.path.join(tmp, "meta.json"), meta | owner.meta())
        mine = [d for d, m in self.segments() if owner.owns(m)]
        if mine:
            target = mine[0]
            trash = target + ".old"
            os.replace(target, trash)
            os.replace(tmp, target)
            shutil.rmtree(trash, ignore_errors=True)
            return target
        taken = [n for n in os.listdir(self.segments_dir) if n.startswith("seg-")]
        nxt = max((int(n[4:]) for n in taken if n[4:].isdigit()), default=-1) + 1
        target = os.path.join(self.segments_dir, f"seg-{nxt:05d}")
        os.replace(tmp, target)
        return target

    def summary(self) -> dict:
        segs = self.segments()
        return {
            "path": self.path,
            "params": self.params(),
            "segments": len(segs),
            "documents": sum(sum(m["parts"]) for _, m in segs),
            "runs": [m["run"] for _, m in segs],
        }
