"""A run directory -> one self-contained `report.html` a person can read offline.

Everything is inline: CSS, and charts drawn here as SVG (no JavaScript, no fonts or scripts from the
network), so the file can be mailed, archived beside the data, or opened on a machine with no internet.

Sources, all optional except `manifest.json` (a section without data says so):
- `stats.json`: the funnel, drop reasons, `would_drop.*` counters (annotate mode), other counters, seconds,
  and the JSON reports of global stages (dedup, synthetic ...).
- `data/*.arrow`: one streaming pass over the `_` columns only (plus `text` lengths when `_phase` is present):
  histograms of numeric signals from an evenly strided sample of at most `SAMPLE_VALUES` rows, counts of
  categorical ones (`_lang`, `_script`, `_source` ...), phase statistics and `_dup_cluster` sizes.
- `rejected/*.parquet`: reason counts come from stats; the ledger gives a few example documents per reason
  (read row group by row group, text only where an example is needed) and duplicate-cluster sizes.
- `curriculum.json`: phase boundaries and whatever else the curriculum stage recorded.

Thresholds marked on histograms come from the resolved stage parameters in the manifest. A stage declares
which parameters are thresholds of which column with a ClassVar::

    thresholds: ClassVar[dict[str, tuple[str, ...]]] = {"_han_ratio": ("min_ratio",)}

A parameter path may go into a dict parameter (`"max_top_ngram_frac.2"`) or over all its keys
(`"min_scores.*"`). A `min_` parameter drops values below it, a `max_` parameter values above it; for other
names say which with `"min:threshold"`. Columns the ClassVar does not name take parameters named
`min_<col>` / `max_<col>` for a column `_<col>` (`max_symbol_ratio` for `_symbol_ratio`).
"""

from __future__ import annotations

import glob
import html
import json
import math
import os
import webbrowser
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.shards import TMP_SUFFIX, read_json, read_shard, shard_schema

SAMPLE_VALUES = 200_000  # numeric values per signal column read for histograms, at most
EXAMPLES_PER_REASON = 3
EXAMPLE_CHARS = 300
EXAMPLE_LINES = 8
MAX_CATEGORIES = 1000  # a string column with more distinct values is treated as an id, not a category
BINS = 40
REPORT_NAME = "report.html"


# -- thresholds ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Threshold:
    stage: str  # stage key in the run
    param: str  # parameter path, e.g. min_ratio or max_top_ngram_frac.2
    value: float
    kind: str = ""  # "min" or "max" when declared; otherwise taken from the parameter's name

    @property
    def side(self) -> str:
        """'min' (values below are dropped), 'max' (values above are dropped) or '' (unknown)."""
        if self.kind:
            return self.kind
        leaf = self.param.split(".")[0]
        return "min" if leaf.startswith("min") else "max" if leaf.startswith("max") else ""

    @property
    def label(self) -> str:
        return f"{self.stage}.{self.param} = {_num(self.value)}"


def _param_values(params: dict[str, Any], path: str) -> list[tuple[str, float]]:
    """Numeric values at a parameter path: `a`, `a.key` (into a dict), `a.*` (every key of a dict)."""
    head, _, rest = path.partition(".")
    if head not in params:
        return []
    value = params[head]
    if not rest:
        return [(path, float(value))] if _is_number(value) else []
    if not isinstance(value, dict):
        return []
    if rest == "*":
        return [(f"{head}.{k}", float(v)) for k, v in value.items() if _is_number(v)]
    for k, v in value.items():
        if str(k) == rest and _is_number(v):
            return [(path, float(v))]
    return []


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _stage_classes(stage_specs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], type | None]]:
    """(key, params, class or None) per resolved stage; None for a user's stage not importable here."""
    from stages import registry

    out = []
    for spec in stage_specs:
        try:
            cls = registry.get(spec.get("ref") or spec["name"])
        except Exception:
            cls = None
        out.append((spec.get("key") or spec.get("name", "?"), spec.get("resolved") or spec.get("params") or {}, cls))
    return out


def column_stages(stage_specs: list[dict[str, Any]]) -> dict[str, str]:
    """Signal column -> key of the first stage that declares it in `adds`."""
    out: dict[str, str] = {}
    for key, _, cls in _stage_classes(stage_specs):
        for col in getattr(cls, "adds", ()) or ():
            out.setdefault(col, key)
    return out


def signal_thresholds(
    stage_specs: list[dict[str, Any]], columns: list[str] | None = None
) -> dict[str, list[Threshold]]:
    """Column -> thresholds configured on it, from the manifest's resolved stages ({name, key, params, ref})."""
    out: dict[str, list[Threshold]] = defaultdict(list)
    for key, params, cls in _stage_classes(stage_specs):
        declared = getattr(cls, "thresholds", None) if cls is not None else None
        declared = declared if isinstance(declared, dict) else {}
        for col, paths in declared.items():
            for path in (paths,) if isinstance(paths, str) else paths:
                kind, _, bare = path.rpartition(":")  # "min:threshold" names the side of an unprefixed name
                for p, v in _param_values(params, bare):
                    out[col].append(Threshold(key, p, v, kind if kind in ("min", "max") else ""))
        candidates = set(columns or ()) | set(getattr(cls, "adds", ()) or ())
        for col in sorted(candidates - set(declared)):
            bare = col.lstrip("_")
            for prefix in ("min_", "max_"):
                for p, v in _param_values(params, prefix + bare):
                    out[col].append(Threshold(key, p, v))
    return dict(out)


# -- reading the run directory ------------------------------------------------------------------------------


@dataclass
class PhaseStats:
    docs: int = 0
    chars: int = 0
    difficulty_min: float = math.inf
    difficulty_max: float = -math.inf
    difficulty_sum: float = 0.0
    difficulty_n: int = 0
    sources: Counter = field(default_factory=Counter)


@dataclass
class DataScan:
    """What one pass over data/ collects."""

    rows: int = 0
    files: int = 0
    columns: list[str] = field(default_factory=list)
    numeric: dict[str, np.ndarray] = field(default_factory=dict)  # sampled values (NaN = null)
    integer: set[str] = field(default_factory=set)  # numeric columns of an integer type
    sample_stride: int = 1
    categorical: dict[str, Counter] = field(default_factory=dict)  # low-cardinality string/bool columns
    phases: dict[int, PhaseStats] = field(default_factory=dict)
    dup_clusters: Counter = field(default_factory=Counter)  # cluster id -> documents kept in data/


def _data_files(run_dir: str) -> list[str]:
    data = os.path.join(run_dir, "data")
    if not os.path.isdir(data):
        return []
    return sorted(os.path.join(data, f) for f in os.listdir(data) if f.endswith(".arrow"))


def _is_numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t)


