import json
import os
import random
import re
import shutil
import struct
import webbrowser
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pydantic import Field

from pipeline import report
from pipeline.config import validate_config
from pipeline.report import Threshold, excerpt, open_report, signal_thresholds, write_report
from pipeline.report.markup import num
from pipeline.report.thresholds import _param_values
from pipeline.runner import run_local
from stages.base import Filter, GlobalResult, GlobalStage
from stages.core.arrow import set_column
from stages.core.atomic import read_json
from stages.core.shards import read_shard
from stages.core.stats import StageStats
from tests import browser

SENTENCES = [
    "今天天气很好，我们一起去公园散步。",
    "公园里有很多人在锻炼身体。",
    "孩子们在草地上玩耍，笑声不断。",
    "老人们坐在长椅上聊天，享受着温暖的阳光。",
    "城市的交通在早高峰时非常拥挤。",
    "地铁站里人来人往，大家都行色匆匆。",
    "这家餐馆的饺子味道鲜美，价格也很实惠。",
    "他每天晚上都会读一个小时的历史书。",
    "春节期间，家家户户贴春联、放鞭炮。",
    "科学家们发现了一种新的植物物种。",
    "这座古老的寺庙已经有一千多年的历史。",
    "学校图书馆新购进了一批计算机教材。",
    "黄河流经九个省区，最后注入渤海。",
    "她在大学里主修经济学，毕业后进入银行工作。",
    "山区的秋天格外美丽，满山红叶。",
    "研究表明，适量运动有助于改善睡眠质量。",
    "农民们正在田里收割成熟的稻谷。",
    "博物馆展出了许多珍贵的青铜器。",
    "网络购物已经成为年轻人的生活方式。",
    "我们应该节约用水，保护环境。",
    "这部电影讲述了一个感人的家庭故事。",
    "医生建议他多喝水，注意休息。",
    "火车穿过隧道，窗外一片漆黑。",
    "小镇上的居民大多以捕鱼为生。",
]
SCRIPT_DOC = '<script>alert("x")</script> ' + "This English page talks about parks, trains and the weather. " * 8
ENGLISH = [SCRIPT_DOC] + [f"Document {i} is written in English about cooking pasta and baking bread." for i in range(5)]
N_GOOD, N_SHORT, N_MENU = 40, 5, 4
N_COPIES, N_NEAR = 3, 2  # exact copies of 3 documents; 2 near copies of one more
# Synthetic rephrasings: sentences of their own, so they are neither copies nor near copies of real documents.
SYN_SENTENCES = [
    "光合作用是植物利用阳光把二氧化碳和水转化为有机物的过程。",
    "长江是中国最长的河流，全长六千三百多公里。",
    "牛顿第一定律指出，物体在不受外力时保持静止或匀速直线运动。",
    "唐诗是中国古典诗歌的高峰，李白和杜甫是其中的代表。",
    "细胞是生物体结构和功能的基本单位。",
    "地球绕太阳公转一周大约需要三百六十五天。",
    "分数的分子和分母同时乘以一个不为零的数，分数的大小不变。",
    "丝绸之路连接了古代中国与中亚、西亚和欧洲。",
    "水在标准大气压下加热到一百摄氏度会沸腾。",
    "三角形的内角和等于一百八十度。",
    "活字印刷术由北宋的毕昇发明。",
    "人体的血液循环分为体循环和肺循环两部分。",
]
N_SYN = 12
PHASE_RATIOS = [0.0, 0.2, 0.3]


