import json
import os
from pathlib import Path

import opencc
import pytest

from pipeline.report.dedup_inspect import dedup_inspect, true_jaccard
from stages.base import STAGES
from stages.dedup.minhash import MinHashDedup
from stages.testing import ledger, make_batch, read_all, run_global


def distinct(n: int, start: int = 0x4E00) -> str:
    """n different Han characters: every 5-gram is unique, so Jaccard is countable by hand."""
    return "".join(chr(start + i) for i in range(n))


A = distinct(104)
NEAR = A[:102] + distinct(2, 0x7000)  # 98 shared of 102 shingles: J = 0.961 (collides with p ~0.9997)
FAR = A[:84] + distinct(20, 0x7100)  # 80 shared of 120: J = 0.667 (< 0.8)
OTHER = distinct(104, 0x8000)
# the hand-counted cases below are 5-gram sets at threshold 0.8 (the defaults are tested further down)
FIVE = {"ngram": 5, "threshold": 0.8, "num_perm": 128, "min_chars": 0, "recall_weight": 0.5}


def five(**kw) -> MinHashDedup:
    return MinHashDedup(**(FIVE | kw))


def test_registered_and_params():
    assert STAGES.get("minhash_dedup") is MinHashDedup
    assert (five().lsh_params()["bands"], five().lsh_params()["rows"]) == (9, 13)  # datasketch's choice
    p = MinHashDedup().lsh_params()
    assert (p["ngram"], p["threshold"], p["num_perm"], p["bands"], p["rows"]) == (2, 0.55, 64, 16, 4)
    assert MinHashDedup().verify == "exact" and MinHashDedup(verify=True).verify == "signature"
    with pytest.raises(ValueError):
        MinHashDedup(bands=20, rows=4)  # 80 > 64 permutations
    with pytest.raises(ValueError):
        five(tokenizer="words")


def test_hand_counted_jaccard():
    assert true_jaccard(A, NEAR) == pytest.approx(98 / 102)
    assert true_jaccard(A, FAR) == pytest.approx(80 / 120)


def test_above_threshold_dropped_below_kept(tmp_path):
    r = run_global(
        five(), [make_batch([A, FAR, OTHER], ["a", "far", "o"]), make_batch([NEAR], ["near"])], str(tmp_path)
    )
    out = read_all(r.shards)
    assert out.column("id").to_pylist() == ["a", "far", "o"]
    assert out.column("_dup_cluster").to_pylist() == ["a", None, None]
    assert ledger(r) == {"near": ("near_duplicate", "a")}
    assert r.stats.docs_in == 4 and r.stats.docs_rejected == 1


def test_below_threshold_caught_with_lower_threshold(tmp_path):
    r = run_global(five(threshold=0.5), [make_batch([A, FAR], ["a", "far"])], str(tmp_path))
    assert ledger(r) == {"far": ("near_duplicate", "a")}


def test_cross_script_twins(tmp_path):
    simp = "这个国家的经济发展很快，人们的生活水平不断提高，城市里出现了许多新的高楼大厦和现代化的交通设施。"
    trad = opencc.OpenCC("s2t").convert(simp)
    assert trad != simp  # the twin really is written in Traditional characters
    r = run_global(five(), [make_batch([trad, OTHER, simp], ["t", "o", "s"])], str(tmp_path))
    assert read_all(r.shards).column("id").to_pylist() == ["t", "o"]
    assert ledger(r) == {"s": ("near_duplicate", "t")}


@pytest.mark.parametrize(
    ("keep", "quality", "expected"),
    [
        ("first", None, "a"),
        ("longest", None, "long"),
        ("best_quality", None, "long"),  # no _quality column: longest
        ("best_quality", [0.1, 0.9, 0.5], "near"),
        ("best_quality", [0.5, None, 0.5], "a"),  # tie: first seen; null never preferred
    ],
)
def test_keep_policy(tmp_path, keep, quality, expected):
    texts = [A, NEAR, A + "。" + distinct(2, 0x9000)]
    cols = {} if quality is None else {"_quality": quality}
    r = run_global(five(keep=keep), [make_batch(texts, ["a", "near", "long"], **cols)], str(tmp_path))
    out = read_all(r.shards)
    assert out.column("id").to_pylist() == [expected]
    assert out.column("_dup_cluster").to_pylist() == [expected]
    assert {d for _, d in ledger(r).values()} == {expected}


