import logging

import pytest

from stages.quality.words import WordFilter, segment
from stages.testing import run_stage


def test_word_signals():
    # rjieba (HMM off): 我们 / 在 / 北京 / 学习 / 。 -> 4 words (the full stop is not one);
    # stopwords 我们, 在 = 2; mean length (2+1+2+2)/4 = 1.75; every word has a letter -> 1.0
    # 他 在 2024 年 去 了 上海 ， 买 了 3 本书 。 -> 11 words; stopwords 他 在 了 了 = 4;
    # characters 1+1+4+1+1+1+2+1+1+1+2 = 16 -> 16/11; alphabetic words 11 - 2 numbers = 9 -> 9/11
    out = run_stage(WordFilter(mode="annotate"), ["我们在北京学习。", "他在2024年去了上海，买了3本书。"])
    col = {k: out.kept.column(k).to_pylist() for k in out.kept.schema.names if k.startswith("_")}
    assert col["_n_words"] == [4, 11]
    assert col["_stopwords"] == [2, 4]
    assert col["_mean_word_len"] == pytest.approx([1.75, 16 / 11])
    assert col["_alpha_word_ratio"] == pytest.approx([1.0, 9 / 11])


def test_word_reasons(tmp_path):
    texts = ["北京上海广州深圳", "https://example.com/abcdefghijklmnopqrstuvwxyz", "我们在北京学习。"]
    out = run_stage(WordFilter(), texts)
    # no stopword in the first two; the third passes
    assert out.rejected.column("reason").to_pylist() == ["few_stopwords", "few_stopwords"]
    extra = tmp_path / "stop.txt"
    extra.write_text("# city names count as stopwords here\n北京\n上海\n", encoding="utf-8")
    out = run_stage(WordFilter(stopword_files=[str(extra)]), texts[:1])
    assert out.kept.num_rows == 1


def test_rjieba_matches_jieba_without_hmm():
    jieba = pytest.importorskip("jieba")
    jieba.setLogLevel(logging.WARNING)
    for text in ["南京市长江大桥于一九六八年建成通车。", "他来到了网易杭研大厦", "我爱自然语言处理和机器学习！"]:
        assert segment(text) == jieba.lcut(text, HMM=False)