def _is_categorical(t: pa.DataType) -> bool:
    types = pa.types
    return types.is_string(t) or types.is_large_string(t) or types.is_boolean(t) or types.is_dictionary(t)


def scan_data(files: list[str], sample_values: int = SAMPLE_VALUES) -> DataScan:
    """One streaming pass over the `_` columns of data/ (and text lengths when there are phases)."""
    scan = DataScan(files=len(files))
    if not files:
        return scan
    schema = shard_schema(files[0])
    for f in files[1:]:
        for fld in shard_schema(f):
            if schema.get_field_index(fld.name) < 0:
                schema = schema.append(fld)
    signal_fields = [f for f in schema if f.name.startswith("_")]
    scan.columns = [f.name for f in signal_fields]
    scan.integer = {f.name for f in signal_fields if pa.types.is_integer(f.type)}
    numeric = [f.name for f in signal_fields if _is_numeric(f.type)]
    categorical = [f.name for f in signal_fields if _is_categorical(f.type) and f.name != "_dup_cluster"]
    has_phase = "_phase" in scan.columns
    needed = [c for c in scan.columns if c in numeric or c in categorical or c == "_dup_cluster"]
    needed += ["text"] if has_phase and schema.get_field_index("text") >= 0 else []
    if not needed:
        needed = ["id"]
    total = sum(b.num_rows for f in files for b in read_shard(f, columns=["id"]))
    stride = max(1, math.ceil(total / max(1, sample_values)))
    scan.sample_stride = stride
    samples: dict[str, list[np.ndarray]] = {c: [] for c in numeric}
    cats: dict[str, Counter | None] = {c: Counter() for c in categorical}
    row = 0
    for f in files:
        names = shard_schema(f).names
        cols = [c for c in needed if c in names]
        for batch in read_shard(f, columns=cols or ["id"]):
            n = batch.num_rows
            start = (-row) % stride
            for c in numeric:
                if c in batch.schema.names:
                    values = pc.cast(batch.column(c), pa.float64()).to_numpy(zero_copy_only=False)
                    samples[c].append(np.asarray(values, dtype=np.float64)[start::stride])
            for c in categorical:
                if c in batch.schema.names and cats[c] is not None:
                    counts = cats[c]
                    counts.update(_value_counts(batch.column(c)))
                    if len(counts) > MAX_CATEGORIES:
                        cats[c] = None
            if "_dup_cluster" in batch.schema.names:
                col = batch.column("_dup_cluster")
                scan.dup_clusters.update({k: v for k, v in _value_counts(col).items() if k is not None})
            if has_phase and "_phase" in batch.schema.names:
                _phase_update(scan.phases, batch)
            row += n
    scan.rows = row
    scan.numeric = {c: np.concatenate(v) if v else np.array([]) for c, v in samples.items()}
    scan.categorical = {c: v for c, v in cats.items() if v is not None}
    return scan


def _value_counts(col: pa.Array) -> Counter:
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if len(col) == 0:
        return Counter()
    vc = pc.value_counts(col)
    return Counter({v.as_py(): c.as_py() for v, c in zip(vc.field("values"), vc.field("counts"), strict=True)})


def _phase_update(phases: dict[int, PhaseStats], batch: pa.RecordBatch) -> None:
    names = batch.schema.names
    phase = pc.fill_null(pc.cast(batch.column("_phase"), pa.int64()), -1).to_numpy(zero_copy_only=False)
    chars = (
        pc.fill_null(pc.utf8_length(batch.column("text")), 0).to_numpy(zero_copy_only=False)
        if "text" in names
        else np.zeros(len(phase), np.int64)
    )
    diff = (
        pc.cast(batch.column("_difficulty"), pa.float64()).to_numpy(zero_copy_only=False)
        if "_difficulty" in names
        else None
    )
    source = np.asarray(batch.column("_source").to_pylist(), dtype=object) if "_source" in names else None
    for p in np.unique(phase):
        m = phase == p
        st = phases.setdefault(int(p), PhaseStats())
        st.docs += int(m.sum())
        st.chars += int(chars[m].sum())
        if diff is not None:
            d = diff[m]
            d = d[np.isfinite(d)]
            if len(d):
                st.difficulty_min = min(st.difficulty_min, float(d.min()))
                st.difficulty_max = max(st.difficulty_max, float(d.max()))
                st.difficulty_sum += float(d.sum())
                st.difficulty_n += len(d)
        if source is not None:
            st.sources.update(str(s) if s is not None else "(null)" for s in source[m])


@dataclass
class LedgerScan:
    examples: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    rows: int = 0
    matched: dict[str, Counter] = field(default_factory=dict)  # dedup stage -> kept id -> duplicates dropped


def scan_ledger(
    run_dir: str, wanted: set[tuple[str, str]], dedup_stages: set[str], per_reason: int = EXAMPLES_PER_REASON
) -> LedgerScan:
    """A few examples per (stage, reason), and per dedup stage how many duplicates each kept id matched."""
    out = LedgerScan()
    folder = os.path.join(run_dir, "rejected")
    if not os.path.isdir(folder):
        return out
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".parquet"):
            continue
        pf = pq.ParquetFile(os.path.join(folder, name))
        out.rows += pf.metadata.num_rows
        for rg in range(pf.num_row_groups):
            keys = pf.read_row_group(rg, columns=["stage", "reason"])
            stages = keys.column("stage").to_pylist()
            reasons = keys.column("reason").to_pylist()
            take = []
            for i, key in enumerate(zip(stages, reasons, strict=True)):
                got = out.examples.setdefault(key, [])
                if len(got) < per_reason and (not wanted or key in wanted):
                    got.append({})
                    take.append((i, key))
            dedup_here = dedup_stages & set(stages)
            if not take and not dedup_here:
                continue
            detail_cols = ["id", "detail"] + (["text"] if take else [])
            rows = pf.read_row_group(rg, columns=detail_cols)
            details = rows.column("detail").to_pylist()
            for s in dedup_here:
                mask = [st == s and d is not None for st, d in zip(stages, details, strict=True)]
                out.matched.setdefault(s, Counter()).update(d for d, m in zip(details, mask, strict=True) if m)
            if take:
                idx = pa.array([i for i, _ in take], pa.int64())
                sub = rows.take(idx).to_pylist()
                for (_, key), rec in zip(take, sub, strict=True):
                    slot = next(e for e in out.examples[key] if not e)
                    slot.update(rec)
    out.examples = {k: v for k, v in out.examples.items() if v}
    return out