def test_incremental_against_earlier_index(tmp_path):
    index = str(tmp_path / "index")
    first = run_global(five(index_dir=index), [make_batch([A, OTHER], ["old-a", "old-o"])], str(tmp_path / "r1"))
    assert first.report["index"]["documents_added"] == 2
    params = json.loads(Path(index, "params.json").read_text())
    assert (params["bands"], params["rows"], params["ngram"]) == (9, 13, 5)
    second = run_global(
        five(index_dir=index),
        [make_batch([NEAR, FAR, NEAR + "！"], ["new", "far", "new2"])],
        str(tmp_path / "r2"),
    )
    assert ledger(second) == {"new": ("near_duplicate", "old-a"), "new2": ("near_duplicate", "old-a")}
    assert read_all(second.shards).column("id").to_pylist() == ["far"]
    assert second.report["dropped_matching_index"] == 2
    assert second.report["index"] == {"path": index, "documents_before": 2, "documents_added": 1}
    assert sorted(os.listdir(os.path.join(index, "segments"))) == ["seg-00000", "seg-00001"]
    # a third run sees both earlier runs; re-running the second run replaces its segment, not matching itself
    again = run_global(
        five(index_dir=index),
        [make_batch([NEAR, FAR, NEAR + "！"], ["new", "far", "new2"])],
        str(tmp_path / "r2"),
    )
    assert ledger(again) == ledger(second)
    assert sorted(os.listdir(os.path.join(index, "segments"))) == ["seg-00000", "seg-00001"]
    # the inspector finds the earlier run's kept text through the index
    report = dedup_inspect(str(tmp_path / "r2"))
    assert "old-a | new" in report and "0.961" in report


def test_not_incremental_leaves_no_index(tmp_path):
    index = tmp_path / "idx"
    run_global(five(index_dir=str(index), incremental=False), [make_batch([A, NEAR])], str(tmp_path))
    assert not index.exists()


def test_parameter_mismatch_refused(tmp_path):
    index = str(tmp_path / "index")
    run_global(five(index_dir=index), [make_batch([A])], str(tmp_path / "r1"))
    with pytest.raises(ValueError) as err:
        run_global(five(index_dir=index, threshold=0.7, ngram=4), [make_batch([A])], str(tmp_path / "r2"))
    msg = str(err.value)
    assert index in msg
    for name in ("threshold", "ngram", "bands", "rows"):
        assert f"{name}:" in msg
    assert "num_perm" not in msg and "seed" not in msg


def test_conservation_empty_texts_and_shards(tmp_path):
    shards = [make_batch(["", "！！", A], ["e1", "e2", "a"]), make_batch([], []), make_batch([NEAR, "短"], ["n", "s"])]
    r = run_global(five(), shards, str(tmp_path))
    assert [read_all([s]).num_rows for s in r.shards] == [3, 0, 1]
    assert r.stats.docs_in == 5 and r.stats.docs_out == 4 and r.stats.docs_rejected == 1
    assert r.report["documents_without_shingles"] == 2  # never matched to each other


def test_shard_without_drops_gets_cluster_column_and_no_ledger(tmp_path):
    shards = [make_batch([OTHER], ["o"]), make_batch([A], ["a"]), make_batch([NEAR], ["n"])]
    r = run_global(five(), shards, str(tmp_path))
    assert len(r.rejected) == 1 and ledger(r) == {"n": ("near_duplicate", "a")}
    assert [read_all([s]).column("_dup_cluster").to_pylist() for s in r.shards] == [[None], ["a"], []]


def test_deterministic_bytes(tmp_path):
    shards = [make_batch([A, NEAR, OTHER], ["a", "n", "o"]), make_batch([FAR, A + "。"], ["f", "a2"])]
    a = run_global(five(), shards, str(tmp_path / "a"))
    b = run_global(five(), shards, str(tmp_path / "b"))
    for x, y in zip(a.shards + a.rejected, b.shards + b.rejected, strict=True):
        assert Path(x).read_bytes() == Path(y).read_bytes()


def test_inspect_report(tmp_path):
    run_global(five(), [make_batch([A, NEAR, OTHER, A + "！"], ["a", "near", "o", "a2"])], str(tmp_path))
    text = dedup_inspect(str(tmp_path), top=5, pairs=5)
    assert "1 clusters, 3 documents in them, 2 dropped" in text
    assert "a <- near, a2" in text
    assert "0.961" in text and "1.000  a | a2" in text


def test_cross_script_pairs_of_shared_corpus(tmp_path, shared_dir):
    path = shared_dir / "corpora/neardup/neardup_cmmlu_cross_script_pairs.jsonl"
    pairs = [json.loads(line) for line in path.read_text(encoding="utf-8").strip().split("\n")]
    texts = [p["text_a"] for p in pairs] + [p["text_b"] for p in pairs]
    ids = [f"a{i}" for i in range(len(pairs))] + [f"b{i}" for i in range(len(pairs))]
    r = run_global(five(), [make_batch(texts, ids)], str(tmp_path))
    found = sum(ledger(r).get(f"b{i}", (None, None))[1] == f"a{i}" for i in range(len(pairs)))
    assert found / len(pairs) >= 0.95


