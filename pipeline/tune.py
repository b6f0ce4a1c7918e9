"""Thresholds from labelled samples: `jingxuan tune RUN_DIR --good F.. --bad F..`.

Reads a run whose filters ran with `mode: annotate` (every signal recorded, nothing dropped), labels its
documents good or bad by the input file they came from (or by a column value, `source=news`), and for every
threshold of every filter (the stage's `thresholds` declaration, or `min_<col>`/`max_<col>` parameters)
shows what each candidate value would keep of every labelled group. Decisions are re-made from the recorded
signals by the filters' own `reasons()` with new parameters, nothing is recomputed (dolma's "score once,
decide cheaply").

A proposal holds on every good group, not on their pool: for each threshold, `limit` is the strictest value
at which *each* good group loses at most `max_loss` to that rule alone. A threshold that drops more than that
of some good group is loosened to `limit`, unless that lets a bad document back in: then it is reported as
a conflict between the labels and left for a person. Tightening is off by default: leave-one-source-out on
the shared corpora (bench/quality_eval.py --loso, docs/zh_web.md) showed that thresholds tightened to the
edge of the labelled good sources drop the good text those sources lack (every labelled Wikipedia passage, abstract and
news article is one line, so `min_mean_line_len` was pulled to 46 and every converted-PDF document went),
while the bad pages kept fell by almost nothing. With `tighten`, a threshold looser than `limit` moves to it
when that drops ≥ 5% more of the bad documents and the limit is not a value many good documents share. The
proposals are then checked together: the combined keep rate per group, before and after.
"""

from __future__ import annotations

import copy
import fnmatch
import glob
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from pipeline.report.decisions import Verdict, filter_specs, param_value, set_param, stage_params, verdicts
from pipeline.report.thresholds import signal_thresholds
from stages.base import STAGES, Filter

MIN_GAIN = 0.05  # a tightened threshold must drop this much more of the bad documents (pooled share)
MAX_SHARE_AT_LIMIT = 0.05  # ... and must not sit on a value more than this share of good documents have


class TuneError(ValueError):
    """A user error: the run was not annotated, a label matches nothing; the message says which."""


LOSSES = (0.0, 0.005, 0.01, 0.02, 0.05, 0.1)  # the rows of each threshold table, besides current and proposed


@dataclass(frozen=True)
class Knob:
    """One threshold parameter of one filter."""

    stage: str  # stage key in the run
    param: str  # parameter path, e.g. min_ratio or max_top_ngram_frac.2
    column: str  # the signal column it bounds
    side: str  # "min": values below are dropped; "max": values above are dropped
    value: float  # the run's value
    integer: bool = False

    @property
    def label(self) -> str:
        return f"{self.stage}.{self.param}"


@dataclass
class TuneResult:
    good: list[str]
    bad: list[str]
    max_loss: float
    tighten: bool
    knobs: list[Knob]
    proposed: dict[Knob, float]
    conflicts: dict[Knob, float]  # knob -> the limit the good groups want, not taken: it lets in more bad
    tables: dict[Knob, list[tuple[str, float, dict[str, float]]]]  # knob -> (label, value, keep per group)
    before: dict[str, Verdict]
    after: dict[str, Verdict]

    def changes(self) -> dict[Knob, float]:
        return {k: v for k, v in self.proposed.items() if v != k.value}


# -- which parameters are thresholds ---------------------------------------------------------------------------


def knobs_of(stage_specs: list[dict[str, Any]], columns: list[str]) -> list[Knob]:
    specs = filter_specs(stage_specs, columns)
    out = []
    for col, found in signal_thresholds(specs, columns).items():
        if col not in columns:
            continue
        for t in found:
            if t.side in ("min", "max"):
                raw = param_value(stage_params(specs, t.stage), t.param)
                out.append(Knob(t.stage, t.param, col, t.side, t.value, isinstance(raw, int)))
    order = {s.get("key") or s["name"]: i for i, s in enumerate(specs)}
    return sorted(out, key=lambda k: (order.get(k.stage, 0), k.column, k.param))


# -- proposing ---------------------------------------------------------------------------------------------------


def _values(batch: pa.RecordBatch, column: str) -> np.ndarray:
    return batch.column(column).to_numpy(zero_copy_only=False).astype(np.float64)


def keep_rate(values: np.ndarray, side: str, threshold: float) -> float:
    """Share of `values` the rule keeps on its own (NaN signals are kept, as the filters keep them)."""
    if len(values) == 0:
        return float("nan")
    drop = values < threshold if side == "min" else values > threshold
    return 1.0 - float(np.count_nonzero(drop)) / len(values)


