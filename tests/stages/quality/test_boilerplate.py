import pytest

from stages.quality.boilerplate import BoilerplateMapper, PageStructureFilter, keyword_list_frac
from stages.testing import run_stage


def test_mapper_removes_short_template_lines_only():
    page = "租车的学问\n租车前要检查车况，了解操作系统。\n\n上一篇：自驾游须知\n下一篇：租车责任\n版权所有 某某公司"
    long_line = "上一篇" + "文" * 70  # longer than max_line_chars (60): never removed
    texts = [page, long_line, "上一篇：甲\n下一篇：乙", "没有模板的正文。"]
    out = run_stage(BoilerplateMapper(), texts)
    assert out.kept.column("text").to_pylist() == [
        "租车的学问\n租车前要检查车况，了解操作系统。\n",  # the blank line stays
        long_line,
        "上一篇：甲\n下一篇：乙",  # all template: left whole for the filters
        "没有模板的正文。",
    ]
    assert out.kept.column("_boilerplate_lines").to_pylist() == [3, 0, 0, 0]
    assert out.stats.counters["boilerplate_lines_removed"] == 3


@pytest.mark.parametrize(
    "line",
    [
        "首页 > 新闻中心 > 正文",
        "责任编辑：王五",
        "点击量：123",
        "评论(0)",
        "京ICP备12345678号",
        "相关文章",
        "当前位置：首页",
    ],
)
def test_mapper_patterns(line):
    out = run_stage(BoilerplateMapper(), [f"正文是一句完整的话。\n{line}"])
    assert out.kept.column("text").to_pylist() == ["正文是一句完整的话。"]


def test_nonprose_char_fraction():
    # lines: 产品参数 (4, no sentence end), 尺寸：10厘米 (7, none), 这是一段正常的句子。 (10, ends) -> 11 / 21
    text = "产品参数\n尺寸：10厘米\n这是一段正常的句子。"
    out = run_stage(PageStructureFilter(mode="annotate"), [text, "这是一段正常的句子。"])
    assert out.kept.column("_nonprose_char_frac").to_pylist() == pytest.approx([11 / 21, 0.0])
    out = run_stage(PageStructureFilter(), [text])
    assert out.rejected.column("reason").to_pylist() == ["nonprose_text"]


def test_title_repeats():
    body = "治咳嗽的药有很多。治咳嗽的药要遵医嘱。治咳嗽的药别乱吃。"
    texts = [
        "治咳嗽的药\n" + body,  # the 5-character title occurs 4 times: 3 repeats
        "治咳嗽的药有很多。治咳嗽的药要遵医嘱。",  # one line only: no title
        "药\n药很多。",  # title shorter than 4 characters: not counted
    ]
    stage = PageStructureFilter(mode="annotate", max_nonprose_char_frac=None)
    assert run_stage(stage, texts).kept.column("_title_repeats").to_pylist() == [3, 0, 0]
    out = run_stage(PageStructureFilter(max_nonprose_char_frac=None), texts)
    assert out.rejected.column("reason").to_pylist() == ["title_stuffing"]


def test_keyword_list_fraction():
    import pyarrow as pa

    texts = [
        "聚丙烯酰胺 絮凝剂 聚合氯化铝 活性炭 污水处理 净水剂",  # 6 tokens, mean 3.8, no function word: all list
        "关键词 一 二 三 四 五。这是正常的句子。",  # list segment 13 chars of 22
        "我 的 书 在 这 里",  # 3 of 6 tokens hold a function word (的, 在, 这): not a list
        "the cat sat on the mat today",  # the, on, the: 3 of 7
        "一 二 三 四 五",  # 5 tokens: too few
    ]
    assert keyword_list_frac(pa.array(texts)).tolist() == pytest.approx([1.0, 13 / 22, 0.0, 0.0, 0.0])
    out = run_stage(PageStructureFilter(max_nonprose_char_frac=None), texts[:2])  # the first has no sentence end
    assert out.rejected.column("reason").to_pylist() == ["keyword_list", "keyword_list"]


def test_empty_batch_and_empty_texts():
    out = run_stage(PageStructureFilter(mode="annotate"), ["", "\n\n"])
    assert out.kept.column("_nonprose_char_frac").to_pylist() == [0.0, 0.0]
    assert out.kept.column("_title_repeats").to_pylist() == [0, 0]
    assert run_stage(BoilerplateMapper(), ["", "\n"]).kept.column("text").to_pylist() == ["", "\n"]


def test_text_broken_inside_sentences_is_prose_but_spec_sheets_are_not():
    # converted-PDF text wrapped at 30 characters: lines end mid-sentence, but each has a comma or a 。
    pdf = (
        "当设备面板上的滤芯指示灯变为红色时,说明滤芯已达\n到使用寿命,应及时更换。更换前请先关闭进水阀门并\n"
        "切断电源,然后逆时针旋转滤瓶,将其取下。"
    )
    verse = "山居\n晓雾锁柴扉,\n松风过小溪。\n担泉归径远,\n采药入云低。"
    spec = "产品名称：无纺布口罩\n产品编号：口罩用无纺布\n颜色：白色\n规格：17.5×9.5厘米\n这款口罩柔软透气。"
    out = run_stage(PageStructureFilter(mode="annotate"), [pdf, verse, spec])
    frac = out.kept.column("_nonprose_char_frac").to_pylist()
    assert frac[0] == 0.0
    assert frac[1] == pytest.approx(2 / 26)  # only the title 山居 (2 of 26 characters)
    assert frac[2] > 0.6
