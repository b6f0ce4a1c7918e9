"""The sample corpus is ground truth for other tests: its counts, planted defects and labels must hold."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow as pa
import pytest

from stages.chinese import fold, t2s

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"

# file -> number of documents (for malformed.jsonl: the well-formed ones)
COUNTS = {
    "encyclopedia.jsonl": 40,
    "news.jsonl": 35,
    "web_spam.jsonl": 35,
    "traditional.jsonl": 21,
    "other_languages.jsonl": 26,
    "near_duplicates.jsonl": 20,
    "pii.jsonl": 15,
    "gbk/legacy_forum.jsonl": 10,
    "malformed.jsonl": 8,
    "synthetic/rephrased.jsonl": 15,
    "benchmarks/mini_exam.jsonl": 15,
    # domain-shift documents (not read by configs/sample.yaml): tests/stages/quality/test_domain_shift.py
    "domain_shift/legal.jsonl": 10,
    "domain_shift/one_line.jsonl": 8,
    "domain_shift/pdf_text.jsonl": 8,
    "domain_shift/forum.jsonl": 6,
    "domain_shift/not_web.jsonl": 7,
}
ENCODING = {"gbk/legacy_forum.jsonl": "gb18030"}
# malformed.jsonl: 1-based line number -> what is wrong with it
MALFORMED = {3: "invalid_json", 5: "text_null", 8: "text_missing", 10: "text_empty", 12: "text_not_string"}
DOC_FILES = [f for f in COUNTS if not f.startswith("benchmarks/")]


def read_lines(name: str) -> list[str]:
    return (SAMPLE / name).read_bytes().decode(ENCODING.get(name, "utf-8")).splitlines()


def read_rows(name: str) -> list[dict]:
    lines = read_lines(name)
    if name == "malformed.jsonl":
        lines = [ln for n, ln in enumerate(lines, 1) if n not in MALFORMED]
    return [json.loads(ln) for ln in lines]


@pytest.fixture(scope="module")
def rows() -> dict[str, list[dict]]:
    return {name: read_rows(name) for name in COUNTS}


@pytest.fixture(scope="module")
def by_id(rows) -> dict[str, dict]:
    return {r["id"]: r for rs in rows.values() for r in rs}


def test_sample_files_are_all_listed():
    on_disk = {p.relative_to(SAMPLE).as_posix() for p in SAMPLE.rglob("*.jsonl")}
    assert on_disk == set(COUNTS)


@pytest.mark.parametrize("name", list(COUNTS))
def test_counts_and_every_line_parses(name, rows):
    assert len(rows[name]) == COUNTS[name]
    for r in rows[name]:
        assert isinstance(r["id"], str) and r["id"]
        if name.startswith("benchmarks/"):
            assert r["question"] and len(r["choices"]) == 4 and r["answer"] in "ABCD"
        else:
            assert isinstance(r["text"], str) and r["text"].strip(), r["id"]


def test_total_documents_within_issue_range(rows):
    assert 150 <= sum(len(rows[f]) for f in DOC_FILES if not f.startswith("domain_shift/")) <= 250
    assert sum(len(rows[f]) for f in DOC_FILES if f.startswith("domain_shift/")) >= 30


def test_malformed_lines_are_exactly_the_intended_ones():
    lines = read_lines("malformed.jsonl")
    assert len(lines) == 8 + len(MALFORMED)
    for n, line in enumerate(lines, 1):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            assert MALFORMED.get(n) == "invalid_json", n
            continue
        text = obj.get("text", ...)
        kind = (
            "text_missing"
            if text is ...
            else "text_null"
            if text is None
            else "text_not_string"
            if not isinstance(text, str)
            else "text_empty"
            if text == ""
            else None
        )
        assert MALFORMED.get(n) == kind, (n, line)


def test_gbk_file_is_not_utf8_and_decodes_as_gb18030():
    raw = (SAMPLE / "gbk/legacy_forum.jsonl").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert raw.decode("gbk") == raw.decode("gb18030")  # plain GBK: readable by the narrower codec too
    assert "楼主" in raw.decode("gb18030")


def test_ids_unique_across_files():
    ids = []
    for name in COUNTS:
        for n, line in enumerate(read_lines(name), 1):
            m = re.search(r'"id": "([^"]+)"', line)
            assert m, (name, n)
            ids.append(m.group(1))
    dupes = {i for i in ids if ids.count(i) > 1}
    assert not dupes


def test_references_point_at_existing_documents(rows, by_id):
    refs = 0
    for rs in rows.values():
        for r in rs:
            for key in ("dup_of", "false_friend_of", "seed_id"):
                if key in r:
                    refs += 1
                    assert r[key] in by_id, (r["id"], key, r[key])
                    assert r[key] != r["id"]
            for exam_id in r.get("contains_benchmark", []):
                assert exam_id.startswith("exam-") and exam_id in by_id
    assert refs >= 20 + 8 + 15


def shingles(text: str, k: int = 5) -> set[str]:
    key = fold(pa.array([text]))[0].as_py()
    return {key[i : i + k] for i in range(len(key) - k + 1)}


def jaccard(a: str, b: str) -> float:
    x, y = shingles(a), shingles(b)
    return len(x & y) / len(x | y)


def test_planted_duplicates_are_what_they_claim(rows, by_id):
    kinds: dict[str, int] = {}
    for r in rows["near_duplicates.jsonl"] + rows["traditional.jsonl"]:
        kind = r.get("dup_kind")
        if kind is None:
            continue
        kinds[kind] = kinds.get(kind, 0) + 1
        if kind == "false_friend":
            assert "dup_of" not in r
            assert jaccard(r["text"], by_id[r["false_friend_of"]]["text"]) < 0.1, r["id"]
            continue
        src = by_id[r["dup_of"]]["text"]
        if kind == "exact":
            assert r["text"] == src
        elif kind == "cross_script":
            # not always equal after folding: OpenCC t2s maps 畢昇 to 毕升 but leaves a Simplified 毕昇 alone
            assert r["text"] != src and jaccard(r["text"], src) >= 0.9, r["id"]
        else:
            assert r["text"] != src and jaccard(r["text"], src) >= 0.5, r["id"]
    assert kinds == {"exact": 3, "near": 12, "cross_script": 9, "false_friend": 4}


ID_RE = re.compile(r"(?<![0-9A-Za-z])\d{17}[0-9X](?![0-9A-Za-z])")
MOBILE_RE = re.compile(r"(?<![\d+])(?:\+86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)")
EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def id_valid(number: str) -> bool:
    return "10X98765432"[sum(int(c) * w for c, w in zip(number[:17], WEIGHTS, strict=True)) % 11] == number[17]


def luhn_valid(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()][::-1]
    return sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(digits)) % 10 == 0


def test_checksum_helpers_on_hand_computed_numbers():
    # 11010519491231002X: weighted sum 167, 167 % 11 = 2 -> "X"
    assert id_valid("11010519491231002X") and not id_valid("110105194912310020")
    assert luhn_valid("4111 1111 1111 1111") and not luhn_valid("4111111111111112")


def test_planted_pii_ground_truth(rows):
    seen = {"id_card": [0, 0], "bank_card": [0, 0], "mobile": [0, 0], "email": [0, 0], "ipv4": [0, 0]}
    for r in rows["pii.jsonl"]:
        assert r["pii"], r["id"]
        for item in r["pii"]:
            kind, value, valid = item["kind"], item["value"], item["valid"]
            assert value in r["text"], (r["id"], value)
            seen[kind][valid] += 1
            digits = re.sub(r"[ -]", "", value)
            if kind == "id_card":
                assert ID_RE.fullmatch(value) and id_valid(value) == valid, value
                year, month, day = int(value[6:10]), int(value[10:12]), int(value[12:14])
                assert 1900 <= year <= 2010 and 1 <= month <= 12 and 1 <= day <= 31, value
            elif kind == "bank_card":
                assert 16 <= len(digits) <= 19 and digits.isdigit() and luhn_valid(digits) == valid, value
            elif kind == "mobile":
                assert valid and MOBILE_RE.fullmatch(value), value
            elif kind == "email":
                assert valid and EMAIL_RE.fullmatch(value) and re.search(r"[@.]example\.(com|cn)$", value), value
            elif kind == "ipv4":
                assert valid and all(0 <= int(o) <= 255 for o in value.split(".")) and value.count(".") == 3
    # both valid and invalid checksums are planted, so a redactor that ignores checksums fails
    assert seen["id_card"][True] >= 5 and seen["id_card"][False] >= 3
    assert seen["bank_card"][True] >= 4 and seen["bank_card"][False] >= 2
    assert seen["mobile"][True] >= 8 and seen["email"][True] >= 6 and seen["ipv4"][True] >= 4


def test_no_unlisted_pii_anywhere(rows):
    """Every ID number with a valid checksum, mobile number and e-mail in the corpus is listed in `pii`,
    so redaction counts over the whole sample can be asserted exactly."""
    for name in DOC_FILES:
        for r in rows[name]:
            listed = {p["value"] for p in r.get("pii", []) if p["valid"]}
            found = [m for m in ID_RE.findall(r["text"]) if id_valid(m)]
            found += MOBILE_RE.findall(r["text"]) + EMAIL_RE.findall(r["text"])
            assert set(found) <= listed, (r["id"], set(found) - listed)


def test_benchmark_items_are_planted_verbatim(rows, by_id):
    planted = {}
    for name in DOC_FILES:
        for r in rows[name]:
            for exam_id in r.get("contains_benchmark", []):
                planted[exam_id] = r["id"]
                item = by_id[exam_id]
                text = t2s(r["text"])
                assert item["question"] in text, (r["id"], exam_id)
                assert all(c in text for c in item["choices"]), (r["id"], exam_id)
    assert len(planted) >= 3
    assert any(by_id[d]["id"].startswith("trad-") for d in planted.values())  # one planted in Traditional script


def test_synthetic_provenance(rows, by_id):
    syn = rows["synthetic/rephrased.jsonl"]
    for r in syn:
        assert r["generator"] and isinstance(r["params"], dict) and "temperature" in r["params"]
        assert by_id[r["seed_id"]]["id"].startswith("enc-")
    assert sum("prompt_id" not in r for r in syn) == 2


def test_language_labels(rows):
    langs = {r["lang"] for r in rows["other_languages.jsonl"]}
    assert {"en", "ja", "ko", "fr", "de", "ru", "ar", "zh"} <= langs
    assert sum(bool(r.get("mixed")) for r in rows["other_languages.jsonl"]) >= 3
    kana = re.compile(r"[\u3040-\u30ff]")
    assert all(kana.search(r["text"]) for r in rows["other_languages.jsonl"] if r["lang"] == "ja")


def test_spam_has_urls(rows):
    assert all(r.get("url", "").startswith("http") for r in rows["web_spam.jsonl"])


def test_no_overlap_with_shared_corpora(shared_dir, rows):
    """No sample text shares a 30-character substring with any string in ../shared/corpora: the sample was
    written for this project. A 30-character common substring always contains one of the 15-character blocks
    of the shared text that start at multiples of 15, so only those are looked up, then confirmed."""
    k, n = 15, 30
    texts = []
    for name, rs in rows.items():
        for r in rs:
            texts += [r["question"], *r["choices"]] if name.startswith("benchmarks/") else [r["text"]]
    blocks = {t[i : i + k] for t in texts for i in range(len(t) - k + 1)}
    windows = {t[i : i + n] for t in texts for i in range(len(t) - n + 1)}

    def strings(obj):
        if isinstance(obj, str):
            if len(obj) >= n:
                yield obj
        elif isinstance(obj, dict):
            for v in obj.values():
                yield from strings(v)
        elif isinstance(obj, list):
            for v in obj:
                yield from strings(v)

    files = sorted((shared_dir / "corpora").rglob("*.jsonl"))
    assert files
    hits = []
    for path in files:
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                for s in strings(json.loads(line)):
                    for i in range(0, len(s) - k + 1, k):
                        if s[i : i + k] in blocks:
                            hits += [s[j : j + n] for j in range(max(0, i + k - n), i + 1) if s[j : j + n] in windows]
    assert not hits, hits[:5]