@dataclass
class RunData:
    run_dir: str
    manifest: dict[str, Any]
    stats: dict[str, Any] | None
    curriculum: dict[str, Any] | list | None
    data: DataScan
    ledger: LedgerScan
    thresholds: dict[str, list[Threshold]]

    @property
    def stage_specs(self) -> list[dict[str, Any]]:
        return list((self.manifest.get("config") or {}).get("stages") or [])

    @property
    def stage_names(self) -> dict[str, str]:
        """Stage key -> registry name."""
        return {s.get("key", s.get("name")): s.get("name", "") for s in self.stage_specs}

    @property
    def stage_stats(self) -> dict[str, dict[str, Any]]:
        """Stats per stage key in pipeline order (stats.json is written with sorted keys)."""
        stats = dict((self.stats or {}).get("stages") or {})
        order = ["read", *(s.get("key", s.get("name")) for s in self.stage_specs)]
        return {k: stats[k] for k in order if k in stats} | {k: v for k, v in stats.items() if k not in order}

    @property
    def reports(self) -> dict[str, Any]:
        return dict((self.stats or {}).get("reports") or {})


def _read_optional(path: str) -> Any:
    if not os.path.exists(path):
        return None
    try:
        return read_json(path)
    except (OSError, ValueError):
        return None


def _dedup_stage_keys(names: dict[str, str], stage_stats: dict[str, dict[str, Any]]) -> set[str]:
    return {k for k in stage_stats if "dedup" in k or "dedup" in names.get(k, "")}


def load_run(run_dir: str, sample_values: int = SAMPLE_VALUES) -> RunData:
    manifest_path = os.path.join(run_dir, "manifest.json")
    if not os.path.exists(manifest_path):
        raise FileNotFoundError(f"{run_dir}: not a run directory (no manifest.json)")
    manifest = read_json(manifest_path)
    stats = _read_optional(os.path.join(run_dir, "stats.json"))
    found = sorted(glob.glob(os.path.join(glob.escape(run_dir), "curriculum*.json")))
    curriculum = _read_optional(found[0]) if found else None
    data = scan_data(_data_files(run_dir), sample_values)
    stage_stats = dict((stats or {}).get("stages") or {})
    wanted = {(k, r) for k, s in stage_stats.items() for r in (s.get("reasons") or {})}
    names = {s.get("key", s.get("name")): s.get("name", "") for s in (manifest.get("config") or {}).get("stages", [])}
    ledger = scan_ledger(run_dir, wanted, _dedup_stage_keys(names, stage_stats))
    specs = list((manifest.get("config") or {}).get("stages") or [])
    thresholds = signal_thresholds(specs, data.columns)
    return RunData(run_dir, manifest, stats, curriculum, data, ledger, thresholds)


# -- formatting ---------------------------------------------------------------------------------------------


def _esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _num(x: Any) -> str:
    if x is None:
        return "–"
    if isinstance(x, bool):
        return str(x).lower()
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        if not math.isfinite(x):
            return str(x)
        if x == int(x) and abs(x) < 1e15:
            return f"{int(x):,}"
        if abs(x) >= 1000:
            return f"{x:,.0f}"
        return f"{x:.3g}"
    return str(x)


def _docs(n: int | None) -> str:
    return "? documents" if n is None else f"{_num(n)} document{'' if n == 1 else 's'}"


