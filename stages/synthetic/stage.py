"""Injection of synthetic documents at a target share per curriculum phase, at seeded positions.

Synthetic rows (`_source = synthetic`, from the run config's `synthetic:` sources) go through the same
normalisation, language, quality, dedup and decontamination stages as real rows and, when it ran, through
`curriculum`, which gives them a `_phase`. This stage runs last among the global stages: it takes the
synthetic rows out of the stream, decides how many go into each phase so that synthetic / (real + synthetic)
meets the phase's target (`ratio` for every phase, or `phase_ratios[p]`; counted in documents or in
characters), and places them at seeded positions among the phase's real documents, so the curriculum order
of real documents is kept. Without `_phase` the whole dataset is one phase.

Which synthetic documents go where (deterministic for a seed; independent of shard sizes and worker order):
each synthetic document gets a key `xxh3_64(seed:id)`. A phase first takes documents whose own `_phase` is
that phase, in key order; phases still short then take the remaining documents nearest in phase (then by
key), so a document computed as "hard" lands in a hard phase when it can. Documents not placed anywhere are
written to the ledger as `surplus` (detail: their phase and its target). When there are too few, `shortfall`
decides: `fail` raises before anything is written and names the shortfall per phase; `inject_available`
places what exists and reports the achieved ratio.

Memory: the planner holds, per synthetic document, its location, key, phase and length (~40 bytes: 10M
synthetic documents ~ 400 MB), and per phase only counts of real documents, never text. Output shards are
written one per input shard (in input order, so phase order is kept) by `ctx.map`; each task reads the
synthetic rows it places from their memory-mapped input shards.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash
from pydantic import Field, model_validator

from stages.base import GlobalContext, GlobalResult, GlobalStage
from stages.core.atomic import write_json
from stages.core.ledger import REJECTED_SCHEMA, rejected_batch
from stages.core.shards import ShardWriter, read_shard, shard_schema, write_parquet
from stages.core.stats import StageStats

SYNTHETIC = "synthetic"
PROVENANCE_REQUIRED = ("_gen_generator", "_gen_prompt_id")


class ShortfallError(ValueError):
    """Not enough synthetic documents for the configured ratios (policy `fail`)."""


class SyntheticInjection(GlobalStage):
    """Place synthetic documents at a target share per curriculum phase; see the module docstring."""

    name: ClassVar[str] = "synthetic"
    version: ClassVar[str] = "1"
    requires: ClassVar[tuple[str, ...]] = ("text", "_source")

    ratio: float | None = Field(None, ge=0, lt=1, description="target synthetic share in every phase")
    phase_ratios: list[float] | None = Field(None, description="target share per curriculum phase (0-based)")
    unit: Literal["docs", "chars"] = Field("docs", description="ratios count documents or characters")
    shortfall: Literal["fail", "inject_available"] = Field(
        "inject_available", description="too little synthetic data: fail, or inject what exists and report it"
    )
    seed: int | None = Field(None, description="defaults to the run's seed")

    @model_validator(mode="after")
    def _one_target(self) -> SyntheticInjection:
        if (self.ratio is None) == (self.phase_ratios is None):
            raise ValueError("give exactly one of ratio (every phase) or phase_ratios (one per phase)")
        for r in self.phase_ratios or []:
            if not 0 <= r < 1:
                raise ValueError(f"phase_ratios: each share must be in [0, 1), got {r}")
        return self

    def target(self, phase: int) -> float:
        if self.ratio is not None:
            return self.ratio
        assert self.phase_ratios is not None
        if phase >= len(self.phase_ratios):
            raise ValueError(
                f"synthetic: the data has phase {phase} but phase_ratios gives {len(self.phase_ratios)} values"
            )
        return self.phase_ratios[phase]

    def run(self, shards: list[str], ctx: GlobalContext) -> GlobalResult:
        seed = ctx.seed if self.seed is None else self.seed
        scans = ctx.map(_scan_shard, [ScanItem(p, seed) for p in shards])
        plan = self._plan(shards, scans)

        # shortfall policy, before anything is written
        short = {p: s for p, s in plan["shortfall"].items() if s > 0}
        if short and self.shortfall == "fail":
            what = "documents" if self.unit == "docs" else "characters"
            parts = ", ".join(
                f"phase {p}: {s} {what} short of {plan['targets'][p]:.0f} for ratio {self.target(p):g}"
                for p, s in sorted(short.items())
            )
            raise ShortfallError(f"synthetic: not enough synthetic data ({parts}); set shortfall: inject_available")

        items = [
            WriteItem(
                path=path,
                out=os.path.join(ctx.out_dir, f"part-{i:05d}.arrow"),
                inserts=plan["inserts"].get(i, {}),
                shards=shards,
            )
            for i, path in enumerate(shards)
        ]
        written = ctx.map(_write_shard, items)

        rejected = []
        surplus = plan["surplus"]
        if surplus:
            path = os.path.join(ctx.work_dir, "rejected-surplus.parquet")
            write_parquet(path, _surplus_batches(shards, surplus, ctx.keep_rejected_text, self.name), REJECTED_SCHEMA)
            rejected.append(path)

        n_real = sum(s["n_real"] for s in scans)
        n_syn = sum(len(s["syn_rows"]) for s in scans)
        injected = sum(len(v) for v in plan["per_phase_syn"].values())
        stats = StageStats(
            docs_in=n_real + n_syn,
            docs_out=sum(w["rows"] for w in written),
            docs_rejected=len(surplus),
            chars_in=sum(s["real_chars"] for s in scans) + sum(int(s["syn_chars"].sum()) for s in scans),
            chars_out=sum(w["chars"] for w in written),
        )
        if surplus:
            stats.reasons["surplus"] = len(surplus)
        stats.counters.update(
            {"real_docs": n_real, "synthetic_docs_in": n_syn, "synthetic_injected": injected, "surplus": len(surplus)}
        )
        report = self._report(plan, n_real, injected, len(surplus), seed)
        report_path = os.path.join(ctx.work_dir, "synthetic.json")
        write_json(report_path, report)
        return GlobalResult(
            shards=[it.out for it in items],
            rejected=rejected,
            stats=stats,
            report=report,
            files={"synthetic.json": report_path},
        )

    # -- planning ------------------------------------------------------------------------------------------
    def _plan(self, shards: list[str], scans: list[dict[str, Any]]) -> dict[str, Any]:
        # real documents per phase, and the phases' order in the stream (must be contiguous)
        real_docs: dict[int, int] = defaultdict(int)
        real_chars: dict[int, int] = defaultdict(int)
        order: list[int] = []
        where: list[tuple[int, int, int]] = []  # per run: (shard, phase, real rows in the run)
        for si, scan in enumerate(scans):
            for phase, n, chars in scan["runs"]:
                if order and order[-1] == phase:
                    pass
                elif phase in real_docs:
                    raise ValueError(
                        f"synthetic: phase {phase} appears again in {shards[si]} after phase {order[-1]}; "
                        "the input must be in curriculum order (phases contiguous)"
                    )
                else:
                    order.append(phase)
                real_docs[phase] += n
                real_chars[phase] += chars
                where.append((si, phase, n))

        # the synthetic pool
        syn_shard = np.concatenate([np.full(len(s["syn_rows"]), i, np.int64) for i, s in enumerate(scans)] or [[]])
        syn_row = np.concatenate([s["syn_rows"] for s in scans] or [[]]).astype(np.int64)
        syn_key = np.concatenate([s["syn_keys"] for s in scans] or [[]]).astype(np.uint64)
        syn_phase = np.concatenate([s["syn_phase"] for s in scans] or [[]]).astype(np.int64)
        syn_chars = np.concatenate([s["syn_chars"] for s in scans] or [[]]).astype(np.int64)
        phases = order or [0]
        for p in np.unique(syn_phase):
            if p >= 0 and p not in real_docs and p not in phases:
                phases.append(int(p))  # a phase with only synthetic documents: target 0 real -> 0 placed

        # targets
        unit_real = real_docs if self.unit == "docs" else real_chars
        targets = {p: self.target(p) * unit_real.get(p, 0) / (1 - self.target(p)) for p in phases}
        want = {p: round(t) for p, t in targets.items()}

        # assignment: own phase first (key order), then nearest phase
        by_key = np.lexsort((syn_row, syn_shard, syn_key))
        taken = np.zeros(len(syn_key), bool)
        got: dict[int, list[int]] = {p: [] for p in phases}
        amount = dict.fromkeys(phases, 0)
        size = np.ones(len(syn_key), np.int64) if self.unit == "docs" else syn_chars

        def fill(p: int, candidates: np.ndarray) -> None:
            for c in candidates:
                if amount[p] >= want[p]:
                    break
                if taken[c]:
                    continue
                taken[c] = True
                got[p].append(int(c))
                amount[p] += int(size[c])
            if self.unit == "chars" and got[p] and amount[p] > want[p]:
                last = got[p][-1]  # keep the last document only if that brings the share closer
                if amount[p] - want[p] > want[p] - (amount[p] - size[last]):
                    got[p].pop()
                    taken[last] = False
                    amount[p] -= int(size[last])

        for p in phases:
            fill(p, by_key[syn_phase[by_key] == p])
        for p in phases:
            if amount[p] < want[p]:
                rest = by_key[~taken[by_key]]
                near = np.lexsort((np.arange(len(rest)), np.abs(syn_phase[rest] - p)))
                fill(p, rest[near])

        # seeded positions among each phase's real documents
        seed = int(scans[0]["seed"]) if scans else 0
        inserts: dict[int, dict[int, list[tuple[int, int]]]] = defaultdict(lambda: defaultdict(list))
        # the run that holds each phase's j-th real document: (shard, local real index)
        phase_runs: dict[int, list[tuple[int, int, int]]] = defaultdict(list)  # (shard, start_local, n)
        local_seen: dict[int, int] = defaultdict(int)
        for si, phase, n in where:
            phase_runs[phase].append((si, local_seen[si], n))
            local_seen[si] += n
        for p in phases:
            chosen = got[p]
            k, r = len(chosen), real_docs.get(p, 0)
            if not k:
                continue
            if r == 0:
                continue  # cannot happen: a phase without real documents has target 0
            rng = np.random.default_rng([seed, p])
            slots = np.sort(rng.choice(r + k, size=k, replace=False))
            before = slots - np.arange(k)  # real documents of the phase that come before each synthetic one
            chosen_sorted = sorted(chosen, key=lambda c: (int(syn_key[c]), int(syn_shard[c]), int(syn_row[c])))
            runs = phase_runs[p]
            run_ends = np.cumsum([n for _, _, n in runs])
            for c, j in zip(chosen_sorted, before, strict=True):
                # insert after the phase's (j-1)-th real document (j = 0: before the first one)
                pos = int(j) - 1 if j > 0 else 0
                ri = int(np.searchsorted(run_ends, pos, side="right"))
                si, start, _ = runs[ri]
                local = start + pos - (int(run_ends[ri - 1]) if ri else 0)
                side = 1 if j > 0 else 0  # 1: after the real row, 0: before it
                inserts[si][2 * local + side].append((int(syn_shard[c]), int(syn_row[c]), int(p)))

        surplus = [(int(syn_shard[c]), int(syn_row[c]), int(syn_phase[c])) for c in by_key if not taken[c]]
        shortfall = {p: max(0, want[p] - amount[p]) for p in phases}
        syn_docs = {p: len(got[p]) for p in phases}
        syn_chars_p = {p: int(syn_chars[got[p]].sum()) if got[p] else 0 for p in phases}
        return {
            "phases": phases,
            "real_docs": dict(real_docs),
            "real_chars": dict(real_chars),
            "targets": targets,
            "per_phase_syn": got,
            "syn_docs": syn_docs,
            "syn_chars": syn_chars_p,
            "inserts": {k: dict(v) for k, v in inserts.items()},
            "surplus": [(s, r, ph, self._surplus_detail(ph, phases)) for s, r, ph in surplus],
            "shortfall": shortfall,
        }

    def _surplus_detail(self, phase: int, phases: list[int]) -> str:
        if phase < 0:
            return "no phase; all phase targets met"
        target = self.target(phase) if phase in phases or self.phase_ratios is None else 0.0
        return f"phase {phase} target {target:g} ({self.unit}) already met"

    def _report(self, plan: dict[str, Any], n_real: int, injected: int, surplus: int, seed: int) -> dict[str, Any]:
        rows = []
        for p in plan["phases"]:
            rd, sd = plan["real_docs"].get(p, 0), plan["syn_docs"][p]
            rc, sc = plan["real_chars"].get(p, 0), plan["syn_chars"][p]
            real, syn = (rd, sd) if self.unit == "docs" else (rc, sc)
            rows.append(
                {
                    "phase": p,
                    "real_docs": rd,
                    "synthetic_docs": sd,
                    "real_chars": rc,
                    "synthetic_chars": sc,
                    "target_ratio": self.target(p),
                    "achieved_ratio": round(syn / (real + syn), 6) if real + syn else 0.0,
                    "shortfall": plan["shortfall"][p],
                }
            )
        tr = sum(r["real_docs"] if self.unit == "docs" else r["real_chars"] for r in rows)
        ts = sum(r["synthetic_docs"] if self.unit == "docs" else r["synthetic_chars"] for r in rows)
        return {
            "unit": self.unit,
            "seed": seed,
            "shortfall_policy": self.shortfall,
            "phases": rows,
            "real_docs": n_real,
            "synthetic_docs": injected,
            "surplus_docs": surplus,
            "achieved_ratio": round(ts / (tr + ts), 6) if tr + ts else 0.0,
        }


# -- per-shard work (module level for ctx.map) -----------------------------------------------------------------


def _is_synthetic(batch: pa.RecordBatch) -> np.ndarray:
    if "_source" not in batch.schema.names:
        return np.zeros(batch.num_rows, bool)
    return pc.fill_null(pc.equal(batch.column("_source"), SYNTHETIC), False).to_numpy(zero_copy_only=False)


@dataclass(frozen=True)
class ScanItem:
    path: str
    seed: int


@dataclass(frozen=True)
class WriteItem:
    path: str  # the input shard
    out: str
    inserts: dict[int, list[tuple[int, int, int]]]  # slot -> (shard, row, phase placed in)
    shards: list[str]  # every input shard (synthetic rows are fetched from any of them)


def _scan_shard(item: ScanItem) -> dict[str, Any]:
    """Runs of real rows per phase, and the synthetic rows (location, key, phase, length), of one shard."""
    path, seed = item.path, item.seed
    names = shard_schema(path).names
    cols = [c for c in ("id", "text", "_source", "_phase", *PROVENANCE_REQUIRED) if c in names]
    runs: list[list[int]] = []
    syn_rows, syn_keys, syn_phase, syn_chars = [], [], [], []
    row0 = 0
    n_real = real_chars = 0
    for batch in read_shard(path, columns=cols):
        syn = _is_synthetic(batch)
        chars = pc.utf8_length(batch.column("text")).to_numpy(zero_copy_only=False).astype(np.int64)
        if "_phase" in names:
            ph_arr = batch.column("_phase")
            phase = pc.fill_null(ph_arr, -1).to_numpy(zero_copy_only=False).astype(np.int64)
            bad = np.flatnonzero((phase < 0) & ~syn)
            if len(bad):
                raise ValueError(f"synthetic: {path}: real row {batch.column('id')[int(bad[0])]} has no _phase")
        else:
            phase = np.zeros(batch.num_rows, np.int64)
        for i in np.flatnonzero(~syn):
            p = int(phase[i])
            if runs and runs[-1][0] == p:
                runs[-1][1] += 1
                runs[-1][2] += int(chars[i])
            else:
                runs.append([p, 1, int(chars[i])])
        n_real += int((~syn).sum())
        real_chars += int(chars[~syn].sum())
        idx = np.flatnonzero(syn)
        if len(idx):
            for col in PROVENANCE_REQUIRED:
                vals = batch.column(col) if col in batch.schema.names else pa.nulls(batch.num_rows, pa.string())
                missing = idx[np.asarray(pc.is_null(vals.take(pa.array(idx))).to_numpy(zero_copy_only=False))]
                if len(missing):
                    raise ValueError(
                        f"synthetic: {path}: synthetic row {batch.column('id')[int(missing[0])]} has no {col}; "
                        "give provenance in the source or defaults in the config's synthetic: section"
                    )
            ids = batch.column("id").take(pa.array(idx)).to_pylist()
            syn_rows.append(idx + row0)
            syn_keys.append(np.array([xxhash.xxh3_64_intdigest(f"{seed}:{i}".encode()) for i in ids], np.uint64))
            syn_phase.append(phase[idx])
            syn_chars.append(chars[idx])
        row0 += batch.num_rows

    def cat(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
        return np.concatenate(parts).astype(dtype) if parts else np.empty(0, dtype)

    return {
        "seed": seed,
        "runs": [tuple(r) for r in runs],
        "n_real": n_real,
        "real_chars": real_chars,
        "syn_rows": cat(syn_rows, np.int64),
        "syn_keys": cat(syn_keys, np.uint64),
        "syn_phase": cat(syn_phase, np.int64),
        "syn_chars": cat(syn_chars, np.int64),
    }


class _RowFetcher:
    """Rows by (shard, row) from memory-mapped input shards (pages are file-backed; nothing is copied)."""

    def __init__(self, shards: list[str]):
        self.shards = shards
        self._batches: dict[int, tuple[list[pa.RecordBatch], np.ndarray]] = {}

    def _open(self, si: int) -> tuple[list[pa.RecordBatch], np.ndarray]:
        if si not in self._batches:
            batches = list(read_shard(self.shards[si]))
            ends = np.cumsum([b.num_rows for b in batches])
            self._batches[si] = (batches, ends)
        return self._batches[si]

    def take(self, refs: list[tuple[int, int]]) -> pa.Table:
        """The rows in the order given (grouped per source batch, one `take` each)."""
        groups: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)  # (shard, batch) -> (pos, row)
        for pos, (si, row) in enumerate(refs):
            _, ends = self._open(si)
            bi = int(np.searchsorted(ends, row, side="right"))
            groups[(si, bi)].append((pos, row - (int(ends[bi - 1]) if bi else 0)))
        parts, positions = [], []
        for (si, bi), members in sorted(groups.items()):
            batch = self._open(si)[0][bi]
            parts.append(pa.Table.from_batches([batch.take(pa.array([r for _, r in members]))]))
            positions += [p for p, _ in members]
        table = pa.concat_tables(parts, promote_options="permissive") if len(parts) > 1 else parts[0]
        return table.take(pa.array(np.argsort(positions, kind="stable")))


def _write_shard(item: WriteItem) -> dict[str, int]:
    """One output shard: the input shard's real rows, with the planned synthetic rows inserted."""
    inserts = item.inserts
    fetch = _RowFetcher(item.shards)
    local = 0  # real rows of this shard seen so far
    rows = chars = 0
    w = ShardWriter(item.out)
    try:
        for batch in read_shard(item.path):
            real = batch.filter(pa.array(~_is_synthetic(batch)))
            refs: list[tuple[int, int, int]] = []
            order: list[int] = []  # output order: i < n = real row i, n + m = m-th inserted synthetic row
            n = real.num_rows
            for i in range(n):
                for side in (0, 1):
                    if side:
                        order.append(i)
                    placed = inserts.get(2 * (local + i) + side)
                    if placed:
                        order += range(n + len(refs), n + len(refs) + len(placed))
                        refs += placed
            local += n
            if not order:
                continue
            table = pa.Table.from_batches([real])
            if refs:
                injected = fetch.take([(si, row) for si, row, _ in refs])
                idx = injected.schema.get_field_index("_phase")
                if idx >= 0:  # a synthetic document belongs to the phase it is placed in, not the one it scored
                    phases = pa.array([ph for _, _, ph in refs]).cast(injected.schema.field(idx).type)
                    injected = injected.set_column(idx, "_phase", phases)
                table = pa.concat_tables([table, injected], promote_options="permissive")
            table = table.take(pa.array(order, pa.int64())).combine_chunks()
            for b in table.to_batches():
                w.write(b)
                rows += b.num_rows
                chars += int(pc.sum(pc.utf8_length(b.column("text"))).as_py() or 0)
        w.close(empty_schema=shard_schema(item.path))
    except BaseException:
        w.abort()
        raise
    return {"rows": rows, "chars": chars}


def _surplus_batches(shards: list[str], surplus: list[tuple[int, int, int, str]], keep_text: bool, stage: str):
    fetch = _RowFetcher(shards)
    for start in range(0, len(surplus), 2000):
        part = surplus[start : start + 2000]
        table = fetch.take([(s, r) for s, r, _, _ in part])
        yield rejected_batch(
            table.column("id").combine_chunks(),
            stage,
            ["surplus"] * len(part),
            details=[d for *_, d in part],
            texts=table.column("text").combine_chunks() if keep_text else None,
        )