def test_jieba_word_shingles(tmp_path):
    text = "我们今天在北京大学的图书馆里讨论了人工智能的发展历史和未来的研究方向以及它对社会的影响"
    copy = text + "。"
    other = "天气预报说明天上海会下大雨所以出门的时候一定要记得带上雨伞和雨衣"
    stage = five(tokenizer="jieba", ngram=2)
    r = run_global(stage, [make_batch([text, other, copy], ["t", "o", "c"])], str(tmp_path))
    assert ledger(r) == {"c": ("near_duplicate", "t")}
    assert r.report["params"]["tokenizer"] == "jieba"


# -- planted kinds with the defaults, on a document written for this test ----------------------------------------

STORY = [
    "青石镇坐落在两条河流交汇的地方，镇上的人世代以种茶和编竹器为生，每逢赶集的日子，街道两旁摆满了竹篮和新茶。",
    "去年秋天，镇里修好了通往县城的公路，坐车进城只要四十分钟，年轻人开始把自家做的竹器放到网上去卖。",
    "老茶农周师傅说，过去一年的收入大半靠茶叶，如今竹器的订单越来越多，他的两个孙子放学后也会帮忙打包发货。",
    "镇政府打算明年在河边建一座小型展览馆，展示竹编的老手艺，也请外地的游客来体验采茶和制茶的过程。",
    "不过也有人担心，游客多了以后河水会受到污染，因此镇里专门组织了志愿者，每个周末沿着河岸捡拾垃圾。",
]
DOC = "\n".join(STORY)
HAN = "".join(sorted({c for c in "".join(STORY) if "\u4e00" <= c <= "\u9fff"}))


def _substitute(text: str, share: float, step: int) -> str:
    """`share` of the characters (spread evenly, never punctuation) replaced by other Han characters."""
    chars = list(text)
    han = [i for i, c in enumerate(chars) if "\u4e00" <= c <= "\u9fff"]
    every = max(1, round(len(chars) / (share * len(chars))))
    for n, i in enumerate(han[step::every]):
        c = HAN[(n * 7 + step) % len(HAN)]
        chars[i] = c if c != chars[i] else "鑫"
    return "".join(chars)


@pytest.mark.parametrize(
    ("kind", "copy"),
    [
        ("exact", DOC),
        ("light", _substitute(DOC, 0.02, 3)),
        ("near", _substitute(DOC, 0.08, 1)),
        ("shuffle", "\n".join(STORY[i] for i in (3, 0, 4, 1, 2))),
        ("twin", opencc.OpenCC("s2t").convert(DOC)),
    ],
)
def test_planted_kind_found_with_defaults(tmp_path, kind, copy):
    """exact_dedup then minhash_dedup as a user runs them: every kind of planted copy goes, the original stays."""
    from stages.dedup.exact import ExactDedup
    from stages.testing import local_context

    assert (copy == DOC) == (kind == "exact")
    exact = run_global(
        ExactDedup(), [make_batch([DOC, OTHER_STORY], ["orig", "other"]), make_batch([copy], ["copy"])], str(tmp_path)
    )
    near = MinHashDedup().run(exact.shards, local_context(str(tmp_path), "minhash_dedup"))
    dropped = {k: v[1] for k, v in (ledger(exact) | ledger(near)).items()}
    assert dropped == {"copy": "orig"}
    assert read_all(near.shards).column("id").to_pylist() == ["orig", "other"]


OTHER_STORY = (
    "河对岸的柳村也种茶，但村里的年轻人大多去了城里打工，留在家里的多是老人。村委会去年请来农业大学的老师，"
    "教大家用新的办法修剪茶树，今年春茶的产量比往年多了三成。村里还办起了合作社，统一收购、统一定价，"
    "茶农不再担心卖不出去。"
)


SISTER = [  # another town's story in the same frames
    "白沙镇坐落在三条溪流汇合的山谷里，镇上的人世代以养蜂和织土布为生，每逢赶集的日子，街道两旁摆满了蜂蜜和土布。",
    "前年春天，镇里通了去往市里的班车，坐车进城要一个多小时，年轻人开始在网上直播卖自家的蜂蜜。",
    "养蜂人李大姐说，过去家里的收入主要靠土布，如今蜂蜜的订单越来越多，她的女儿周末也会回来帮忙装瓶。",
    "镇里计划后年在山脚下建一个小小的博物馆，介绍织布的老手艺，也欢迎城里的孩子来体验摇蜜和织布。",
    "不过也有人担心，来的人多了以后山里的蜂群会受到打扰，因此镇里规定每天进山参观的人数不能超过一百。",
]