class _ReportLengthFilter(Filter):
    """Test filter for the report: annotates `_test_len` and declares `min_len` as its threshold."""

    name: ClassVar[str] = "report_test_length_filter"
    adds: ClassVar[tuple[str, ...]] = ("_test_len",)
    thresholds: ClassVar[dict[str, tuple[str, ...]]] = {"_test_len": ("min_len",)}
    reason: ClassVar[str] = "short_for_test"

    min_len: int = 150

    def annotate(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        return set_column(batch, "_test_len", pc.utf8_length(batch.column("text")).cast(pa.int64()))

    def keep_mask(self, batch: pa.RecordBatch) -> pa.Array:
        return pc.greater_equal(batch.column("_test_len"), self.min_len)


class _DeclaredThresholds(Filter):
    """Test filter: thresholds declared for some columns, found by name for another."""

    name: ClassVar[str] = "report_test_declared_filter"
    adds: ClassVar[tuple[str, ...]] = ("_score", "_frac2", "_other")
    thresholds: ClassVar[dict[str, tuple[str, ...]]] = {"_score": ("min:threshold",), "_frac2": ("max_frac.2",)}

    threshold: float = 0.5
    max_frac: dict[int, float] = Field(default_factory=lambda: {2: 0.2, 3: 0.3})
    max_other: float = 9.0

    def keep_doc(self, text: str) -> bool:
        return True


def _documents() -> list[dict]:
    rng = random.Random(7)
    docs = [{"id": f"en{i}", "text": t} for i, t in enumerate(ENGLISH)]
    docs += [{"id": f"g{i}", "text": "".join(rng.sample(SENTENCES, rng.randint(5, 14)))} for i in range(N_GOOD)]
    docs += [{"id": f"s{i}", "text": "短文一篇"} for i in range(N_SHORT)]
    docs += [
        {"id": f"m{i}", "text": "\n".join(["首页", "新闻", "体育", "财经", "娱乐", "科技"] * 4)} for i in range(N_MENU)
    ]
    docs.append({"id": "pii", "text": "".join(SENTENCES[:8]) + "请拨打13812345678联系我们。"})
    docs += [{"id": f"copy{i}", "text": docs[len(ENGLISH) + i]["text"]} for i in range(N_COPIES)]
    near = docs[len(ENGLISH) + 10]["text"]
    docs += [{"id": f"near{i}", "text": near + "好" * (i + 1)} for i in range(N_NEAR)]
    return docs


def _synthetic_documents() -> list[dict]:
    rng = random.Random(3)
    return [
        {"id": f"syn{i}", "text": "".join(rng.sample(SYN_SENTENCES, rng.randint(6, 10))), "seed_id": f"g{i}"}
        for i in range(N_SYN)
    ]


class _SizesReportingDedup(GlobalStage):
    """Test global stage: a user's dedup stage that passes documents on and reports its own cluster sizes."""

    name: ClassVar[str] = "report_test_sizes_dedup"

    def run(self, shards, ctx):
        rows = sum(b.num_rows for s in shards for b in read_shard(s))
        stats = StageStats(docs_in=rows, docs_out=rows)
        return GlobalResult(list(shards), [], stats, {"cluster_sizes": {"2": 5, "4": 1}})


def _stages() -> list:
    return [
        "normalize",
        "langid",
        "lang_filter",
        "han_ratio_filter",
        "length_filter",
        "punctuation_filter",
        "repetition_filter",
        {"char_diversity_filter": {"mode": "annotate"}},
        {"report_test_length_filter": {"mode": "annotate"}},
        "exact_dedup",
        {"minhash_dedup": {"ngram": 5, "threshold": 0.8}},  # the good documents share one sentence pool
        {"curriculum": {"schedule": "phases", "phases": 3}},
        {"synthetic": {"phase_ratios": PHASE_RATIOS}},
        "report_test_sizes_dedup",
    ]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    src = tmp / "in"
    src.mkdir()
    docs = _documents()
    with open(src / "a.jsonl", "w", encoding="utf-8") as f:
        for d in docs[::2]:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    with open(src / "b.jsonl", "w", encoding="utf-8") as f:
        for d in docs[1::2]:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
        f.write("{not json\n")
    syn = tmp / "syn.jsonl"
    syn.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in _synthetic_documents()), encoding="utf-8")
    cfg = validate_config(
        {
            "name": "report-test",
            "input": {"paths": [str(src / "*.jsonl")]},
            "synthetic": [{"name": "rephrased", "paths": [str(syn)], "defaults": {"generator": "t", "prompt_id": "p"}}],
            "output": {"dir": str(tmp / "run")},
            "stages": _stages(),
            "execution": {"engine": "local", "task_runner": "sequential"},
        }
    )
    run_local(cfg)
    write_report(str(tmp / "run"))
    return tmp / "run"