def limit(knob: Knob, good: Mapping[str, np.ndarray], max_loss: float) -> float | None:
    """The strictest threshold at which every good group loses at most `max_loss` of its documents to this
    rule alone, or one document when that is more (max_loss > 0): in a group of 7, one dropped document is as
    likely a wrong label as a wrong rule, and must not pull a threshold on its own."""
    per_group = []
    for v in good.values():
        v = np.sort(v[~np.isnan(v)])
        if not len(v):
            continue
        k = int(np.floor(max_loss * len(v) + 1e-9))
        k = min(max(k, 1 if max_loss > 0 else 0), len(v) - 1)
        per_group.append(float(v[len(v) - 1 - k] if knob.side == "max" else v[k]))
    if not per_group:
        return None
    value = max(per_group) if knob.side == "max" else min(per_group)
    if knob.integer:
        value = float(np.ceil(value) if knob.side == "max" else np.floor(value))
    return value


def _bad_gain(knob: Knob, bad: Mapping[str, np.ndarray], frm: float, to: float) -> float:
    """How much more of the pooled bad documents the rule drops at `to` than at `frm` (negative: fewer)."""
    pooled = np.concatenate(list(bad.values())) if bad else np.zeros(0)
    if not len(pooled):
        return 0.0
    return keep_rate(pooled, knob.side, frm) - keep_rate(pooled, knob.side, to)


def propose(
    knob: Knob,
    good: Mapping[str, np.ndarray],
    bad: Mapping[str, np.ndarray],
    max_loss: float,
    tighten: bool = False,
    min_gain: float = MIN_GAIN,
) -> tuple[float, float | None]:
    """(proposed value, a limit that was not taken because it conflicts with the bad samples, or None)."""
    lim = limit(knob, good, max_loss)
    if lim is None or lim == knob.value:
        return knob.value, None
    stricter = lim < knob.value if knob.side == "max" else lim > knob.value
    gain = _bad_gain(knob, bad, knob.value, lim)
    if not stricter:
        # the run's value drops more than max_loss of a good group: loosen it, unless that lets any bad
        # document back in; then the labels disagree (a good source with copied paragraph blocks, a "clean"
        # page that is a name list) and a person decides
        return (lim, None) if gain >= 0 else (knob.value, lim)
    if not tighten:
        return knob.value, None
    # Tightening is where tuning overfits: the held-out source that sits just past the edge of the labelled
    # good ones is dropped. So tighten only (1) where it drops at least `min_gain` more of the bad documents,
    # and (2) not onto a value many good documents share (all good text has 0 bullet lines, or is one line):
    # such a limit says only that the labelled good sources lack a form other good text has.
    pooled_good = np.concatenate([v[~np.isnan(v)] for v in good.values()])
    at_limit = float(np.mean(pooled_good == lim)) if len(pooled_good) else 1.0
    return (lim if gain >= min_gain and at_limit <= MAX_SHARE_AT_LIMIT else knob.value), None


def _rounded(knob: Knob, value: float) -> float:
    if knob.integer:
        return int(value)
    # 4 significant digits, rounded away from the side that would drop the limiting good document
    mag = 10 ** (np.floor(np.log10(abs(value))) - 3) if value else 1.0
    return float((np.ceil if knob.side == "max" else np.floor)(value / mag) * mag)


def tune(
    stage_specs: list[dict[str, Any]],
    good: Mapping[str, pa.RecordBatch],
    bad: Mapping[str, pa.RecordBatch],
    max_loss: float = 0.01,
    extra: Mapping[str, pa.RecordBatch] | None = None,
    tighten: bool = False,
) -> TuneResult:
    """Propose thresholds from labelled annotated batches (one per group); `extra` groups are only reported."""
    if not good:
        raise TuneError("tune: no good documents (is the labelled file an input of the run?)")
    columns = next(iter(good.values())).schema.names
    knobs = knobs_of(stage_specs, columns)
    groups = {**good, **bad, **(extra or {})}
    proposed, tables, conflicts = {}, {}, {}
    for knob in knobs:
        gv = {k: _values(b, knob.column) for k, b in good.items()}
        bv = {k: _values(b, knob.column) for k, b in bad.items()}
        value, conflict = propose(knob, gv, bv, max_loss, tighten)
        proposed[knob] = _rounded(knob, value) if value != knob.value else knob.value
        if conflict is not None:
            conflicts[knob] = _rounded(knob, conflict)
        rows = [("current", knob.value), ("proposed", proposed[knob])]
        for loss in LOSSES:
            lim = limit(knob, gv, loss)
            if lim is not None:
                rows.append((f"good loss ≤ {loss:g}", _rounded(knob, lim)))
        seen, table = set(), []
        for label, v in rows:
            if v in seen and not label.startswith(("current", "proposed")):
                continue
            seen.add(v)
            keeps = {g: keep_rate(_values(b, knob.column), knob.side, v) for g, b in groups.items()}
            table.append((label, v, keeps))
        tables[knob] = table
    return TuneResult(
        good=list(good),
        bad=list(bad),
        max_loss=max_loss,
        tighten=tighten,
        knobs=knobs,
        proposed=proposed,
        conflicts=conflicts,
        tables=tables,
        before=verdicts(stage_specs, groups),
        after=verdicts(stage_specs, groups, proposed),
    )


