"""Chinese text helpers shared by stages: Traditional->Simplified folding and the script-folded match key."""

from __future__ import annotations

from functools import cache

import pyarrow as pa
import pyarrow.compute as pc


@cache
def _converter(config: str):
    import opencc

    return opencc.OpenCC(config)


def t2s(text: str) -> str:
    """Traditional to Simplified (OpenCC `t2s`: characters and common phrases)."""
    return _converter("t2s").convert(text)


def t2s_array(texts: pa.Array) -> pa.Array:
    conv = _converter("t2s").convert
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