# -- a small HTML reader --------------------------------------------------------------------------------------


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: list[tuple[str, list[list[str]]]] = []
        self._cell: list[str] | None = None
        self._depth = 0

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._depth += 1
            if self._depth == 1:
                self.tables.append((dict(attrs).get("class") or "", []))
        elif tag == "tr" and self._depth == 1:
            self.tables[-1][1].append([])
        elif tag in ("td", "th") and self._depth == 1:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "table":
            self._depth -= 1
        elif tag in ("td", "th") and self._cell is not None and self._depth == 1:
            self.tables[-1][1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _section(html: str, sid: str) -> str:
    m = re.search(rf'<section id="{sid}">(.*?)</section>', html, re.S)
    assert m, f"section {sid} missing"
    return m.group(1)


def _tables(fragment: str) -> list[tuple[str, list[list[str]]]]:
    p = _Tables()
    p.feed(fragment)
    return p.tables


def _int(s: str) -> int:
    return int(s.replace(",", ""))


def _html(run_dir: Path) -> str:
    return (run_dir / "report.html").read_text(encoding="utf-8")


# -- content --------------------------------------------------------------------------------------------------


def test_every_section_and_toc_entry(run_dir):
    html = _html(run_dir)
    ids = re.findall(r'<section id="([^"]+)">', html)
    assert ids == [
        "overview",
        "funnel",
        "reasons",
        "examples",
        "signals",
        "sources",
        "language",
        "dedup",
        "curriculum",
        "curriculum-eval",
        "synthetic",
        "counters",
        "timing",
        "manifest",
    ]
    assert re.findall(r'<li><a href="#([^"]+)">', html) == ids


def test_funnel_matches_stats_and_hand_counts(run_dir):
    stats = read_json(run_dir / "stats.json")
    [(_, rows)] = [t for t in _tables(_section(_html(run_dir), "funnel")) if t[0] == "funnel"]
    body = rows[1:]
    expected_order = ["read"] + [s["key"] for s in read_json(run_dir / "manifest.json")["config"]["stages"]]
    assert [r[0] for r in body[:-1]] == expected_order  # pipeline order, not stats.json's sorted keys
    for r in body[:-1]:
        st = stats["stages"][r[0]]
        assert [_int(r[1]), _int(r[2]), _int(r[3]), _int(r[5]), _int(r[6])] == [
            st["docs_in"],
            st["docs_out"],
            st["docs_rejected"],
            st["chars_in"],
            st["chars_out"],
        ]
    total = body[-1]
    n_docs = len(_documents()) + 1 + N_SYN  # + the malformed line and the synthetic documents
    assert total[0] == "run"
    assert [_int(total[1]), _int(total[2]), _int(total[3])] == [n_docs, stats["docs_out"], stats["docs_rejected"]]
    assert stats["docs_in"] == n_docs
    assert f"{stats['docs_out'] / n_docs:.1%}" == total[4]


def test_drop_reasons_match_stats(run_dir):
    stats = read_json(run_dir / "stats.json")
    tables = _tables(_section(_html(run_dir), "reasons"))
    dropped = {(r[0], r[1]): _int(r[2]) for r in tables[0][1][1:]}
    expected = {(k, reason): n for k, st in stats["stages"].items() for reason, n in st["reasons"].items()}
    assert dropped == expected
    assert dropped[("read", "malformed_json")] == 1
    assert dropped[("lang_filter", "wrong_language")] == len(ENGLISH)
    would = {(r[0], r[1]): _int(r[2]) for r in tables[1][1][1:]}
    n_short = stats["stages"]["report_test_length_filter"]["counters"]["would_drop.short_for_test"]
    assert would[("report_test_length_filter", "short_for_test")] == n_short > 0
    assert 'id="chart-reasons"' in _section(_html(run_dir), "reasons")


def test_funnel_records(run_dir):
    stats = read_json(run_dir / "stats.json")
    rows = report.funnel_records(str(run_dir))
    assert [r["stage"] for r in rows][:4] == ["read", "normalize", "langid", "lang_filter"]
    lang = next(r for r in rows if r["stage"] == "lang_filter")
    assert lang["docs_rejected"] == stats["stages"]["lang_filter"]["docs_rejected"] == len(ENGLISH)
    assert lang["top_reasons"] == f"wrong_language {len(ENGLISH)}"
    assert sum(r["docs_rejected"] for r in rows) == stats["docs_rejected"]


def test_examples_are_escaped_truncated_and_redacted(run_dir):
    sec = _section(_html(run_dir), "examples")
    assert "lang_filter.wrong_language" in sec
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in sec
    assert "<script>" not in _html(run_dir)
    docs = re.findall(r'<div class="doc">(.*?)</div>', sec, re.S)
    assert docs and all(len(html_unescape(d)) <= report.EXAMPLE_CHARS + 1 for d in docs)
    assert any(html_unescape(d).endswith("…") for d in docs)  # SCRIPT_DOC is longer than 300 characters
    counts = Counter(re.findall(r'<h3 class="reason">([^ <]+)', sec))
    assert counts == Counter({k for k in counts})  # one heading per reason


def html_unescape(s: str) -> str:
    import html

    return html.unescape(s)


def test_pii_counter_shown(run_dir):
    stats = read_json(run_dir / "stats.json")
    assert stats["stages"]["normalize"]["counters"].get("pii.mobile") == 1
    rows = _tables(_section(_html(run_dir), "counters"))[0][1]
    assert ["normalize", "pii.mobile", "1"] in rows


def test_histograms_cover_numeric_signals_with_thresholds(run_dir):
    sec = _section(_html(run_dir), "signals")
    table = pa.Table.from_batches(list(read_shard(str(next((run_dir / "data").glob("*.arrow"))))))
    numeric = [
        f.name
        for f in table.schema
        if f.name.startswith("_") and (pa.types.is_integer(f.type) or pa.types.is_floating(f.type))
    ]
    assert "_lang_score" in numeric and "_test_len" in numeric
    for col in numeric:
        values = table.column(col).to_numpy(zero_copy_only=False).astype(float)
        if np.nanmin(values) == np.nanmax(values):
            assert f"<code>{col}</code>: all {table.num_rows} sampled values are" in sec
        else:
            assert f'id="chart-hist-{col.lstrip("_")}"' in sec, col
    chart = re.search(r'<figure class="hist"><svg class="chart" id="chart-hist-test_len".*?</figure>', sec, re.S)
    assert chart, "histogram of _test_len"
    assert 'class="threshold"' in chart.group(0) and "min_len=150" in chart.group(0)
    share = float(np.mean(table.column("_test_len").to_numpy() < 150))
    assert f"report_test_length_filter.min_len = 150: {share:.1%} of the sample on the dropped side" in chart.group(0)
    assert 0 < share < 1


def test_dedup_clusters_from_the_ledger(run_dir):
    stats = read_json(run_dir / "stats.json")
    sec = _section(_html(run_dir), "dedup")
    assert stats["stages"]["exact_dedup"]["reasons"] == {"exact_duplicate": N_COPIES}
    svg = re.search(r'<svg class="chart" id="chart-dedup-exact_dedup".*?</svg>', sec, re.S).group(0)
    assert f"2 · clusters: {N_COPIES}" in svg  # each copy + its original
    assert stats["stages"]["minhash_dedup"]["reasons"] == {"near_duplicate": N_NEAR}
    svg = re.search(r'<svg class="chart" id="chart-dedup-minhash_dedup".*?</svg>', sec, re.S).group(0)
    assert f"{N_NEAR + 1} · clusters: 1" in svg  # the original and its near copies
    assert f"{N_COPIES} duplicates removed" in sec and f"{N_NEAR} duplicates removed" in sec


def test_language_and_script_counts(run_dir):
    html = _html(run_dir)
    sec = _section(html, "language")
    table = pa.Table.from_batches(list(read_shard(str(next((run_dir / "data").glob("*.arrow"))))))
    for col in ("_lang", "_script"):
        counts = Counter(table.column(col).to_pylist())
        svg = re.search(rf'<svg class="chart" id="chart-{col[1:]}".*?</svg>', sec, re.S).group(0)
        for n in counts.values():
            assert f"{n} ({n / table.num_rows:.1%})" in svg
    assert 'id="chart-lang-before"' in sec  # langid's own counters, before lang_filter


def test_manifest_section(run_dir):
    sec = _section(_html(run_dir), "manifest")
    manifest = read_json(run_dir / "manifest.json")
    for key, version in manifest["stage_versions"].items():
        assert f"<td>{key}</td><td>{version}</td>" in sec.replace(' class=""', "")
    assert manifest["config_hash"] in _html(run_dir)
    assert "a.jsonl" in sec and "b.jsonl" in sec and "pyarrow" in sec
    assert "report_test_length_filter" in sec and "min_len" in sec


def test_self_contained(run_dir):
    html = _html(run_dir)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html)
    assert "<script" not in html and "<link" not in html and "@import" not in html and "url(" not in html
    assert html.count('<svg class="chart"') >= 6


