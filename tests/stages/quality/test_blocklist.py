import pytest

from stages.quality.blocklist import BlocklistFilter
from stages.testing import run_stage


def test_hits_per_thousand_characters():
    # 欢迎光临百家乐现金网: 10 characters, 2 hits (百家乐, 现金网) -> 2 * 1000 / 10 = 200
    # the Traditional form 百家樂 matches through the OpenCC variants: 1 hit in 5 characters -> 200
    out = run_stage(BlocklistFilter(mode="annotate"), ["欢迎光临百家乐现金网", "歡迎百家樂", "今天下雨了。"])
    assert out.kept.column("_blocklist_hits").to_pylist() == pytest.approx([200.0, 200.0, 0.0])


def test_threshold_and_user_lists(tmp_path):
    long_text = "这是一篇正常的文章。" * 100  # 1,000 characters
    one_hit = long_text[:-3] + "百家乐"  # 1 hit per 1,000 characters: not above 1.0 -> kept
    out = run_stage(BlocklistFilter(max_hard_hits=None), [one_hit, "百家乐在线"])  # 百家乐 is also a hard term
    assert out.kept.column("id").to_pylist() == ["d0"]
    assert out.rejected.column("reason").to_pylist() == ["blocklist"]
    words = tmp_path / "mine.txt"
    words.write_text("# my words\n正常的文章\n", encoding="utf-8")
    out = run_stage(BlocklistFilter(mode="annotate", categories=[], extra_files=[str(words)]), [long_text])
    assert out.kept.column("_blocklist_hits").to_pylist() == [100.0]  # 100 hits in 1,000 characters


def test_unknown_category_fails_in_setup():
    with pytest.raises(ValueError, match="unknown"):
        BlocklistFilter(categories=["nope"]).setup()


def test_hard_terms_drop_on_one_hit():
    long_text = "这是一篇正常的文章。" * 100  # 1,000 characters
    spliced = long_text + "时时彩"  # 1 soft hit per 1,003 characters (0.997, kept) but 1 hard hit
    resort = long_text + "澳门威尼斯人"  # 威尼斯人 is soft only (the Macau resort): 0 hard hits
    out = run_stage(BlocklistFilter(mode="annotate"), [spliced, resort, "時時彩"])
    assert out.kept.column("_blocklist_hard_hits").to_pylist() == [1, 0, 1]  # Traditional form too
    assert out.kept.column("_blocklist_hits").to_pylist() == pytest.approx([1000 / 1003, 1000 / 1006, 1000 / 3])
    out = run_stage(BlocklistFilter(), [spliced, resort])
    assert out.rejected.column("reason").to_pylist() == ["blocklist_hard"]
    assert run_stage(BlocklistFilter(max_hard_hits=None), [spliced]).stats.docs_rejected == 0
