"""Share of Han characters: the cheapest test that a document is Chinese prose at all."""

from __future__ import annotations

from typing import ClassVar

import pyarrow as pa
from pydantic import Field

from stages.base import Filter
from stages.charclass import HAN
from stages.quality._codepoints import codepoints, safe_ratio
from stages.quality._rules import below, first_reason, signal, with_signals


class HanRatioFilter(Filter):
    """Drops documents whose Han characters are less than `min_ratio` of all characters (`_han_ratio`).

    Default 0.3 is ChineseWebText's `min_zh_percent` (CASIA-LM/ChineseWebText preprocess.py), measured the
    same way: Han characters over all characters, whitespace included. Han = CJK Unified Ideographs with
    Extensions A–H and the compatibility block (wider than ChineseWebText's U+4E00–U+9FA5).
    """

    name: ClassVar[str] = "han_ratio_filter"
    thresholds: ClassVar[dict[str, tuple[str, ...]]] = {"_han_ratio": ("min_ratio",)}
    adds: ClassVar[tuple[str, ...]] = ("_han_ratio",)
    reason: ClassVar[str] = "low_han_ratio"

    min_ratio: float = Field(0.3, ge=0, le=1, description="drop below this share of Han characters")

    def annotate(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        cp = codepoints(batch.column("text"))
        return with_signals(batch, {"_han_ratio": safe_ratio(cp.count_class(HAN), cp.lengths)})

    def reasons(self, batch: pa.RecordBatch) -> pa.Array:
        return first_reason(batch.num_rows, [(below(signal(batch, "_han_ratio"), self.min_ratio), self.reason)])