# -- thresholds --------------------------------------------------------------------------------------------


def test_threshold_paths_and_name_fallback():
    specs = [
        {"name": "report_test_length_filter", "key": "report_test_length_filter", "params": {"min_len": 7}},
        {
            "name": "not_importable_here",
            "key": "mine",
            "ref": "no.such.module:Cls",
            "params": {"max_foo_ratio": 0.5, "min_bar": None, "other": 3},
        },
    ]
    got = signal_thresholds(specs, ["_foo_ratio", "_bar"])
    assert got["_test_len"] == [Threshold("report_test_length_filter", "min_len", 7.0)]
    assert got["_foo_ratio"] == [Threshold("mine", "max_foo_ratio", 0.5)]
    assert "_bar" not in got  # null disables a rule
    params = _DeclaredThresholds().params()
    got = signal_thresholds([{"name": "report_test_declared_filter", "key": "k", "params": params}])
    assert got == {
        "_score": [Threshold("k", "threshold", 0.5, "min")],
        "_frac2": [Threshold("k", "max_frac.2", 0.2)],
        "_other": [Threshold("k", "max_other", 9.0)],
    }
    assert _param_values({"m": {2: 0.2, "3": 0.3}}, "m.3") == [("m.3", 0.3)]
    assert _param_values({"m": {2: 0.2, "3": 0.3}}, "m.*") == [("m.2", 0.2), ("m.3", 0.3)]
    assert _param_values({"m": {"zh": 0.8}}, "m.en") == []
    assert Threshold("s", "max_x", 1).side == "max" and Threshold("s", "min_x.2", 1).side == "min"
    assert Threshold("s", "threshold", 1).side == "" and Threshold("s", "threshold", 1, "min").side == "min"


