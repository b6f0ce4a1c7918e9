import json

import numpy as np
import pytest

from stages.quality.classifier import QualityClassifier, balanced_weights, evaluate, ngram_features, train_quality
from stages.testing import run_stage

GOOD = [
    "研究表明，该地区的气候在过去{i}年中逐渐变暖，科学家认为这与人类活动密切相关。",
    "这座城市始建于公元{i}年，历史上曾多次成为重要的商业和文化中心。",
    "本文分析了{i}种材料的力学性能，并讨论了其在工程中的应用前景。",
    "会议指出，要进一步完善相关制度，推动经济社会持续健康发展，第{i}项措施已经落实。",
]
BAD = [
    "加微信{i}领红包！！！点击进入 点击进入 点击进入 免费下载",
    "【热卖】{i}元包邮 秒杀 爆款 抢购 抢购 抢购 限时优惠 速来",
    "百家乐 现金网 开户送{i}元 真人娱乐 娱乐城 官网 注册就送",
    "最新 最全 最热 {i} 下载 下载 高清 免费 观看 在线 观看",
]


def write(path, templates, n):
    path.write_text("\n".join(t.format(i=i) for i in range(n) for t in templates), encoding="utf-8")
    return str(path)


def test_train_and_score_separates_hand_written_texts(tmp_path):
    pos = write(tmp_path / "good.txt", GOOD, 30)
    neg = write(tmp_path / "bad.txt", BAD, 30)
    model = tmp_path / "m" / "quality.npz"
    meta = train_quality([pos], [neg], str(model), holdout=0.25, buckets=1 << 16, epochs=3)
    assert model.is_file() and (tmp_path / "m" / "quality.json").is_file()
    saved = json.loads((tmp_path / "m" / "quality.json").read_text(encoding="utf-8"))
    assert saved["format"] == "jingxuan-quality-linear/1" and saved["positive"][0]["bytes"] > 0
    h = meta["metrics"]["holdout"]
    assert h["positives"] > 0 and h["negatives"] > 0
    assert h["precision"] >= 0.95 and h["recall"] >= 0.95
    stage = QualityClassifier(model=str(model), threshold=0.5)
    out = run_stage(stage, ["专家认为，这项研究对理解气候变化具有重要意义。", "加微信领红包 点击进入 免费下载 抢购"])
    assert out.kept.column("id").to_pylist() == ["d0"]
    assert out.rejected.column("reason").to_pylist() == ["low_quality"]
    scores = run_stage(
        QualityClassifier(model=str(model), mode="annotate"), ["会议指出，要推动发展。", "秒杀 抢购 包邮"]
    )
    q = scores.kept.column("_quality").to_pylist()
    assert q[0] > 0.5 > q[1]


def test_missing_model_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.npz"):
        QualityClassifier(model=str(tmp_path / "nope.npz")).setup()


def test_features_are_normalised_and_digit_folded():
    indptr, indices, values = ngram_features(["年份1999", "年份2024", ""], ngram=(1, 3), buckets=1 << 12)
    # documents 0 and 1 differ only in digits, which map to 0 -> identical features; document 2 is empty
    assert indptr.tolist()[3] == indptr.tolist()[2]
    a = dict(zip(indices[indptr[0] : indptr[1]], values[indptr[0] : indptr[1]], strict=True))
    b = dict(zip(indices[indptr[1] : indptr[2]], values[indptr[1] : indptr[2]], strict=True))
    assert a == b
    assert np.sum(np.square(values[indptr[0] : indptr[1]])) == pytest.approx(1.0, abs=1e-5)


def test_evaluate_and_weights():
    # scores >= 0.5 predicted positive: tp = 2 (0.9, 0.6), fp = 1 (0.7), fn = 1 (0.2)
    m = evaluate(np.array([0.9, 0.6, 0.7, 0.2, 0.1]), np.array([1, 1, 0, 1, 0]))
    assert m["precision"] == pytest.approx(2 / 3, abs=1e-4) and m["recall"] == pytest.approx(2 / 3, abs=1e-4)
    # AUC: positive/negative pairs ranked right: (0.9>0.7,0.9>0.1,0.6>0.1,0.2>0.1) = 4 of 6
    assert m["auc"] == pytest.approx(4 / 6, abs=1e-4)
    # two classes of sizes 3 and 1: each class gets half the total weight of 4
    assert balanced_weights(np.array([1, 1, 1, 0])).tolist() == pytest.approx([2 / 3, 2 / 3, 2 / 3, 2.0])


@pytest.mark.slow
def test_heldout_precision_recall_on_shared_corpora(shared_dir, tmp_path):
    docs = shared_dir / "corpora" / "docs"
    pos = [str(docs / f) for f in ("zh_wiki_cmrc2018_hans.jsonl", "zh_abstracts_fewclue_csldcp.jsonl")]
    neg = [str(docs / f) for f in ("zh_web_chinesewebtext_ccnet.jsonl", "zh_appdesc_fewclue_iflytek.jsonl")]
    meta = train_quality(pos, neg, str(tmp_path / "q.npz"), holdout=0.2)
    h = meta["metrics"]["holdout"]
    assert h["positives"] > 300 and h["negatives"] > 300
    assert h["precision"] >= 0.9 and h["recall"] >= 0.9
