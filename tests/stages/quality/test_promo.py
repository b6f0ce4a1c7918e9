import pytest

from stages.quality.promo import AppPromoFilter
from stages.testing import run_stage


def test_changelog_markers_counted_per_document():
    texts = [
        # 更新内容 (1), 修复已知bug (1), 优化用户体验 (1), V2.3 after a Han character (1) -> 4
        "这是一款记账工具。版本V2.3更新内容：1、修复已知bug；2、优化用户体验。",
        # an engineering abstract: 增强了反演的稳定性 is not a software release note -> 0
        "模型约束的加入增强了反演的稳定性，使结果更加可靠。",
    ]
    out = run_stage(AppPromoFilter(mode="annotate"), texts)
    assert out.kept.column("_changelog_hits").to_pylist() == [4, 0]


def test_marketing_formulas_and_thresholds():
    texts = [
        "快来下载吧，还等什么！新人专享好礼。",  # 快来下载, 还等什么, 新人专享 -> 3 > 1: app_promo
        "玩家说：还等什么，马上出发。",  # one formula (还等什么) can be a quote -> kept
        "更新内容：修复闪退。快来下载吧，还等什么！",  # changelog wins the reason
        "今天天气很好，我们去公园散步。",
    ]
    out = run_stage(AppPromoFilter(mode="annotate"), texts)
    assert out.kept.column("_promo_hits").to_pylist() == [3, 1, 2, 0]
    out = run_stage(AppPromoFilter(), texts)
    assert out.kept.column("id").to_pylist() == ["d1", "d3"]
    assert out.rejected.column("reason").to_pylist() == ["app_promo", "app_changelog"]


def test_user_pattern_files(tmp_path):
    extra = tmp_path / "mine.txt"
    extra.write_text("# mine\n限时秒杀\n", encoding="utf-8")
    out = run_stage(AppPromoFilter(mode="annotate", promo_files=[str(extra)]), ["限时秒杀，限时秒杀"])
    assert out.kept.column("_promo_hits").to_pylist() == [2]
    bad = tmp_path / "bad.txt"
    bad.write_text("(unclosed\n", encoding="utf-8")
    with pytest.raises(ValueError, match="bad regex"):
        AppPromoFilter(changelog_files=[str(bad)]).setup()