def test_hard_negatives_survive_with_defaults(tmp_path):
    """Different documents that share much of their text survive: a story told in the same frames (bigram Jaccard
    0.20), one sharing two of its five paragraphs (0.40: paragraph_dedup's case), and short requests to a voice
    assistant that differ by a word (0.73, as BUSTM pairs do; below min_chars)."""
    shared_two = "\n".join(STORY[:2] + SISTER[2:])
    assert 0.35 < true_jaccard(DOC, shared_two, 2) < 0.45
    short = ["帮我放一首周杰伦的歌", "给我放一首周杰伦的歌吧", "明天北京会下雨吗", "明天北京下不下雨"]
    assert true_jaccard(short[0], short[1], 2) > 0.7
    for i, texts in enumerate([[DOC, "\n".join(SISTER), *short], [DOC, shared_two]]):
        r = run_global(MinHashDedup(), [make_batch(texts)], str(tmp_path / str(i)))
        assert ledger(r) == {}
    assert r.report["documents_below_min_chars"] == 0
    assert ledger(run_global(MinHashDedup(min_chars=0), [make_batch(short)], str(tmp_path / "all"))) != {}


def test_exact_verification_decides_near_the_threshold(tmp_path):
    """A pair of true bigram Jaccard 0.564 whose 16-permutation signatures (seed 5) happen to agree in 13 of 16
    values: the estimate alone (0.81) calls it a duplicate at threshold 0.6; exact verification asks the real
    shingle sets and keeps both, and still drops the pair at threshold 0.5."""
    mix = "\n".join(STORY[:3] + SISTER[3:])
    assert true_jaccard(DOC, mix, 2) == pytest.approx(0.564, abs=0.001)

    def dropped(verify: str, threshold: float) -> bool:
        stage = MinHashDedup(threshold=threshold, verify=verify, num_perm=16, bands=16, rows=1, seed=5)
        r = run_global(stage, [make_batch([DOC, mix], ["a", "b"])], str(tmp_path / f"{verify}-{threshold}"))
        return ledger(r) == {"b": ("near_duplicate", "a")}

    assert dropped("signature", 0.6)  # signature luck
    assert not dropped("exact", 0.6)
    assert dropped("exact", 0.5)


def test_containment_for_a_short_document_inside_a_long_one(tmp_path):
    long_doc = "\n".join(STORY + SISTER)
    quote = "\n".join(STORY[1:3])  # all its shingles are in the long document; Jaccard ~0.2
    stage = MinHashDedup(containment=0.9, num_perm=64, bands=64, rows=1)
    r = run_global(stage, [make_batch([long_doc, quote], ["long", "quote"])], str(tmp_path))
    assert ledger(r) == {"quote": ("near_duplicate", "long")}
    assert (
        ledger(run_global(MinHashDedup(bands=64, rows=1), [make_batch([long_doc, quote])], str(tmp_path / "j"))) == {}
    )


