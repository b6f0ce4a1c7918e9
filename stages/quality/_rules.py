"""Small helpers shared by the quality filters: signal columns, ordered drop rules, and line splitting."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stages.chinese import string_array
from stages.core.arrow import set_column


def with_signals(batch: pa.RecordBatch, signals: dict[str, np.ndarray]) -> pa.RecordBatch:
    for name, values in signals.items():
        arr = np.asarray(values)
        batch = set_column(batch, name, pa.array(arr, pa.float64() if arr.dtype.kind == "f" else pa.int64()))
    return batch


def signal(batch: pa.RecordBatch, name: str) -> np.ndarray:
    return batch.column(name).to_numpy(zero_copy_only=False).astype(np.float64)


def first_reason(n: int, rules: Iterable[tuple[np.ndarray | None, str]]) -> pa.Array:
    """A reason per document from (drop_mask, reason) rules; the first rule that fires wins, null keeps."""
    out = np.full(n, None, dtype=object)
    for mask, reason in reversed(list(rules)):
        if mask is not None:
            out[np.asarray(mask, dtype=bool)] = reason
    return pa.array(out, pa.string())


def below(values: np.ndarray, threshold: float | None) -> np.ndarray | None:
    return None if threshold is None else values < threshold


def above(values: np.ndarray, threshold: float | None) -> np.ndarray | None:
    return None if threshold is None else values > threshold


def split_lines(texts: pa.Array, pattern: str = "\n", regex: bool = False) -> tuple[pa.Array, np.ndarray]:
    """Non-empty, whitespace-trimmed lines (or paragraphs) of every document, and the document of each."""
    texts = string_array(texts)
    parts = pc.split_pattern_regex(texts, pattern) if regex else pc.split_pattern(texts, pattern)
    parent = pc.list_parent_indices(parts).to_numpy()
    flat = pc.utf8_trim_whitespace(pc.list_flatten(parts))
    keep = pc.greater(pc.utf8_length(flat), 0)
    return pc.filter(flat, keep), parent[keep.to_numpy(zero_copy_only=False)]


def per_doc(parent: np.ndarray, n_docs: int, weights: np.ndarray | None = None) -> np.ndarray:
    return np.bincount(parent, weights=weights, minlength=n_docs)[:n_docs]


def split_units(texts: pa.Array, long_line_chars: int | None, cut: str) -> tuple[pa.Array, np.ndarray]:
    """Lines, with every line longer than `long_line_chars` cut after each match of `cut` (its sentence
    ends): a document that is one long line is judged by its sentences, not as one "line"."""
    lines, parent = split_lines(texts)
    if long_line_chars is None or not len(lines):
        return lines, parent
    long = pc.greater(pc.utf8_length(lines), long_line_chars).to_numpy(zero_copy_only=False)
    if not long.any():
        return lines, parent
    marked = pc.replace_substring_regex(lines.filter(pa.array(long)), cut, "\\0\n")
    pieces = pc.split_pattern(marked, "\n")
    piece_parent = parent[long][pc.list_parent_indices(pieces).to_numpy()]
    flat = pc.utf8_trim_whitespace(pc.list_flatten(pieces))
    nonempty = pc.greater(pc.utf8_length(flat), 0)
    units = pa.concat_arrays([lines.filter(pa.array(~long)), flat.filter(nonempty)])
    unit_parent = np.concatenate([parent[~long], piece_parent[nonempty.to_numpy(zero_copy_only=False)]])
    order = np.argsort(unit_parent, kind="stable")
    return units.take(pa.array(order)), unit_parent[order]
