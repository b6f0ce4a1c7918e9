"""langid and lang_filter: rules with a stub model, the real lid.176 on hand-written text, and the accuracy
targets on the held-out half of the shared language-ID sets."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pyarrow as pa
import pytest

from stages.base import STAGES
from stages.langid import LangFilter, LangId, model_path
from stages.testing import make_batch, run_stage

REPO = Path(__file__).resolve().parents[2]


def labels(stage: LangId, texts: list[str]) -> list[dict]:
    return run_stage(stage, texts).kept.to_pylist()


def stub(stage: LangId, answers: dict[str, list[tuple[float, str]]]) -> LangId:
    """Replace the model by a table text -> [(probability, label), ...]."""
    stage.ensure_setup()

    def predict(line: str, k: int, threshold: float, mode: str):
        return [(p, f"__label__{lab}") for p, lab in answers[line.rstrip("\n")][:k]]

    object.__setattr__(stage, "_predict", predict)
    return stage


def test_registered_and_model_is_bundled():
    assert STAGES.get("langid") is LangId
    assert STAGES.get("lang_filter") is LangFilter
    assert model_path().name == "lid.176.ftz"


# -- rules, with a stub model --------------------------------------------------------------------------


def test_chinese_variants_fold_into_zh_and_probabilities_add_up():
    text = "佢哋今日去咗邊度"
    answer = {text: [(0.6, "yue"), (0.3, "zh"), (0.1, "en")]}
    row = labels(stub(LangId(), answer), [text])[0]
    assert (row["_lang"], row["_lang_raw"]) == ("zh", "yue")
    assert row["_lang_score"] == pytest.approx(0.9)
    # kept apart: the Han-only rule does not turn Cantonese into zh either
    kept = labels(stub(LangId(label_map={}), answer), [text])[0]
    assert (kept["_lang"], kept["_lang_score"]) == ("yue", pytest.approx(0.6))


def test_script_rules_with_stub():
    han_only = "泥料成本与制作工时"  # 9 Han letters, no kana, no Hangul
    kana_zh = "这是の我的"  # 1 kana of 5 letters = 0.2 >= 0.1
    one_kana = "这是我们学校今天的新闻の报道内容"  # 1 kana of 16 letters < 0.1
    hangul = "너무 두려워요"
    answers = {
        han_only: [(0.7, "ko"), (0.2, "zh")],
        kana_zh: [(0.8, "zh"), (0.1, "ja")],
        one_kana: [(0.9, "zh")],
        hangul: [(0.8, "zh"), (0.1, "ko")],
    }
    rows = labels(stub(LangId(), answers), list(answers))
    assert [r["_lang"] for r in rows] == ["zh", "ja", "zh", "ko"]
    assert [r["_lang_raw"] for r in rows] == ["ko", "zh", "zh", "zh"]
    # relabelled: max(model probability of the new label, share of letters in the deciding script)
    assert [r["_lang_score"] for r in rows] == pytest.approx([1.0, 1.0, 0.9, 1.0])
    off = labels(stub(LangId(script_rules=False), answers), list(answers))
    assert [r["_lang"] for r in off] == ["ko", "zh", "zh", "zh"]


def test_no_letters_is_und():
    answers = {"12345 😀": [(0.12, "en")], "": [(0.12, "en")], "？！……": [(0.12, "en")]}
    rows = labels(stub(LangId(), answers), list(answers))
    assert [(r["_lang"], r["_lang_score"], r["_lang_raw"]) for r in rows] == [("und", 0.0, "en")] * 3


def test_long_documents_are_truncated_and_newlines_removed():
    seen = []
    stage = LangId(max_chars=5)
    stage.ensure_setup()
    object.__setattr__(stage, "_predict", lambda line, k, t, m: seen.append(line) or [(0.9, "__label__zh")])
    run_stage(stage, ["第一行\n第二行很长很长"])
    assert seen == ["第一行 第\n"]


# -- the real model ------------------------------------------------------------------------------------


def test_real_model_hand_written():
    texts = [
        "这是一个简体中文的句子，我们用它来测试语言识别。",
        "這是一個繁體中文的句子，我們用它來測試語言識別。",
        "日本国憲法第九条",  # kanji only: lid.176 says ja, the kanji rule says zh
        "東京は日本の首都で、たくさんの人が住んでいます。",
        "안녕하세요, 오늘 날씨가 정말 좋네요.",
        "This is an English sentence about the weather today.",
    ]
    rows = labels(LangId(), texts)
    assert [r["_lang"] for r in rows] == ["zh", "zh", "zh", "ja", "ko", "en"]
    assert rows[2]["_lang_raw"] == "ja"
    # _script describes Han characters in any language: 国/条 are Simplified-only, so is Japanese shinjitai
    assert [r["_script"] for r in rows] == ["Hans", "Hant", "Hans", "Hant", "none", "none"]
    assert all(0.5 < r["_lang_score"] <= 1.0 for r in rows)
    out = run_stage(LangId(), texts)
    assert out.stats.counters["lang.zh"] == 3
    assert pa.types.is_float32(out.kept.schema.field("_lang_score").type)


def test_per_paragraph_mixed_document():
    zh = "这是一个很长的中文段落，讲述了城市交通和居民生活的许多变化。"
    en = "A short English line here."
    doc = f"{zh}\n\n{en}\n"
    row = labels(LangId(per_paragraph=True), [doc, "只有中文"])[0]
    assert row["_lang"] == "zh"
    assert row["_lang_mix"] == pytest.approx(len(zh) / (len(zh) + len(en)), rel=1e-6)
    # document-level call on the same text for comparison: no _lang_mix column
    assert "_lang_mix" not in labels(LangId(), [doc])[0]


# -- lang_filter ---------------------------------------------------------------------------------------


def _annotated(rows: list[tuple[str, float, str]]) -> pa.RecordBatch:
    return make_batch(
        [f"t{i}" for i in range(len(rows))],
        _lang=[r[0] for r in rows],
        _lang_score=[r[1] for r in rows],
        _script=[r[2] for r in rows],
    )


ROWS = [
    ("zh", 0.95, "Hans"),  # kept
    ("zh", 0.95, "Hant"),  # wrong_script when scripts=["Hans"]
    ("zh", 0.20, "Hans"),  # low_score (default 0.3)
    ("en", 0.99, "none"),  # wrong_language
    ("zh", 0.90, "ambiguous"),  # kept: reads the same in both scripts
    ("und", 0.0, "none"),  # wrong_language
    ("zh", 0.25, "Hant"),  # low_score wins over wrong_script
]


def test_lang_filter_reasons():
    out = run_stage(LangFilter(scripts=["Hans"]), _annotated(ROWS))
    assert out.kept.column("id").to_pylist() == ["d0", "d4"]
    assert out.rejected.column("reason").to_pylist() == [
        "wrong_script",
        "low_score",
        "wrong_language",
        "wrong_language",
        "low_score",
    ]
    assert out.stats.reasons == {"wrong_script": 1, "low_score": 2, "wrong_language": 2}


def test_lang_filter_options():
    batch = _annotated(ROWS)
    # no script restriction, English allowed with its own threshold, Chinese threshold raised
    out = run_stage(LangFilter(languages=["zh", "en"], min_scores={"zh": 0.92, "en": 0.995}), batch)
    assert out.kept.column("id").to_pylist() == ["d0", "d1"]
    strict = run_stage(LangFilter(scripts=["Hans"], keep_ambiguous_script=False), batch)
    assert strict.kept.column("id").to_pylist() == ["d0"]


def test_lang_filter_annotate_mode_keeps_everything():
    out = run_stage(LangFilter(scripts=["Hans"], mode="annotate"), _annotated(ROWS))
    assert out.kept.num_rows == len(ROWS) and out.rejected is None
    assert out.stats.counters == {
        "would_drop.wrong_script": 1,
        "would_drop.low_score": 2,
        "would_drop.wrong_language": 2,
    }


def test_lang_filter_needs_langid():
    with pytest.raises(ValueError, match="lang_filter needs langid before it"):
        run_stage(LangFilter(), ["没有语言列"])


def test_lang_filter_after_langid():
    texts = ["这是一个简体中文的句子，我们用它来测试。", "這是一個繁體中文的句子，我們用它來測試。", "An English one."]
    annotated = run_stage(LangId(), texts).kept
    out = run_stage(LangFilter(scripts=["Hant"]), annotated)
    assert out.kept.column("id").to_pylist() == ["d1"]
    assert out.rejected.column("reason").to_pylist() == ["wrong_script", "wrong_language"]


# -- accuracy targets on held-out data (bench/langid_eval.py) --------------------------------------------


def test_accuracy_targets_on_held_out_half(shared_dir):
    spec = importlib.util.spec_from_file_location("langid_eval", REPO / "bench" / "langid_eval.py")
    evaluation = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(evaluation)
    results = evaluation.evaluate(shared_dir)
    held_out = results["sentence", "held-out"]
    assert held_out["zh_n"] > 1000
    assert held_out["zh_recall"] >= 0.99
    assert held_out["zh_precision"] >= 0.995
    assert held_out["zh_precision_lingua"] >= 0.995  # against 74 other languages only
    assert held_out["script_acc"] >= 0.98
    assert held_out["ja_recall"] >= 0.97 and held_out["ko_recall"] >= 0.97