def clustered_corpus(n_base: int = 150, seed: int = 3) -> list[list[str]]:
    """Shards of distinct texts with near-copies: single edits, chains of copies and one large cluster."""
    import random

    rng = random.Random(seed)
    alphabet = [chr(0x4E00 + i) for i in range(3000)]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(40, 90))) for _ in range(n_base)]
    for i in range(n_base // 2):  # a copy with one edit; every third copies a copy (chains across shards)
        src = list(rng.choice(texts[-40:] if i % 3 == 0 else texts[:n_base]))
        src[rng.randrange(len(src))] = rng.choice(alphabet)
        texts.append("".join(src))
    texts += [texts[0][:-1] + alphabet[i] for i in range(30)]  # one cluster of 31
    texts += ["", "。。"]
    rng.shuffle(texts)
    return [texts[i : i + 60] for i in range(0, len(texts), 60)]


def shard_bytes(paths: list[str]) -> list[bytes]:
    return [Path(p).read_bytes() for p in paths]


@pytest.mark.parametrize("keep", ["first", "longest"])
def test_tiny_budget_partitions_and_gives_identical_output(tmp_path, keep):
    shards = [make_batch(t, [f"s{i}-{j}" for j in range(len(t))]) for i, t in enumerate(clustered_corpus())]
    big = run_global(MinHashDedup(keep=keep), shards, str(tmp_path / "big"), memory_budget_mb=1e6)
    tiny = run_global(MinHashDedup(keep=keep, memory_budget_mb=0.01), shards, str(tmp_path / "tiny"))
    assert big.report["partitions"] == {"band_ranges": 1, "link_partitions": 1, "star_rounds": 0}
    p = tiny.report["partitions"]
    assert p["band_ranges"] >= 8 and p["link_partitions"] >= 4 and p["star_rounds"] >= 2
    assert big.report["dropped"] > 40 and big.report["clusters"] > 20
    for k in ("candidate_links", "verified_links", "clusters", "dropped"):
        assert tiny.report[k] == big.report[k]
    assert shard_bytes(tiny.shards) == shard_bytes(big.shards)
    assert shard_bytes(tiny.rejected) == shard_bytes(big.rejected)


def test_tiny_budget_identical_against_an_index(tmp_path):
    first, second = clustered_corpus(seed=4), clustered_corpus(seed=5)
    second[0] = first[1][:20] + second[0]  # the second run repeats documents of the first
    out = {}
    for name, budget in (("big", 1e6), ("tiny", 0.01)):
        index = str(tmp_path / name / "index")
        batches = [make_batch(t, [f"a{i}-{j}" for j in range(len(t))]) for i, t in enumerate(first)]
        run_global(MinHashDedup(index_dir=index, memory_budget_mb=budget), batches, str(tmp_path / name / "r1"))
        batches = [make_batch(t, [f"b{i}-{j}" for j in range(len(t))]) for i, t in enumerate(second)]
        r = run_global(MinHashDedup(index_dir=index, memory_budget_mb=budget), batches, str(tmp_path / name / "r2"))
        out[name] = r
    assert out["big"].report["dropped_matching_index"] >= 20
    assert out["tiny"].report["dropped_matching_index"] == out["big"].report["dropped_matching_index"]
    assert shard_bytes(out["tiny"].shards) == shard_bytes(out["big"].shards)
    assert shard_bytes(out["tiny"].rejected) == shard_bytes(out["big"].rejected)


def test_index_parts_of_the_earlier_layout_still_match(tmp_path):
    """Index parts written before band hashes were stored sorted (`b<band>` per row, `has`) are read by filtering."""
    import numpy as np
    import pyarrow as pa

    from stages.dedup.common import read_table, write_table

    first, second = clustered_corpus(seed=6), clustered_corpus(seed=7)
    second[0] = first[0][:25] + second[0]
    results = {}
    for layout in ("sorted", "rows"):
        index = tmp_path / layout / "index"
        batches = [make_batch(t, [f"a{i}-{j}" for j in range(len(t))]) for i, t in enumerate(first)]
        run_global(MinHashDedup(index_dir=str(index)), batches, str(tmp_path / layout / "r1"))
        if layout == "rows":
            for part in index.glob("segments/*/part-*.bands.arrow"):
                t = read_table(str(part))
                n = t.num_rows
                cols = {"has": np.ones(n, bool)}
                for b in range(t.num_columns // 2):
                    col = np.empty(n, np.uint64)
                    col[t.column(f"r{b}").to_numpy()] = t.column(f"h{b}").to_numpy()
                    cols[f"b{b}"] = col
                write_table(str(part), pa.table(cols))
        batches = [make_batch(t, [f"b{i}-{j}" for j in range(len(t))]) for i, t in enumerate(second)]
        r = run_global(
            MinHashDedup(index_dir=str(index), memory_budget_mb=0.01), batches, str(tmp_path / layout / "r2")
        )
        results[layout] = r
    assert results["sorted"].report["dropped_matching_index"] >= 25
    assert shard_bytes(results["rows"].shards) == shard_bytes(results["sorted"].shards)
    assert shard_bytes(results["rows"].rejected) == shard_bytes(results["sorted"].rejected)


def test_link_partitions_bound_nodes_by_documents_as_well_as_links():
    """Links repeat across bands, so 2 nodes per link overcounts: a node partition never holds more documents
    than there are (at 5M documents and 13.4M links this halved the partitions and quartered the star shuffle)."""
    from stages.core.partitions import partitions
    from stages.dedup.minhash import CLUSTER_BYTES_PER_NODE, link_partitions

    links, docs = 13_400_000, 5_000_000
    parts = link_partitions(links, docs, 512)
    assert parts < partitions(2 * links, CLUSTER_BYTES_PER_NODE, 512)
    assert parts >= partitions(docs, CLUSTER_BYTES_PER_NODE, 512)
    assert link_partitions(1_000, 10**9, 512) == 1
