"""Every quality filter works in annotate mode: drops nothing, adds its declared signal columns."""

import pytest

from stages.quality.blocklist import BlocklistFilter
from stages.quality.boilerplate import PageStructureFilter
from stages.quality.chars import CharDiversityFilter
from stages.quality.han_ratio import HanRatioFilter
from stages.quality.length import LengthFilter
from stages.quality.promo import AppPromoFilter
from stages.quality.punctuation import PunctuationFilter
from stages.quality.repetition import RepetitionFilter
from stages.quality.url_blocklist import UrlBlocklistFilter
from stages.quality.words import WordFilter
from stages.testing import run_stage

FILTERS = [
    HanRatioFilter,
    LengthFilter,
    RepetitionFilter,
    PunctuationFilter,
    CharDiversityFilter,
    WordFilter,
    BlocklistFilter,
    UrlBlocklistFilter,
    AppPromoFilter,
    PageStructureFilter,
]
TEXTS = ["", "a", "百家乐现金网", "菜单\n首页\n首页\n首页", "春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。"]


@pytest.mark.parametrize("cls", FILTERS, ids=lambda c: c.name)
def test_annotate_keeps_all_and_records_signals(cls):
    out = run_stage(cls(mode="annotate"), TEXTS, url=["http://a.xxx/"] * len(TEXTS))
    assert out.kept.num_rows == len(TEXTS) and out.rejected is None
    for col in cls.adds:
        assert out.kept.schema.get_field_index(col) >= 0, col
        assert out.kept.column(col).null_count == 0
    # the same documents in filter mode: what annotate counted as would_drop is what filter drops
    dropped = run_stage(cls(), TEXTS, url=["http://a.xxx/"] * len(TEXTS)).stats.docs_rejected
    assert dropped == sum(n for k, n in out.stats.counters.items() if k.startswith("would_drop."))


def test_names_follow_the_convention():
    assert all(c.name.endswith("_filter") for c in FILTERS)
