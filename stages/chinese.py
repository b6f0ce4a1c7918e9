"""Text helpers shared by stages: string arrays decoded to code points, Traditional->Simplified folding and
the script-folded match key."""

from __future__ import annotations

from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def string_array(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One chunk of type string with nulls as "", whatever text column a stage is given."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type != pa.string():
        arr = arr.cast(pa.string())
    return pc.fill_null(arr, "") if arr.null_count else arr


def code_points(texts: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """All code points of a string array as one uint32 array, plus per-document lengths in characters;
    decoded once from the Arrow buffer, so numpy can count character classes without a loop per document."""
    texts = string_array(texts)
    lengths = pc.utf8_length(texts).to_numpy(zero_copy_only=False).astype(np.int64)
    data = texts.buffers()[2]
    if data is None or len(texts) == 0:
        return np.zeros(0, np.uint32), lengths
    offsets = np.frombuffer(texts.buffers()[1], dtype=np.int32)[texts.offset : texts.offset + len(texts) + 1]
    text = str(memoryview(data)[offsets[0] : offsets[-1]], "utf-8")
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32), lengths


@cache
def converter(config: str):
    """One OpenCC converter per config and process: each costs 30-70 ms to load."""
    import opencc

    return opencc.OpenCC(config)


def t2s(text: str) -> str:
    """Traditional to Simplified (OpenCC `t2s`: characters and common phrases)."""
    return converter("t2s").convert(text)


def t2s_array(texts: pa.Array) -> pa.Array:
    conv = converter("t2s").convert
    return pa.array([None if t is None else conv(t) for t in texts.to_pylist()], pa.string())


_NOISE = r"[\s\p{P}\p{S}]+"


def fold(texts: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The key under which copies match: NFKC, lower case, whitespace/punctuation/symbols removed,
    Traditional folded to Simplified. Used by exact dedup, MinHash shingles and decontamination."""
    out = pc.utf8_normalize(texts, "NFKC")
    out = pc.utf8_lower(out)
    out = pc.replace_substring_regex(out, _NOISE, "")
    if isinstance(out, pa.ChunkedArray):
        out = out.combine_chunks()
    return t2s_array(out)