# -- output ------------------------------------------------------------------------------------------------------


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:.4g}"


def format_result(result: TuneResult, all_tables: bool = True) -> str:
    groups = list(result.before)
    width = max(8, *(len(g) for g in groups))
    tag = {g: "good" if g in result.good else "bad" if g in result.bad else "other" for g in groups}
    lines = [
        f"good: {', '.join(result.good)}",
        f"bad:  {', '.join(result.bad) or '-'}",
        f"proposal: per threshold, the strictest value at which every good group loses ≤ {result.max_loss:g} to it "
        "alone, where the run's value drops more; "
        + ("tightened to it where that drops ≥ 5% more bad documents" if result.tighten else "never tightened"),
        "",
    ]
    head = f"  {'':24s}{'value':>10s}  " + "  ".join(f"{g[:width]:>{width}s}" for g in groups)
    for knob in result.knobs:
        if not all_tables and knob not in result.changes() and knob not in result.conflicts:
            continue
        side = "drop below" if knob.side == "min" else "drop above"
        mark = "  <- changed" if knob in result.changes() else "  <- conflict" if knob in result.conflicts else ""
        lines.append(f"{knob.label} ({knob.column}, {side}){mark}")
        lines.append(head)
        for label, v, keeps in result.tables[knob]:
            cells = "  ".join(f"{keeps[g]:>{width}.3f}" for g in groups)
            lines.append(f"  {label:24s}{_fmt(v):>10s}  {cells}")
        lines.append("")
    lines.append("combined keep (every filter, in run order)")
    lines.append(
        f"  {'group':{width}s}  {'label':5s} {'docs':>6s} {'before':>7s} {'after':>7s}  top drop reasons after"
    )
    for g in groups:
        b, a = result.before[g], result.after[g]
        top = ", ".join(f"{r} {n / a.docs:.2f}" for r, n in a.reasons.most_common(3))
        lines.append(f"  {g:{width}s}  {tag[g]:5s} {a.docs:6d} {b.keep:7.3f} {a.keep:7.3f}  {top}")
    changes = result.changes()
    lines.append("")
    lines.append(
        "changes: "
        + (", ".join(f"{k.label} {_fmt(k.value)} -> {_fmt(v)}" for k, v in changes.items()) if changes else "none")
    )
    for k, v in result.conflicts.items():
        lines.append(
            f"conflict: {k.label} drops more than {result.max_loss:g} of a good group, but loosening it to {_fmt(v)} "
            "would keep more of the bad ones: left at "
            f"{_fmt(k.value)}; check the labels of the documents it drops"
        )
    return "\n".join(lines)


def recipe(config: dict[str, Any], proposed: Mapping[Knob, float], output_dir: str | None = None) -> dict[str, Any]:
    """The run's config (as in its manifest) with every filter in `mode: filter` and the proposed thresholds;
    paths made absolute so the file runs from anywhere, output to `output_dir`."""
    cfg = copy.deepcopy(config)
    base = cfg.get("base_dir") or "."

    def absolute(path: str) -> str:
        return path if os.path.isabs(path) or "://" in path else os.path.normpath(os.path.join(base, path))

    stages = []
    for spec in cfg.get("stages", []):
        key = spec.get("key") or spec["name"]
        params = dict(spec.get("params") or {})
        for knob, value in proposed.items():
            if knob.stage == key and value != knob.value:
                set_param(params, knob.param, value)
        if params.get("mode") == "annotate":
            params["mode"] = "filter"
        stages.append({spec["name"]: params})
    out = {k: v for k, v in cfg.items() if k not in ("stages", "base_dir")}
    out["input"] = {**out["input"], "paths": [absolute(p) for p in out["input"]["paths"]]}
    out["output"] = {**out["output"], "dir": output_dir or absolute(out["output"]["dir"])}
    for src in out.get("synthetic") or []:
        src["paths"] = [absolute(p) for p in src["paths"]]
    out["stages"] = stages
    return out


def annotated(config: Any) -> Any:
    """A RunConfig with every filter in `mode: annotate` (`jingxuan run --annotate`): the run to tune from."""
    from pipeline.config import validate_config

    raw = config.model_dump(mode="json")
    for spec in raw["stages"]:
        if issubclass(STAGES.get(spec.get("ref") or spec["name"]), Filter):
            spec["params"] = {**(spec.get("params") or {}), "mode": "annotate"}
    return validate_config(raw, source="--annotate")