def test_excerpt():
    assert excerpt("短") == "短"
    assert excerpt("一" * 400) == "一" * 300 + "…"
    assert excerpt("\n".join("行" * 3 for _ in range(20)), max_lines=2) == "行行行\n行行行…"


def test_open_report(monkeypatch, tmp_path):
    opened = []
    monkeypatch.setattr(webbrowser, "open", lambda url: opened.append(url) or True)
    assert open_report(str(tmp_path / "report.html"))
    assert opened == [(tmp_path / "report.html").resolve().as_uri()]


# -- tolerant of partial runs and of global-stage outputs ----------------------------------------------------


def test_manifest_only(run_dir, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    (copy / "stats.json").unlink()
    shutil.rmtree(copy / "data")
    shutil.rmtree(copy / "rejected")
    for name in ("curriculum.json", "synthetic.json"):
        (copy / name).unlink(missing_ok=True)
    html = Path(write_report(str(copy))).read_text(encoding="utf-8")
    assert "stats.json is missing" in html
    assert "No curriculum stage ran" in _section(html, "curriculum")
    assert "No synthetic data" in _section(html, "synthetic")
    assert "No stage statistics" in _section(html, "funnel")
    assert "data/ holds no shard files" in _section(html, "signals")
    with pytest.raises(FileNotFoundError, match=r"no manifest\.json"):
        write_report(str(tmp_path))


def _data(run_dir: Path) -> pa.Table:
    shards = sorted((run_dir / "data").glob("*.arrow"))
    return pa.Table.from_batches([b for s in shards for b in read_shard(str(s))])


def test_curriculum_section_from_the_stage_outputs(run_dir):
    table = _data(run_dir)
    phase = table.column("_phase").to_numpy()
    difficulty = table.column("_difficulty").to_numpy(zero_copy_only=False).astype(float)
    source = np.asarray(table.column("_source").to_pylist())
    summary = read_json(run_dir / "curriculum.json")
    names = {p["phase"]: p["name"] for p in summary["phases"]}
    cur = _section(_html(run_dir), "curriculum")
    rows = _tables(cur)[0][1][1:]
    assert len(rows) == 3 == len(names)
    for p in range(3):
        m = phase == p
        row = rows[p]
        assert row[0] == f"{p} {names[p]}" and _int(row[1]) == int(m.sum()) > 0
        d = difficulty[m & np.isfinite(difficulty)]
        assert row[5] == num(float(d.min())) and row[6] == num(float(d.max()))
        syn = int((source[m] == "synthetic").sum())
        assert (f"synthetic {syn / m.sum():.1%}" in row[8]) == (syn > 0)
    assert 'id="chart-phase-docs"' in cur and 'id="chart-phase-difficulty"' in cur
    assert "Phases recorded in curriculum.json" in cur and "schedule" in cur
    recorded = _tables(cur)[1][1]
    assert recorded[0][:3] == ["phase", "name", "docs"] and "difficulty.max" in recorded[0]


def test_synthetic_section_from_the_stage_outputs(run_dir):
    table = _data(run_dir)
    phase = table.column("_phase").to_numpy()
    source = np.asarray(table.column("_source").to_pylist())
    reported = read_json(run_dir / "stats.json")["reports"]["synthetic"]["phases"]
    syn = _section(_html(run_dir), "synthetic")
    rows = _tables(syn)[0][1][1:]
    assert [r[2] for r in rows] == [f"{t:.1%}" for t in PHASE_RATIOS]  # target
    assert [r[3] for r in rows] == [f"{p['achieved_ratio']:.1%}" for p in reported]  # as the stage reported it
    for p in range(3):
        m = phase == p
        assert rows[p][1] == f"{(source[m] == 'synthetic').mean():.1%}"
    assert (source == "synthetic").sum() > 0 and 'id="chart-synthetic"' in syn


def test_dedup_sizes_from_a_stage_report_take_precedence(run_dir):
    dedup = _section(_html(run_dir), "dedup")
    svg = re.search(r'<svg class="chart" id="chart-dedup-report_test_sizes_dedup".*?</svg>', dedup, re.S).group(0)
    assert "2 · clusters: 5" in svg and "4 · clusters: 1" in svg
    assert "from the stage&#x27;s report" in dedup or "from the stage's report" in dedup


# -- in a real browser ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium() -> str:
    path = browser.find_chromium()
    if path is None:
        pytest.skip("headless Chromium not found on PATH (or $JINGXUAN_CHROMIUM); install Debian's `chromium` package")
    return path


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_report_renders_in_chromium(run_dir, tmp_path, chromium):
    page = run_dir / "report.html"  # every kind of chart: the run has dedup, curriculum and synthetic stages
    png = tmp_path / "report.png"
    console = browser.screenshot(chromium, page, png, tmp_path / "profile")
    assert console == []
    assert _png_size(png) == (1280, 4000)
    assert png.stat().st_size > 20_000  # a blank page compresses to a few KB

    probe = browser.probe_page(chromium, page, tmp_path / "profile")
    assert probe.console == [] and probe.errors == []
    assert probe.resources == []  # nothing fetched: no fonts, scripts or images from anywhere
    expected = re.findall(r'<svg class="chart" id="([^"]+)"', page.read_text(encoding="utf-8"))
    assert [c["id"] for c in probe.charts] == expected
    for c in (
        "chart-funnel-docs",
        "chart-reasons",
        "chart-hist-test_len",
        "chart-lang",
        "chart-script",
        "chart-phase-docs",
        "chart-synthetic",
        "chart-dedup-minhash_dedup",
        "chart-timing",
    ):
        assert c in expected
    for c in probe.charts:
        assert c["width"] > 100 and c["height"] > 20, c
        assert c["marks"] > 0 and c["visible"] > 0, c
    if os.environ.get("JINGXUAN_SCREENSHOT_DIR"):  # to look at the screenshot by hand
        keep = Path(os.environ["JINGXUAN_SCREENSHOT_DIR"])
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(png, keep / "report.png")
        shutil.copy(page, keep / "report.html")