def _pct(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "–"


def _table(headers: list[str], rows: list[list[Any]], cls: str = "", numeric_from: int = 1) -> str:
    """An HTML table; cells are escaped unless wrapped in `Raw`. Columns from `numeric_from` align right."""
    head = "".join(f'<th class="{"n" if i >= numeric_from else ""}">{_esc(h)}</th>' for i, h in enumerate(headers))
    thead = f"<thead><tr>{head}</tr></thead>" if any(headers) else ""
    body = []
    for r in rows:
        cells = []
        for i, v in enumerate(r):
            content = v.html if isinstance(v, Raw) else _esc(_num(v) if isinstance(v, int | float) else v)
            cells.append(f'<td class="{"n" if i >= numeric_from else ""}">{content}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="{cls}">{thead}<tbody>{"".join(body)}</tbody></table>'


@dataclass(frozen=True)
class Raw:
    html: str


def _empty(msg: str) -> str:
    return f'<p class="empty">{_esc(msg)}</p>'


# -- SVG charts ---------------------------------------------------------------------------------------------

GRID_W = 520  # width of a chart in a two-column grid cell
PALETTE = ("#3b6fb6", "#e08a2e", "#4c9f70", "#b5485d", "#7b61a8", "#8c8c8c", "#2aa1a8", "#c9a227")


def _svg(chart_id: str, width: int, height: int, body: str, title: str) -> str:
    return (
        f'<svg class="chart" id="{_esc(chart_id)}" data-chart="{_esc(chart_id)}" role="img" '
        f'aria-label="{_esc(title)}" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg">{body}</svg>'
    )


def _text(x: float, y: float, s: str, anchor: str = "start", cls: str = "lbl") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" class="{cls}">{_esc(s)}</text>'


def _series_style(i: int, overlay: bool) -> tuple[str, float]:
    """Overlaid series share one hue (the first, e.g. `in`, light; later ones dark); others take the palette."""
    if overlay:
        return PALETTE[0], 0.3 if i == 0 else 1.0
    return PALETTE[i % len(PALETTE)], 1.0


def hbar_chart(
    chart_id: str,
    title: str,
    labels: list[str],
    series: list[tuple[str, list[float | None]]],
    overlay: bool = False,
    fmt=_num,
    width: int = 720,
) -> str:
    """Horizontal bars, one row per label; several series side by side, or overlaid (in vs out)."""
    if not labels or not series:
        return _empty(f"{title}: nothing to draw")
    label_w = int(min(190, 16 + 6.5 * max(len(lab) for lab in labels)))
    value_text = [
        " / ".join("–" if r >= len(vals) or vals[r] is None else fmt(vals[r]) for _, vals in series)
        for r in range(len(labels))
    ]
    value_w = int(min(200, 16 + 6 * max(len(t) for t in value_text)))
    pad = 8
    bar_area = width - label_w - value_w - pad
    per_row = 1 if overlay else len(series)
    bar_h = 14 if per_row == 1 else 10
    row_h = bar_h * per_row + 8
    legend_h = 22 if len(series) > 1 else 0
    height = legend_h + row_h * len(labels) + 6
    vmax = max([v for _, vals in series for v in vals if v is not None and math.isfinite(v)] + [0]) or 1
    parts = []
    x = label_w
    if len(series) > 1:
        for i, (name, _) in enumerate(series):
            color, op = _series_style(i, overlay)
            parts.append(f'<rect x="{x}" y="5" width="12" height="12" fill="{color}" fill-opacity="{op}"/>')
            parts.append(_text(x + 16, 15, name))
            x += 24 + 8 * len(name)
    for r, label in enumerate(labels):
        y0 = legend_h + r * row_h + 4
        short = label if len(label) <= 28 else label[:27] + "…"
        parts.append(_text(label_w - 6, y0 + row_h / 2, short, "end"))
        for i, (name, vals) in enumerate(series):
            v = vals[r] if r < len(vals) else None
            if v is None:  # no value (e.g. no target for this phase): no bar
                continue
            w = max(0.0, bar_area * v / vmax)
            y = y0 + (0 if overlay else i * bar_h)
            color, op = _series_style(i, overlay and len(series) > 1)
            parts.append(
                f'<rect class="mark" x="{label_w}" y="{y:.1f}" width="{max(w, 0.5):.1f}" height="{bar_h - 2}" '
                f'fill="{color}" fill-opacity="{op}"><title>{_esc(label)} · {_esc(name)}: {_esc(fmt(v))}</title></rect>'
            )
        parts.append(_text(width - value_w + 4, y0 + row_h / 2, value_text[r], "start", "val"))
    return _svg(chart_id, width, int(height), "".join(parts), title)


def histogram_chart(
    chart_id: str,
    title: str,
    values: np.ndarray,
    thresholds: list[Threshold],
    integer: bool = False,
    bins: int = BINS,
    width: int = 520,
    height: int = 170,
) -> tuple[str, str]:
    """A histogram of finite values with thresholds as dashed lines; returns (svg, caption note)."""
    v = values[np.isfinite(values)]
    if len(v) == 0:
        return _empty(f"{title}: no values"), ""
    lo, hi = float(v.min()), float(v.max())
    note = ""
    p99 = float(np.quantile(v, 0.99))
    if lo >= 0 and hi > 10 * max(p99, 1e-12) and p99 > lo:
        cut = max([p99 * 1.5] + [t.value for t in thresholds if t.value <= hi])
        if cut < hi:
            note = f"long tail: values above {_num(cut)} (max {_num(hi)}) are in the last bin"
            hi = cut
    tvals = [t.value for t in thresholds]
    lo, hi = min([lo, *tvals]), max([hi, *tvals])
    integer = integer and hi - lo <= bins
    if hi == lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.arange(math.floor(lo), math.ceil(hi) + 2) - 0.5 if integer else np.linspace(lo, hi, bins + 1)
    counts, _ = np.histogram(np.clip(v, edges[0], edges[-1]), bins=edges)
    left, right, bottom = 48, 24, 34
    top = 10 + 12 * len(thresholds)
    height += top - 10
    pw, ph = width - left - right, height - top - bottom
    cmax = int(counts.max()) or 1

    def sx(x: float) -> float:
        return left + pw * (x - edges[0]) / (edges[-1] - edges[0])

    parts = [
        f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" class="axis"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}" class="axis"/>',
        _text(left - 4, top + 4, _num(cmax), "end"),
        _text(left - 4, top + ph, "0", "end"),
    ]
    for t in thresholds:  # shade the dropped side under the bars
        x = sx(t.value)
        if t.side == "min":
            parts.append(f'<rect x="{left}" y="{top}" width="{max(0.0, x - left):.1f}" height="{ph}" class="drop"/>')
        elif t.side == "max":
            parts.append(
                f'<rect x="{x:.1f}" y="{top}" width="{max(0.0, left + pw - x):.1f}" height="{ph}" class="drop"/>'
            )
    for i, c in enumerate(counts):
        x0, x1 = sx(edges[i]), sx(edges[i + 1])
        h = ph * c / cmax
        parts.append(
            f'<rect class="mark" x="{x0 + 0.5:.1f}" y="{top + ph - h:.1f}" width="{max(x1 - x0 - 1, 0.8):.1f}" '
            f'height="{max(h, 0.0):.1f}" fill="{PALETTE[0]}"><title>[{_num(float(edges[i]))}, '
            f"{_num(float(edges[i + 1]))}): {c:,}</title></rect>"
        )
    for k in range(5):
        xv = edges[0] + (edges[-1] - edges[0]) * k / 4
        parts.append(_text(sx(xv), top + ph + 14, _num(float(xv)), "middle"))
    for j, t in enumerate(thresholds):
        x = sx(t.value)
        parts.append(
            f'<line class="threshold" x1="{x:.1f}" y1="{12 + 12 * j}" x2="{x:.1f}" y2="{top + ph}">'
            f"<title>{_esc(t.label)}</title></line>"
        )
        anchor = "end" if x > left + pw * 0.6 else "start"
        parts.append(
            _text(x + (-3 if anchor == "end" else 3), 9 + 12 * j, t.param + "=" + _num(t.value), anchor, "thr")
        )
    parts.append(_text(left + pw / 2, height - 4, title, "middle", "axis-title"))
    return _svg(chart_id, width, height, "".join(parts), title), note


# -- sections -----------------------------------------------------------------------------------------------


@dataclass
class Section:
    id: str
    title: str
    body: str


def _stage_rows(run: RunData) -> list[tuple[str, dict[str, Any]]]:
    return list(run.stage_stats.items())


def section_overview(run: RunData) -> Section:
    m, s = run.manifest, run.stats or {}
    stages = _stage_rows(run)
    chars_in = stages[0][1].get("chars_in", 0) if stages else 0
    chars_out = stages[-1][1].get("chars_out", 0) if stages else 0
    cards = [
        ("documents in", _num(s.get("docs_in"))),
        ("documents out", f"{_num(s.get('docs_out'))} ({_pct(s.get('docs_out', 0), s.get('docs_in', 0))})"),
        ("rejected", _num(s.get("docs_rejected"))),
        ("characters in → out", f"{_num(chars_in)} → {_num(chars_out)}"),
        ("run time", f"{_num(m.get('seconds'))} s" if m.get("seconds") is not None else "–"),
        ("status", m.get("status", "?")),
    ]
    body = (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="k">{_esc(k)}</div><div class="v">{_esc(v)}</div></div>' for k, v in cards
        )
        + "</div>"
    )
    if run.stats is None:
        body += _empty("stats.json is missing: the run did not finish, so only the manifest is shown.")
    info = [
        ["name", m.get("name", "")],
        ["engine", m.get("engine", "")],
        ["started", m.get("started", "")],
        ["finished", m.get("finished", "")],
        ["config hash", m.get("config_hash", "")],
        ["run directory", os.path.abspath(run.run_dir)],
        ["output", f"{_num((m.get('output') or {}).get('rows'))} rows in data/ ({run.data.files} files)"],
    ]
    body += _table(["", ""], info, "kv", numeric_from=9)
    return Section("overview", "Overview", body)


def section_funnel(run: RunData) -> Section:
    stages = _stage_rows(run)
    if not stages:
        return Section("funnel", "Funnel", _empty("No stage statistics (stats.json missing or empty)."))
    rows = []
    for key, st in stages:
        rows.append(
            [
                key,
                st.get("docs_in", 0),
                st.get("docs_out", 0),
                st.get("docs_rejected", 0),
                _pct(st.get("docs_out", 0), st.get("docs_in", 0)),
                st.get("chars_in", 0),
                st.get("chars_out", 0),
                _pct(st.get("chars_out", 0), st.get("chars_in", 0)),
            ]
        )
    s = run.stats or {}
    rows.append(
        [
            Raw("<b>run</b>"),
            s.get("docs_in", 0),
            s.get("docs_out", 0),
            s.get("docs_rejected", 0),
            _pct(s.get("docs_out", 0), s.get("docs_in", 0)),
            stages[0][1].get("chars_in", 0),
            stages[-1][1].get("chars_out", 0),
            _pct(stages[-1][1].get("chars_out", 0), stages[0][1].get("chars_in", 0)),
        ]
    )
    table = _table(
        ["stage", "docs in", "docs out", "rejected", "kept", "chars in", "chars out", "chars kept"], rows, "funnel"
    )
    labels = [k for k, _ in stages]
    docs = hbar_chart(
        "chart-funnel-docs",
        "documents in/out per stage",
        labels,
        [("in", [st.get("docs_in", 0) for _, st in stages]), ("out", [st.get("docs_out", 0) for _, st in stages])],
        overlay=True,
        width=GRID_W,
    )
    chars = hbar_chart(
        "chart-funnel-chars",
        "characters in/out per stage",
        labels,
        [("in", [st.get("chars_in", 0) for _, st in stages]), ("out", [st.get("chars_out", 0) for _, st in stages])],
        overlay=True,
        width=GRID_W,
    )
    body = (
        table + '<div class="grid2"><figure>' + docs + "<figcaption>Documents in (light) and out (dark)"
        "</figcaption></figure><figure>" + chars + "<figcaption>Characters in (light) and out (dark)"
        "</figcaption></figure></div>"
    )
    return Section("funnel", "Funnel", body)


def section_reasons(run: RunData) -> Section:
    stages = _stage_rows(run)
    rows, would = [], []
    for key, st in stages:
        for reason, n in sorted((st.get("reasons") or {}).items(), key=lambda kv: -kv[1]):
            rows.append([key, reason, n, _pct(n, st.get("docs_in", 0)), _pct(n, st.get("docs_rejected", 0))])
        for c, n in sorted((st.get("counters") or {}).items(), key=lambda kv: -kv[1]):
            if c.startswith("would_drop."):
                would.append([key, c.removeprefix("would_drop."), n, _pct(n, st.get("docs_in", 0))])
    body = ""
    if rows:
        body += _table(["stage", "reason", "documents", "of stage input", "of stage drops"], rows, numeric_from=2)
        labels = [f"{r[0]}.{r[1]}" for r in rows]
        body += (
            "<figure>"
            + hbar_chart("chart-reasons", "documents dropped per reason", labels, [("dropped", [r[2] for r in rows])])
            + "</figure>"
        )
    else:
        body += _empty("No document was dropped.")
    if would:
        body += "<h3>Would drop (filters in annotate mode)</h3>"
        body += _table(["stage", "reason", "documents", "of stage input"], would, numeric_from=2)
        body += (
            "<figure>"
            + hbar_chart(
                "chart-would-drop",
                "documents a filter would drop",
                [f"{r[0]}.{r[1]}" for r in would],
                [("would drop", [r[2] for r in would])],
            )
            + "</figure>"
        )
    return Section("reasons", "Drop reasons", body)


def excerpt(text: str, max_chars: int = EXAMPLE_CHARS, max_lines: int = EXAMPLE_LINES) -> str:
    """The start of a document: at most `max_chars` characters and `max_lines` lines, "…" when cut."""
    short = text[:max_chars]
    lines = short.split("\n")
    if len(lines) > max_lines:
        short = "\n".join(lines[:max_lines])
    return short + ("…" if len(short) < len(text) else "")


def section_examples(run: RunData) -> Section:
    examples = run.ledger.examples
    if not examples:
        return Section("examples", "Examples of dropped documents", _empty("No rejected documents in rejected/."))
    order = {k: i for i, k in enumerate(run.stage_stats)}
    parts = [
        f'<p class="note">Up to {EXAMPLES_PER_REASON} documents per reason from rejected/, first '
        f"{EXAMPLE_CHARS} characters (PII was redacted by normalize before any filter saw them).</p>"
    ]
    for (stage, reason), docs in sorted(examples.items(), key=lambda kv: (order.get(kv[0][0], 99), kv[0][1])):
        total = ((run.stage_stats.get(stage) or {}).get("reasons") or {}).get(reason)
        parts.append(
            f'<h3 class="reason">{_esc(stage)}.{_esc(reason)} <span class="muted">({_docs(total)})</span></h3>'
        )
        for d in docs:
            text = d.get("text")
            shown = "(text not kept: output.keep_rejected_text is off)" if text is None else excerpt(text)
            detail = f" · detail: <code>{_esc(d['detail'])}</code>" if d.get("detail") else ""
            parts.append(
                f'<div class="example"><div class="meta">id <code>{_esc(d.get("id"))}</code>{detail}</div>'
                f'<div class="doc">{_esc(shown)}</div></div>'
            )
    return Section("examples", "Examples of dropped documents", "".join(parts))


def _signal_figure(run: RunData, col: str) -> str:
    values = run.data.numeric[col]
    ths = run.thresholds.get(col, [])
    finite = values[np.isfinite(values)]
    nulls = len(values) - len(finite)
    if len(finite) and finite.min() == finite.max():
        limits = "".join(f"; {_esc(t.label)}" for t in ths)
        return (
            f'<p class="constant"><code>{_esc(col)}</code>: all {len(finite):,} sampled values are '
            f"{_num(float(finite[0]))}{f' ({nulls:,} null)' if nulls else ''}{limits}</p>"
        )
    svg, note = histogram_chart(f"chart-hist-{col.lstrip('_')}", col, values, ths, integer=col in run.data.integer)
    caption = ""
    if len(finite):
        q = np.quantile(finite, [0.01, 0.5, 0.99])
        caption = (
            f"n {len(finite):,} · mean {_num(float(finite.mean()))} · p1 {_num(float(q[0]))} · "
            f"median {_num(float(q[1]))} · p99 {_num(float(q[2]))} · min {_num(float(finite.min()))}"
            f" · max {_num(float(finite.max()))}"
        )
    if nulls:
        caption += f" · null {nulls:,}"
    for t in ths:
        beyond = (finite < t.value) if t.side == "min" else (finite > t.value) if t.side == "max" else None
        if beyond is not None and len(finite):
            caption += f"<br>{_esc(t.label)}: {beyond.mean():.1%} of the sample on the dropped side"
    if note:
        caption += f"<br>{_esc(note)}"
    return f'<figure class="hist">{svg}<figcaption>{caption}</figcaption></figure>'


def _no_data(run: RunData) -> str | None:
    if not run.data.files:
        return "data/ holds no shard files."
    if not run.data.rows:
        return "data/ is empty: no document came through the run."
    return None


def section_signals(run: RunData) -> Section:
    if _no_data(run):
        return Section("signals", "Signal histograms", _empty(_no_data(run)))
    numeric = run.data.numeric
    if not numeric:
        return Section("signals", "Signal histograms", _empty("No numeric signal columns in data/."))
    n_sample = max((len(v) for v in numeric.values()), default=0)
    which = "all rows" if run.data.sample_stride == 1 else f"every {run.data.sample_stride:,}th row"
    intro = (
        f'<p class="note">Values of the documents in data/ (the output): {n_sample:,} of {run.data.rows:,} '
        f"rows ({which}). Dropped documents are not in data/; run a filter with <code>mode: annotate</code> to "
        "see its whole distribution. Dashed lines are configured thresholds; the shaded side is what they drop.</p>"
    )
    owner = column_stages(run.stage_specs)
    order = list(run.stage_names)
    groups: dict[str, list[str]] = defaultdict(list)
    for col in numeric:
        groups[owner.get(col, "")].append(col)
    parts = [intro]
    for key in sorted(groups, key=lambda k: (k not in order, order.index(k) if k in order else 0, k)):
        cols = sorted(groups[key], key=lambda c: (c not in owner, c))
        parts.append(f"<h3>{_esc(key) if key else 'other columns'}</h3>")
        figures = [_signal_figure(run, c) for c in cols]
        parts.append('<div class="grid2">' + "".join(f for f in figures if f.startswith("<figure")) + "</div>")
        parts.extend(f for f in figures if not f.startswith("<figure"))
    missing = sorted(c for c in run.thresholds if c not in numeric)
    if missing:
        parts.append(_empty("Thresholds configured on columns not in data/: " + ", ".join(missing)))
    return Section("signals", "Signal histograms", "".join(parts))


def _counter_chart(chart_id: str, title: str, counts: Counter, top: int = 20, width: int = 520) -> str:
    items = counts.most_common()
    if len(items) > top:
        items = [*items[: top - 1], ("(other)", sum(n for _, n in items[top - 1 :]))]
    labels = ["(null)" if k is None else str(k) for k, _ in items]
    total = sum(counts.values())
    return hbar_chart(
        chart_id,
        title,
        labels,
        [(title, [n for _, n in items])],
        fmt=lambda v: f"{_num(v)} ({_pct(v, total)})",
        width=width,
    )


def section_language(run: RunData) -> Section:
    cats = run.data.categorical
    parts = []
    for col, title in (("_lang", "language (_lang)"), ("_script", "script (_script)")):
        if _no_data(run):
            parts.append(_empty(_no_data(run)))
            break
        if cats.get(col):
            parts.append(
                f"<figure><h3>{_esc(title)} in data/</h3>"
                + _counter_chart(f"chart-{col.lstrip('_')}", title, cats[col])
                + "</figure>"
            )
        else:
            parts.append(_empty(f"No {col} column in data/ (langid did not run)."))
    before = Counter()
    for st in run.stage_stats.values():
        for c, n in (st.get("counters") or {}).items():
            if c.startswith("lang."):
                before[c.removeprefix("lang.")] += n
    if before:
        parts.append(
            "<figure><h3>language as labelled by langid (before any language filter)</h3>"
            + _counter_chart("chart-lang-before", "langid labels", before)
            + "</figure>"
        )
    body = '<div class="grid2">' + "".join(parts) + "</div>"
    others = {c: v for c, v in cats.items() if c not in ("_lang", "_script") and v and len(v) <= 50}
    if others:
        parts = []
        for col, counts in sorted(others.items()):
            parts.append(
                f"<figure><h4>{_esc(col)}</h4>"
                + _counter_chart(f"chart-cat-{col.lstrip('_')}", col, counts)
                + "</figure>"
            )
        body += '<h3>Other categorical columns</h3><div class="grid2">' + "".join(parts) + "</div>"
    return Section("language", "Language and script", body)


def _size_histogram(sizes: Counter) -> Counter:
    """Cluster size -> number of clusters."""
    return Counter(sizes.values())


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


def _dedup_keys(run: RunData) -> list[str]:
    found = _dedup_stage_keys(run.stage_names, run.stage_stats) | {k for k in run.reports if "dedup" in k}
    return _ordered({k: None for k in found}, run)


def section_dedup(run: RunData) -> Section:
    parts = []
    kept_per_cluster = run.data.dup_clusters
    for key in _dedup_keys(run):
        from_report = _report_cluster_sizes(run.reports.get(key))
        if from_report:
            hist, src = from_report, "the stage's report"
        elif run.ledger.matched.get(key):
            # A dropped row's detail names the kept document of its cluster (minhash: its `_dup_cluster`).
            hist = Counter(kept_per_cluster.get(k, 1) + n for k, n in run.ledger.matched[key].items())
            src = "the ledger: the kept document plus the duplicates whose <code>detail</code> names it"
        else:
            hist, src = None, ""
        st = run.stage_stats.get(key, {})
        gone, seen = st.get("docs_rejected", 0), st.get("docs_in", 0)
        parts.append(
            f"<h3>{_esc(key)}</h3><p>{_num(gone)} duplicates removed of {_num(seen)} documents "
            f"({_pct(gone, seen)}).</p>"
        )
        if hist:
            sizes = sorted(hist)
            n_clusters = sum(hist.values())
            parts.append(
                "<figure>"
                + hbar_chart(
                    f"chart-dedup-{key}",
                    "clusters by size",
                    [str(s) for s in sizes],
                    [("clusters", [hist[s] for s in sizes])],
                    width=GRID_W,
                )
                + f"<figcaption>{n_clusters:,} clusters with duplicates, by size (documents per cluster), from "
                f"{_esc(src)}.</figcaption></figure>"
            )
        else:
            parts.append(_empty("No duplicate clusters recorded for this stage."))
        if run.reports.get(key):
            parts.append(f"<details><summary>report of {_esc(key)}</summary>{render_json(run.reports[key])}</details>")
    if kept_per_cluster and (not parts or max(kept_per_cluster.values()) > 1):
        hist = _size_histogram(kept_per_cluster)
        sizes = sorted(hist)
        parts.append(
            "<h3>_dup_cluster in data/</h3><figure>"
            + hbar_chart(
                "chart-dup-cluster",
                "clusters by documents kept",
                [str(s) for s in sizes],
                [("clusters", [hist[s] for s in sizes])],
                width=GRID_W,
            )
            + "<figcaption>Documents of the same cluster kept in data/ "
            f"({len(kept_per_cluster):,} clusters).</figcaption></figure>"
        )
    if not parts:
        return Section("dedup", "Deduplication", _empty("No dedup stage ran in this run."))
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
        return Section("curriculum", "Curriculum phases", _empty("No curriculum stage ran (no _phase column)."))
    parts = []
    if phases:
        total_docs = sum(p.docs for p in phases.values()) or 1
        total_chars = sum(p.chars for p in phases.values()) or 1
        sources = sorted({s for p in phases.values() for s in p.sources})
        names = {str(p.get("phase")): p.get("name") for p in _curriculum_phases(cur)}
        rows = []
        for k in sorted(phases):
            p = phases[k]
            mix = ", ".join(f"{s} {_pct(p.sources[s], p.docs)}" for s in sources if p.sources[s]) or "–"
            rows.append(
                [
                    (f"{k} {names[str(k)]}" if names.get(str(k)) else str(k)) if k >= 0 else "(none)",
                    p.docs,
                    _pct(p.docs, total_docs),
                    p.chars,
                    _pct(p.chars, total_chars),
                    p.difficulty_min if p.difficulty_n else None,
                    p.difficulty_max if p.difficulty_n else None,
                    p.difficulty_sum / p.difficulty_n if p.difficulty_n else None,
                    mix,
                ]
            )
        parts.append(
            _table(
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
                + _range_chart(
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
            parts.append("<h3>Phases recorded in curriculum.json</h3>" + _records_table(listed))
        skip = ("phases", "phase_boundaries")
        extra = {k: v for k, v in cur.items() if k not in skip} if isinstance(cur, dict) else {}
        if extra:
            parts.append("<h3>Curriculum settings</h3>" + render_json(extra))
    return Section("curriculum", "Curriculum phases", "".join(parts))


def _range_chart(
    chart_id: str, title: str, labels: list[str], ranges: list[tuple[float, float, float]], width: int = 520
) -> str:
    lo = min(r[0] for r in ranges)
    hi = max(r[2] for r in ranges)
    if hi == lo:
        lo, hi = lo - 0.5, hi + 0.5
    label_w, right, row_h, top = 80, 16, 22, 8
    pw = width - label_w - right
    height = top + row_h * len(labels) + 22

    def sx(x: float) -> float:
        return label_w + pw * (x - lo) / (hi - lo)

    parts = []
    for i, (label, (a, m, b)) in enumerate(zip(labels, ranges, strict=True)):
        y = top + i * row_h + row_h / 2
        parts.append(_text(label_w - 6, y + 4, label, "end"))
        parts.append(
            f'<rect class="mark" x="{sx(a):.1f}" y="{y - 5:.1f}" width="{max(sx(b) - sx(a), 1.5):.1f}" '
            f'height="10" fill="{PALETTE[1]}" fill-opacity="0.6"><title>{_esc(label)}: {_num(a)} – '
            f"{_num(b)}, mean {_num(m)}</title></rect>"
        )
        parts.append(f'<circle cx="{sx(m):.1f}" cy="{y:.1f}" r="3.5" fill="{PALETTE[3]}"/>')
    yb = top + row_h * len(labels) + 14
    for k in range(5):
        xv = lo + (hi - lo) * k / 4
        parts.append(_text(sx(xv), yb, _num(float(xv)), "middle"))
    return _svg(chart_id, width, height, "".join(parts), title)


def _synthetic_keys(run: RunData) -> list[str]:
    names = run.stage_names
    return [k for k in run.reports if "synthetic" in k or "synthetic" in names.get(k, "")]


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
            if n in k and _is_number(v):
                return float(v)
    return None


def section_synthetic(run: RunData) -> Section:
    parts = []
    phases = run.data.phases
    has_source = "_source" in run.data.categorical
    keys = _synthetic_keys(run)
    n_synthetic = run.data.categorical.get("_source", Counter()).get("synthetic", 0)
    if not keys and not n_synthetic:
        return Section("synthetic", "Synthetic data", _empty("No synthetic data in this run."))
    if has_source:
        counts = run.data.categorical["_source"]
        total = sum(counts.values())
        parts.append(
            f"<p>Synthetic documents in data/: {_num(counts.get('synthetic', 0))} of {_num(total)} "
            f"({_pct(counts.get('synthetic', 0), total)}).</p>"
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
        parts.append(_table(["phase", "synthetic docs in data/", "target", f"achieved{unit_note}"], rows))
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
        parts.append(f"<h3>Report of {_esc(key)}</h3>" + render_json(run.reports.get(key)))
    return Section("synthetic", "Synthetic data", "".join(parts))


def section_counters(run: RunData) -> Section:
    rows = []
    for key, st in run.stage_stats.items():
        for c, n in sorted((st.get("counters") or {}).items()):
            if not c.startswith(("would_drop.", "lang.")):
                rows.append([key, c, n])
    if not rows:
        return Section("counters", "Counters", _empty("No stage counted anything else (PII redactions ...)."))
    return Section(
        "counters",
        "Counters",
        '<p class="note">Counts stages reported besides drops, e.g. PII '
        "redactions by kind (<code>pii.*</code>).</p>" + _table(["stage", "counter", "count"], rows, numeric_from=2),
    )


def section_timing(run: RunData) -> Section:
    stages = _stage_rows(run)
    if not stages:
        return Section("timing", "Run time per stage", _empty("No stage statistics."))
    secs = [float(st.get("seconds", 0.0) or 0.0) for _, st in stages]
    total = sum(secs)
    rows = [
        [k, s, _pct(s, total), _num(st.get("chars_in", 0) / s / 1e6) + " M/s" if s > 0 else "–"]
        for (k, st), s in zip(stages, secs, strict=True)
    ]
    body = (
        '<p class="note">Seconds inside each stage, summed over all shard tasks (so with several workers '
        f"the sum exceeds wall time; the whole run took {_num(run.manifest.get('seconds'))} s).</p>"
    )
    body += _table(["stage", "seconds", "share", "chars/s"], rows)
    body += (
        "<figure>"
        + hbar_chart(
            "chart-timing",
            "seconds per stage",
            [k for k, _ in stages],
            [("seconds", secs)],
            fmt=lambda v: f"{_num(v)} s",
        )
        + "</figure>"
    )
    return Section("timing", "Run time per stage", body)


def _flatten(record: dict[str, Any]) -> dict[str, Any]:
    """One level of nested dicts of scalars becomes dotted columns (difficulty.min, by_source.real)."""
    out: dict[str, Any] = {}
    for k, v in record.items():
        if isinstance(v, dict) and v and not any(isinstance(x, dict | list) for x in v.values()):
            out.update({f"{k}.{sub}": x for sub, x in v.items()})
        else:
            out[k] = v
    return out


def _records_table(records: list[dict[str, Any]]) -> str:
    records = [_flatten(r) for r in records]
    cols: list[str] = []
    for r in records:
        for k in r:
            if k not in cols:
                cols.append(k)
    first = [c for c in ("phase", "name", "id", "docs", "share", "chars") if c in cols]
    cols = first + [c for c in cols if c not in first]
    rows = [[Raw(_cell(r.get(c))) for c in cols] for r in records]
    return _table(cols, rows, numeric_from=len(cols) + 1)


def _cell(v: Any) -> str:
    if isinstance(v, dict | list):
        return f"<code>{_esc(json.dumps(v, ensure_ascii=False, sort_keys=True)[:300])}</code>"
    return _esc(_num(v) if isinstance(v, int | float) or v is None else v)


def render_json(value: Any, depth: int = 0) -> str:
    """Any JSON value as HTML: dicts as key/value tables, lists of dicts as tables, the rest inline."""
    if isinstance(value, dict):
        if not value:
            return _empty("(empty)")
        rows = [
            [k, Raw(render_json(v, depth + 1) if isinstance(v, dict | list) and depth < 2 else _cell(v))]
            for k, v in value.items()
        ]
        return _table(["key", "value"], rows, "kv", numeric_from=9)
    if isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
        return _records_table(value)
    if value is None:
        return _empty("(none)")
    return _cell(value)


def _ordered(keyed: dict[str, Any], run: RunData) -> list[str]:
    order = list(run.stage_names)
    return sorted(keyed, key=lambda k: (k not in order, order.index(k) if k in order else 0, k))


def section_manifest(run: RunData) -> Section:
    m = run.manifest
    parts = []
    versions = m.get("stage_versions") or {}
    if versions:
        parts.append(
            "<h3>Stages</h3>"
            + _table(["key", "stage@version"], [[k, versions[k]] for k in _ordered(versions, run)], numeric_from=9)
        )
    inputs = m.get("inputs") or []
    if inputs:
        parts.append(
            "<h3>Inputs</h3>"
            + _table(
                ["path", "source", "format", "bytes", "encoding", "fingerprint"],
                [
                    [
                        i.get("path", ""),
                        i.get("source", ""),
                        i.get("format", ""),
                        i.get("size", 0),
                        i.get("encoding", ""),
                        i.get("fingerprint", ""),
                    ]
                    for i in inputs
                ],
                numeric_from=3,
            )
        )
    pk = dict(m.get("packages") or {})
    if m.get("python"):
        pk = {"python": m["python"], **pk}
    if pk:
        parts.append(
            "<h3>Versions</h3>" + _table(["package", "version"], [[k, v] for k, v in pk.items()], numeric_from=9)
        )
    if m.get("config") is not None:
        try:
            import yaml

            text = yaml.safe_dump(m["config"], allow_unicode=True, sort_keys=False)
        except Exception:
            text = json.dumps(m["config"], ensure_ascii=False, indent=2)
        parts.append("<h3>Resolved config</h3><pre>" + _esc(text) + "</pre>")
    if run.thresholds:
        rows = [[col, t.stage, t.param, t.value] for col, ts in sorted(run.thresholds.items()) for t in ts]
        parts.append(
            "<h3>Thresholds found in the config</h3>"
            + _table(["column", "stage", "parameter", "value"], rows, numeric_from=3)
        )
    shown = {*_synthetic_keys(run), *_dedup_keys(run), *(k for k in run.reports if "curriculum" in k)}
    others = {k: v for k, v in run.reports.items() if k not in shown}
    if others:
        parts.append("<h3>Reports of global stages</h3>")
        for k, v in others.items():
            parts.append(f"<h4>{_esc(k)}</h4>" + render_json(v))
    shards = m.get("shards") or []
    if shards:
        parts.append(
            f"<p>{len(shards)} shard tasks; {sum(bool(s.get('skipped')) for s in shards)} were already "
            "done and skipped (resumed run).</p>"
        )
    return Section("manifest", "Manifest", "".join(parts) or _empty("manifest.json is empty."))


SECTIONS = (
    section_overview,
    section_funnel,
    section_reasons,
    section_examples,
    section_signals,
    section_language,
    section_dedup,
    section_curriculum,
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
    toc = "".join(f'<li><a href="#{s.id}">{_esc(s.title)}</a></li>' for s in sections)
    body = "".join(f'<section id="{s.id}"><h2>{_esc(s.title)}</h2>{s.body}</section>' for s in sections)
    when = f"{m.get('started', '')} → {m.get('finished', '')}"
    sub = f"{m.get('status', '?')} · {when} · config {m.get('config_hash', '')}"
    return (
        '<!DOCTYPE html>\n<html lang="zh-Hans"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(title)}</title><style>{CSS}</style></head><body>"
        f'<header><h1>{_esc(title)}</h1><div class="sub">{_esc(sub)}</div></header>'
        f'<main><nav class="toc"><b>Contents</b><ol>{toc}</ol></nav>{body}</main></body></html>\n'
    )


def write_report(run_dir: str, sample_values: int = SAMPLE_VALUES) -> str:
    """Write `run_dir/report.html` (atomically) and return its path."""
    run = load_run(run_dir, sample_values)
    path = os.path.join(run_dir, REPORT_NAME)
    tmp = path + TMP_SUFFIX
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(render_html(run))
    os.replace(tmp, path)
    return path


def funnel_records(run_dir: str) -> list[dict[str, Any]]:
    """The funnel as rows (stage, docs in/out/rejected, kept share, chars in/out, top reasons), in pipeline
    order, for a Prefect table artifact or a printout."""
    manifest = read_json(os.path.join(run_dir, "manifest.json"))
    stats = read_json(os.path.join(run_dir, "stats.json"))
    run = RunData(run_dir, manifest, stats, None, DataScan(), LedgerScan(), {})
    rows = []
    for key, st in run.stage_stats.items():
        reasons = sorted((st.get("reasons") or {}).items(), key=lambda kv: -kv[1])
        rows.append(
            {
                "stage": key,
                "docs_in": st.get("docs_in", 0),
                "docs_out": st.get("docs_out", 0),
                "docs_rejected": st.get("docs_rejected", 0),
                "kept": _pct(st.get("docs_out", 0), st.get("docs_in", 0)),
                "chars_in": st.get("chars_in", 0),
                "chars_out": st.get("chars_out", 0),
                "top_reasons": ", ".join(f"{r} {n:,}" for r, n in reasons[:3]),
            }
        )
    return rows


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