def write_recipe(
    config: dict[str, Any], proposed: Mapping[Knob, float], path: str, output_dir: str, note: str = ""
) -> None:
    body = yaml.safe_dump(recipe(config, proposed, output_dir), allow_unicode=True, sort_keys=False)
    header = "# Written by `jingxuan tune`: the run's recipe with every filter in mode: filter and the thresholds\n"
    header += "# proposed from labelled samples.\n"
    if note:
        header += "".join(f"# {line}\n" for line in note.splitlines())
    with open(path, "w", encoding="utf-8") as f:
        f.write(header + body)


# -- reading a run -----------------------------------------------------------------------------------------------


def read_data(run_dir: str) -> pa.Table:
    paths = sorted(glob.glob(os.path.join(run_dir, "data", "*.arrow")))
    if not paths:
        raise FileNotFoundError(f"{run_dir}: no data/*.arrow; run the recipe with `mode: annotate` first")
    tables = []
    for p in paths:
        with pa.ipc.open_stream(p) as reader:
            tables.append(reader.read_all())
    return pa.concat_tables(tables, promote_options="default")


def read_manifest(run_dir: str) -> dict[str, Any]:
    import json

    path = os.path.join(run_dir, "manifest.json")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"{run_dir}: no manifest.json; is this a run directory?") from None


def label_ids(manifest: dict[str, Any], spec: str) -> tuple[str, set[str] | tuple[str, str]]:
    """A label spec is `COLUMN=VALUE` (rows whose column has that value) or an input file of the run (path or
    glob, matched against the run's inputs): returns the group name and the ids, or (column, value)."""
    if "=" in spec and not os.path.exists(spec):
        col, _, value = spec.partition("=")
        return value, (col, value)
    from pipeline.config import RunConfig
    from pipeline.io.listing import list_inputs
    from pipeline.io.reading import read_input

    cfg = RunConfig.model_validate(manifest["config"])
    want = os.path.abspath(spec)
    files = [
        f
        for f in list_inputs(cfg.input, cfg.synthetic, cfg.resolve)
        if f.path == want or fnmatch.fnmatch(f.path, want) or fnmatch.fnmatch(f.source, spec)
    ]
    if not files:
        sources = ", ".join(i["source"] for i in manifest.get("inputs", [])[:8])
        raise TuneError(f"{spec}: not an input of this run (inputs: {sources} ...)")
    ids: set[str] = set()
    for f in files:
        for docs, _ in read_input(f, cfg.input, cfg.execution.batch_size):
            ids.update(docs.column("id").to_pylist())
    name = os.path.basename(spec).split(".")[0] if len(files) == 1 else spec
    return name, ids


def run_groups(run_dir: str, specs: list[str], data: pa.Table, manifest: dict[str, Any]) -> dict[str, pa.RecordBatch]:
    out = {}
    ids = data.column("id")
    for spec in specs:
        name, sel = label_ids(manifest, spec)
        if isinstance(sel, tuple):
            col, value = sel
            if col not in data.column_names:
                raise TuneError(f"{spec}: the run's data has no column {col!r}")
            mask = pc.equal(pc.cast(data.column(col), pa.string()), value)
        else:
            mask = pc.is_in(ids, value_set=pa.array(sorted(sel), pa.string()))
        rows = data.filter(pc.fill_null(mask, False)).combine_chunks()
        if rows.num_rows == 0:
            raise TuneError(f"{spec}: none of its documents are in {run_dir}/data (dropped before the filters?)")
        out[name] = rows.to_batches()[0] if rows.num_rows else None
    return out


def tune_run(
    run_dir: str,
    good: list[str],
    bad: list[str],
    max_loss: float = 0.01,
    output: str | None = None,
    tighten: bool = False,
) -> TuneResult:
    """The library side of `jingxuan tune`: label, propose, and write the recipe to `output` when given."""
    manifest = read_manifest(run_dir)
    data = read_data(run_dir)
    stage_specs = manifest["config"]["stages"]
    if not any((s.get("params") or {}).get("mode") == "annotate" for s in stage_specs):
        raise TuneError(f"{run_dir}: no filter ran with `mode: annotate`; thresholds cannot be tuned from it")
    good_groups = run_groups(run_dir, good, data, manifest)
    bad_groups = run_groups(run_dir, bad, data, manifest)
    result = tune(stage_specs, good_groups, bad_groups, max_loss, tighten=tighten)
    if output:
        note = f"good: {' '.join(good)}\nbad: {' '.join(bad)}\nmax_loss per rule and good group: {max_loss:g}"
        note += f"; tighten: {tighten}"
        write_recipe(manifest["config"], result.proposed, output, os.path.abspath(run_dir) + "_tuned", note)
    return result
