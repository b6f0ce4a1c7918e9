"""Input readers and the dataset writer, on small files written into tmp_path."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
import xxhash
import zstandard

from pipeline.config import RunConfig, validate_config
from pipeline.io.files import InputError, InputFile
from pipeline.io.listing import list_inputs
from pipeline.io.reading import read_input
from pipeline.io.writer import write_dataset, write_parquet_dataset
from stages.base import Filter
from stages.core.ledger import REJECTED_SCHEMA
from stages.core.shards import write_shard

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


class _KeepAllFilter(Filter):
    """A stage so that a RunConfig validates; these tests never run it."""

    name: ClassVar[str] = "io_test_keep_all_filter"

    def keep_doc(self, text: str) -> bool:
        return True


def make_cfg(paths: Any, tmp_path: Path, **input_opts: Any) -> Any:
    batch_size = input_opts.pop("batch_size", 2000)
    synthetic = input_opts.pop("synthetic", [])
    raw = {
        "input": {"paths": paths, **input_opts},
        "output": {"dir": str(tmp_path / "out")},
        "stages": ["io_test_keep_all_filter"],
        "execution": {"batch_size": batch_size},
        "synthetic": synthetic,
        "base_dir": str(tmp_path),
    }
    return validate_config(raw)


def list_files(cfg: RunConfig) -> list[InputFile]:
    return list_inputs(cfg.input, cfg.synthetic, cfg.resolve)


def read_file(f: InputFile, cfg: RunConfig) -> Iterator[tuple[pa.RecordBatch, pa.RecordBatch | None]]:
    return read_input(f, cfg.input, cfg.execution.batch_size)


def read_all(cfg: Any) -> tuple[pa.Table, pa.Table, list[tuple[int, int]]]:
    docs, rejected, sizes = [], [], []
    for f in list_files(cfg):
        for d, r in read_file(f, cfg):
            docs.append(d)
            sizes.append((d.num_rows, 0 if r is None else r.num_rows))
            if r is not None:
                assert r.schema.equals(REJECTED_SCHEMA)
                rejected.append(r)
    docs_t = pa.concat_tables([pa.Table.from_batches([d]) for d in docs], promote_options="permissive")
    rej_t = pa.Table.from_batches(rejected, schema=REJECTED_SCHEMA)
    return docs_t, rej_t, sizes


def write_lines(path: Path, lines: list[str | bytes], opener: Any = open) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"".join((x if isinstance(x, bytes) else x.encode("utf-8")) + b"\n" for x in lines)
    with opener(path, "wb") as f:
        f.write(data)
    return path


DOCS = [
    {"id": "a1", "text": "第一篇文章，内容很好。", "url": "http://a/1", "n": 1},
    {"id": "a2", "text": "第二篇文章。", "url": "http://a/2", "n": 2},
    {"id": "a3", "text": "第三篇。", "url": None, "n": 3},
]


def derived(source: str, row: int) -> str:
    return f"{xxhash.xxh3_64_hexdigest(source.encode())[:12]}-{row}"


# -- formats -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.zst", ".ndjson"])
def test_jsonl_variants(tmp_path: Path, suffix: str) -> None:
    lines = [json.dumps(d, ensure_ascii=False) for d in DOCS]
    path = tmp_path / f"in{suffix}"
    if suffix.endswith(".gz"):
        write_lines(path, lines, gzip.open)
    elif suffix.endswith(".zst"):
        path.write_bytes(zstandard.ZstdCompressor().compress("\n".join(lines).encode() + b"\n"))
    else:
        write_lines(path, lines)
    cfg = make_cfg(str(path), tmp_path)
    (f,) = list_files(cfg)
    assert f.format == "jsonl"
    assert f.compression == {".gz": "gzip", ".zst": "zstd"}.get(path.suffix)
    assert f.source == path.name
    assert f.fingerprint == xxhash.xxh3_64_hexdigest(path.read_bytes())
    docs, rej, _ = read_all(cfg)
    assert docs.column_names == ["id", "text", "url", "n", "_source"]
    assert docs.column("id").to_pylist() == ["a1", "a2", "a3"]
    assert docs.column("text").to_pylist() == [d["text"] for d in DOCS]
    assert docs.column("url").to_pylist() == ["http://a/1", "http://a/2", None]
    assert docs.column("n").to_pylist() == [1, 2, 3]
    assert docs.column("_source").to_pylist() == ["real"] * 3
    assert rej.num_rows == 0


def _table() -> pa.Table:
    return pa.table(
        {
            "url": ["u0", "u1", "u2", "u3", "u4"],
            "text": ["甲文", None, "  \u3000\n", "乙文" * 10, "丙文"],
            "id": ["x0", "x1", None, "x3", "x4"],
        }
    )


def _check_columnar(tmp_path: Path, path: Path, fmt: str, source: str) -> None:
    cfg = make_cfg(str(path), tmp_path, max_doc_chars=15, batch_size=2)
    files = list_files(cfg)
    assert [f.format for f in files] == [fmt]
    assert files[0].source == source
    docs, rej, sizes = read_all(cfg)
    assert sizes == [(1, 1), (0, 2), (1, 0)]  # batches of 2 input rows, whatever the file's own batching
    assert docs.column_names == ["id", "text", "url", "_source"]
    assert docs.column("id").to_pylist() == ["x0", "x4"]
    assert docs.column("url").to_pylist() == ["u0", "u4"]
    assert rej.column("id").to_pylist() == ["x1", derived(source, 2), "x3"]
    assert rej.column("reason").to_pylist() == ["null_text", "empty_text", "too_long"]
    assert rej.column("stage").to_pylist() == ["read"] * 3
    assert rej.column("detail").to_pylist()[2] == f"{source}:3: 20 chars > max_doc_chars 15"


def test_parquet(tmp_path: Path) -> None:
    path = tmp_path / "in.parquet"
    pq.write_table(_table(), path, row_group_size=3)
    _check_columnar(tmp_path, path, "parquet", "in.parquet")


def test_arrow_file_stream_and_feather(tmp_path: Path) -> None:
    t = _table()
    with pa.ipc.new_file(tmp_path / "f.arrow", t.schema) as w:
        for b in t.to_batches(max_chunksize=3):
            w.write_batch(b)
    with pa.ipc.new_stream(tmp_path / "s.arrow", t.schema) as w:
        for b in t.to_batches(max_chunksize=1):
            w.write_batch(b)
    feather.write_feather(t, tmp_path / "t.feather")
    for name in ("f.arrow", "s.arrow", "t.feather"):
        _check_columnar(tmp_path, tmp_path / name, "arrow", name)


def test_datasets_folder(tmp_path: Path) -> None:
    import datasets

    t = _table()
    datasets.Dataset(t).save_to_disk(str(tmp_path / "hf"), num_shards=2)
    cfg = make_cfg("hf", tmp_path, max_doc_chars=15)
    files = list_files(cfg)
    assert [(f.format, f.source) for f in files] == [
        ("datasets", "hf/data-00000-of-00002.arrow"),
        ("datasets", "hf/data-00001-of-00002.arrow"),
    ]
    docs, rej, _ = read_all(cfg)
    assert docs.column("id").to_pylist() == ["x0", "x4"]
    # rows are numbered per data file: files hold rows 0-2 and 3-4, so "x3" is row 0 of the second one
    assert rej.column("id").to_pylist() == ["x1", derived("hf/data-00000-of-00002.arrow", 2), "x3"]
    assert rej.column("detail").to_pylist()[2] == "hf/data-00001-of-00002.arrow:0: 20 chars > max_doc_chars 15"


def test_directory_glob_and_order(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    write_lines(root / "b.jsonl", ['{"text": "乙"}'])
    write_lines(root / "a.jsonl", ['{"text": "甲"}'])
    write_lines(root / "sub" / "c.json", ['{"text": "丙"}'])
    pq.write_table(pa.table({"text": ["丁"]}), root / "sub" / "d.parquet")
    (root / "README.md").write_text("not an input")
    (root / ".hidden.jsonl").write_text('{"text": "x"}\n')
    cfg = make_cfg("corpus", tmp_path)
    assert [f.source for f in list_files(cfg)] == [
        "corpus/a.jsonl",
        "corpus/b.jsonl",
        "corpus/sub/c.json",
        "corpus/sub/d.parquet",
    ]
    cfg = make_cfg(str(root / "**" / "*.json*"), tmp_path)
    assert [f.source for f in list_files(cfg)] == ["corpus/a.jsonl", "corpus/b.jsonl", "corpus/sub/c.json"]
    docs, _, _ = read_all(cfg)
    assert docs.column("text").to_pylist() == ["甲", "乙", "丙"]


# -- ids ---------------------------------------------------------------------------------------------------


def test_ids_kept_cast_and_derived_stably(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    write_lines(root / "a.jsonl", ['{"id": 7, "text": "甲"}', "", '{"text": "乙"}', '{"id": null, "text": "丙"}'])
    cfg = make_cfg("corpus", tmp_path)
    first = read_all(cfg)[0].column("id").to_pylist()
    # row numbers are line numbers: the blank line 1 keeps its number
    assert first == ["7", derived("corpus/a.jsonl", 2), derived("corpus/a.jsonl", 3)]
    assert read_all(cfg)[0].column("id").to_pylist() == first
    moved = tmp_path / "elsewhere" / "deeper"
    moved.mkdir(parents=True)
    shutil.move(str(root), str(moved / "corpus"))
    cfg2 = make_cfg(str(moved / "corpus"), tmp_path)
    assert read_all(cfg2)[0].column("id").to_pylist() == first


def test_custom_fields_renamed_and_clashes_refused(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "a.jsonl", ['{"doc_id": "k1", "content": "正文", "lang": "zh"}'])
    cfg = make_cfg(str(path), tmp_path, text_field="content", id_field="doc_id")
    docs, _, _ = read_all(cfg)
    assert docs.column_names == ["id", "text", "lang", "_source"]
    assert docs.to_pylist()[0] == {"id": "k1", "text": "正文", "lang": "zh", "_source": "real"}

    path = write_lines(tmp_path / "b.jsonl", ['{"content": "正文", "text": "别的"}'])
    cfg = make_cfg(str(path), tmp_path, text_field="content")
    with pytest.raises(InputError, match=r"b\.jsonl:1: has a field 'text' besides input\.text_field 'content'"):
        read_all(cfg)
    pq.write_table(pa.table({"content": ["x"], "text": ["y"]}), tmp_path / "c.parquet")
    with pytest.raises(InputError, match=r"c\.parquet: has a column 'text'"):
        list_files(make_cfg("c.parquet", tmp_path, text_field="content"))


# -- malformed input ---------------------------------------------------------------------------------------


def test_every_nonblank_line_is_a_document_or_a_rejection(tmp_path: Path) -> None:
    lines: list[str | bytes] = [
        '{"id": "ok1", "text": "好文章"}',
        '{"id": "bad", "text": "没有结束',  # malformed JSON
        "",
        "   ",
        '["a", "list"]',
        '{"id": "m", "title": "没有正文"}',
        '{"id": "nl", "text": null}',
        '{"id": "num", "text": 42}',
        '{"id": "e", "text": " \\u3000\\n "}',
        '{"id": "u", "text": "坏"}'.encode()[:-4] + b'\xff\xfe"}',  # invalid UTF-8 inside a UTF-8 file
        '{"id": "ok2", "text": "又一篇"}',
    ]
    path = write_lines(tmp_path / "m.jsonl", lines)
    docs, rej, _ = read_all(make_cfg(str(path), tmp_path))
    assert docs.column("id").to_pylist() == ["ok1", "ok2"]
    rows = {r["reason"]: r for r in rej.to_pylist()}
    assert list(rows) == [
        "malformed_json",
        "not_an_object",
        "missing_text",
        "null_text",
        "text_not_string",
        "empty_text",
        "invalid_utf8",
    ]
    assert docs.num_rows + rej.num_rows == 9  # 11 lines, 2 blank
    assert rows["malformed_json"]["detail"].startswith("m.jsonl:2: ")
    assert rows["malformed_json"]["id"] == derived("m.jsonl", 1)
    assert rows["malformed_json"]["text"] == '{"id": "bad", "text": "没有结束'
    assert rows["not_an_object"]["detail"] == "m.jsonl:5: a JSON list"
    assert rows["missing_text"]["id"] == "m"
    assert rows["text_not_string"]["detail"] == "m.jsonl:8: text is a JSON int"
    assert rows["invalid_utf8"]["detail"].startswith("m.jsonl:10: byte ")
    assert rows["invalid_utf8"]["id"] == derived("m.jsonl", 9)


def test_bom_is_stripped(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + '{"text": "有BOM"}\n'.encode())
    docs, rej, _ = read_all(make_cfg(str(path), tmp_path))
    assert docs.column("text").to_pylist() == ["有BOM"]
    assert rej.num_rows == 0


def test_gbk_file_refused_then_decoded(tmp_path: Path) -> None:
    lines = [json.dumps({"text": t}, ensure_ascii=False) for t in ("简体中文编码的文件", "第二行，还是国标码")]
    path = tmp_path / "gbk.jsonl"
    path.write_bytes("\n".join(lines).encode("gb18030") + b"\n")
    with pytest.raises(InputError, match=r"gbk\.jsonl: not UTF-8 \(looks like GBK/GB18030\); set input\.encoding"):
        list_files(make_cfg(str(path), tmp_path))
    for enc in ("auto", "gb18030"):
        cfg = make_cfg(str(path), tmp_path, encoding=enc)
        assert list_files(cfg)[0].encoding == "gb18030"
        docs, rej, _ = read_all(cfg)
        assert docs.column("text").to_pylist() == ["简体中文编码的文件", "第二行，还是国标码"]
        assert rej.num_rows == 0
    # a broken line in a GB18030 file is malformed JSON, shown decoded in the ledger
    path.write_bytes(path.read_bytes() + '{"text": "断了'.encode("gb18030") + b"\n")
    docs, rej, _ = read_all(make_cfg(str(path), tmp_path, encoding="auto"))
    assert docs.num_rows == 2
    assert rej.select(["reason", "text"]).to_pylist() == [{"reason": "malformed_json", "text": '{"text": "断了'}]
    # a UTF-8 file stays UTF-8 under `auto`
    utf8 = write_lines(tmp_path / "u.jsonl", lines)
    assert list_files(make_cfg(str(utf8), tmp_path, encoding="auto"))[0].encoding == "utf-8"


def test_neither_utf8_nor_gb18030(tmp_path: Path) -> None:
    path = tmp_path / "bin.jsonl"
    path.write_bytes(b'{"text": "abc\x80\xff\xff"}\n')
    with pytest.raises(
        InputError,
        match=r"bin\.jsonl: neither UTF-8 nor GB18030, Big5 or UTF-16 \(first invalid UTF-8 byte at offset 13;",
    ):
        list_files(make_cfg(str(path), tmp_path, encoding="auto"))


def test_one_garbage_line_in_an_ascii_file_is_rejected_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "en.jsonl"
    path.write_bytes(b'{"text": "plain English"}\n{"text": "bad \xff\xfe"}\n')
    docs, rej, _ = read_all(make_cfg(str(path), tmp_path))
    assert docs.column("text").to_pylist() == ["plain English"]
    assert rej.column("reason").to_pylist() == ["invalid_utf8"]
    assert rej.column("detail").to_pylist() == ["en.jsonl:2: byte 14"]


@pytest.mark.parametrize("ext", ["gz", "zst"])
def test_truncated_archive_is_an_input_error(tmp_path: Path, ext: str) -> None:
    data = b"".join(b'{"text": "%d"}\n' % i for i in range(300_000))
    whole = gzip.compress(data) if ext == "gz" else zstandard.ZstdCompressor().compress(data)
    (tmp_path / f"cut.jsonl.{ext}").write_bytes(whole[: len(whole) // 2])
    cfg = make_cfg(f"cut.jsonl.{ext}", tmp_path)
    (f,) = list_files(cfg)  # the first MB is intact
    with pytest.raises(InputError, match=rf"cut\.jsonl\.{ext}: cannot read after line \d+: .*end"):
        for _ in read_file(f, cfg):
            pass


def test_multi_frame_zstd(tmp_path: Path) -> None:
    c = zstandard.ZstdCompressor()
    (tmp_path / "m.jsonl.zst").write_bytes(c.compress(b'{"text": "\xe7\x94\xb2"}\n') + c.compress(b'{"text": "b"}\n'))
    docs, _, _ = read_all(make_cfg("m.jsonl.zst", tmp_path))
    assert docs.column("text").to_pylist() == ["甲", "b"]


def test_pretty_printed_json_refused(tmp_path: Path) -> None:
    path = tmp_path / "arr.json"
    path.write_text('[\n  {"text": "a"}\n]\n')
    with pytest.raises(InputError, match=r"arr\.json: looks like one JSON document, not JSON Lines"):
        read_all(make_cfg(str(path), tmp_path))


def test_50mb_document_rejected_as_too_long(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    with open(path, "wb") as f:
        f.write(b'{"id": "small", "text": "short"}\n')
        f.write(b'{"id": "huge", "text": "' + b"a" * 50_000_000 + b'"}\n')
        f.write(b'{"id": "after", "text": "still read"}\n')
    docs, rej, _ = read_all(make_cfg(str(path), tmp_path))
    assert docs.column("id").to_pylist() == ["small", "after"]
    (row,) = rej.to_pylist()
    assert (row["id"], row["reason"]) == ("huge", "too_long")
    assert row["detail"] == "big.jsonl:2: 50000000 chars > max_doc_chars 1000000"
    assert len(row["text"]) == 2000


def test_batches_bounded_by_batch_size(tmp_path: Path) -> None:
    lines = [json.dumps({"id": str(i), "text": "" if i % 7 == 0 else f"第{i}篇"}) for i in range(25)]
    lines.insert(5, "")
    path = write_lines(tmp_path / "b.jsonl", lines)
    docs, rej, sizes = read_all(make_cfg(str(path), tmp_path, batch_size=10))
    assert [d + r for d, r in sizes] == [10, 10, 5]
    assert rej.num_rows == 4  # ids 0, 7, 14, 21
    assert docs.column("id").to_pylist() == [str(i) for i in range(25) if i % 7]


def test_mixed_field_types_become_json_text(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "x.jsonl", ['{"text": "a", "meta": 1}', '{"text": "b", "meta": {"k": [1]}}'])
    docs, _, _ = read_all(make_cfg(str(path), tmp_path))
    assert docs.column("meta").to_pylist() == ["1", '{"k":[1]}']


def test_input_columns_named_like_ours_are_refused_naming_file_line_and_column(tmp_path: Path) -> None:
    """`_phase` in the input used to crash the curriculum and the report after data/ was complete, and an input
    `_source` was silently overwritten: every `_` name is refused before anything is written."""
    path = write_lines(tmp_path / "x.jsonl", ['{"text": "a", "_source": "crawl"}'])
    with pytest.raises(InputError, match=r"x\.jsonl:1: input column '_source': names starting with '_' are reserved"):
        list_files(make_cfg(str(path), tmp_path))
    # a field that first appears after the lines sniffed at listing is refused when its batch is read
    lines = [f'{{"text": "t{i}"}}' for i in range(300)] + ['{"text": "z", "_phase": 2}']
    late = write_lines(tmp_path / "late.jsonl", lines)
    cfg = make_cfg(str(late), tmp_path, batch_size=50)
    with pytest.raises(InputError, match=r"late\.jsonl:301: input column '_phase'"):
        read_all(cfg)
    table = pa.table({"text": ["a"], "_phase": [1], "_quality": [0.5]})
    pq.write_table(table, tmp_path / "x.parquet")
    with pytest.raises(InputError, match=r"x\.parquet: input columns '_phase', '_quality': names starting with '_'"):
        list_files(make_cfg(str(tmp_path / "x.parquet"), tmp_path))


def test_field_whose_type_changes_between_batches_becomes_json_text(tmp_path: Path) -> None:
    """A struct in one batch and a list in the next (PHP writes an empty object as `[]`) crashed the shard writer
    in `conform`; the column becomes JSON text, as for types that disagree inside one batch."""
    rows = [{"text": f"t{i}", "meta": {"k": i} if i < 4 else [i, "x"]} for i in range(8)]
    path = write_lines(tmp_path / "x.jsonl", [json.dumps(r) for r in rows])
    cfg = make_cfg(str(path), tmp_path, batch_size=3)
    shard = str(tmp_path / "shard.arrow")
    write_shard(shard, (d for f in list_files(cfg) for d, _ in read_file(f, cfg)))
    out = write_dataset([shard], str(tmp_path / "data"), 100)
    import datasets

    ds = datasets.load_from_disk(str(tmp_path / "data"))
    assert out["rows"] == 8
    assert ds["meta"] == ['{"k":0}', '{"k":1}', '{"k":2}', '{"k":3}', '[4,"x"]', '[5,"x"]', '[6,"x"]', '[7,"x"]']
    # the same across shards: one shard's struct column meets another's list column when data/ is written
    a, b = str(tmp_path / "a.arrow"), str(tmp_path / "b.arrow")
    write_shard(a, [pa.record_batch({"id": ["1"], "text": ["x"], "meta": [{"k": 1}]})])
    write_shard(b, [pa.record_batch({"id": ["2"], "text": ["y"], "meta": [[1, 2]]})])
    write_dataset([a, b], str(tmp_path / "data2"), 100)
    assert datasets.load_from_disk(str(tmp_path / "data2"))["meta"] == ['{"k":1}', "[1,2]"]


def test_fields_present_only_in_later_rows_are_kept(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "x.jsonl", ['{"text": "a"}', '{"text": "b", "late": "yes"}'])
    docs, _, _ = read_all(make_cfg(str(path), tmp_path))
    assert docs.column("late").to_pylist() == [None, "yes"]


# -- errors a user can cause -------------------------------------------------------------------------------


def test_listing_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope/\*\.jsonl: no input files match"):
        list_files(make_cfg("nope/*.jsonl", tmp_path))
    with pytest.raises(InputError, match=r"missing\.jsonl: no such file or directory"):
        list_files(make_cfg("missing.jsonl", tmp_path))
    (tmp_path / "data.txt").write_text("x")
    with pytest.raises(InputError, match=r"data\.txt: unknown input format"):
        list_files(make_cfg("data.txt", tmp_path))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"empty: no input files in this folder"):
        list_files(make_cfg("empty", tmp_path))
    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "p.parquet")
    with pytest.raises(InputError, match=r"p\.parquet: no column 'text' \(columns: body\); set input\.text_field"):
        list_files(make_cfg("p.parquet", tmp_path))
    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match=r"junk\.parquet: cannot read as parquet"):
        list_files(make_cfg("junk.parquet", tmp_path))


def test_same_source_twice_refused(tmp_path: Path) -> None:
    write_lines(tmp_path / "x" / "a.jsonl", ['{"text": "a"}'])
    write_lines(tmp_path / "y" / "a.jsonl", ['{"text": "a"}'])
    with pytest.raises(InputError, match=r"same source name 'a\.jsonl'"):
        list_files(make_cfg(["x/a.jsonl", "y/a.jsonl"], tmp_path))
    # the same file listed three ways is read once, under the first listing's source
    assert [f.source for f in list_files(make_cfg(["x/a.jsonl", "x/*.jsonl", "x"], tmp_path))] == ["a.jsonl"]


def test_explicit_format_overrides_extension(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "docs.txt", ['{"text": "甲"}'])
    docs, _, _ = read_all(make_cfg(str(path), tmp_path, format="jsonl"))
    assert docs.column("text").to_pylist() == ["甲"]


# -- synthetic sources -------------------------------------------------------------------------------------


def test_synthetic_provenance(tmp_path: Path) -> None:
    write_lines(tmp_path / "real.jsonl", ['{"text": "真实"}'])
    write_lines(
        tmp_path / "syn" / "s.jsonl",
        [
            '{"text": "合成一", "seed_id": "real-1", "params": {"temperature": 0.7}}',
            '{"text": "合成二", "generator": "other-model", "prompt_id": "p2"}',
        ],
    )
    syn = [{"name": "rephrase", "paths": ["syn"], "defaults": {"generator": "qwen2.5-72b", "prompt_id": "rp_v1"}}]
    cfg = make_cfg("real.jsonl", tmp_path, synthetic=syn)
    files = list_files(cfg)
    assert [f.source for f in files] == ["real.jsonl", "synthetic/rephrase/syn/s.jsonl"]
    assert files[1].synthetic["defaults"] == {"generator": "qwen2.5-72b", "prompt_id": "rp_v1"}
    real = next(read_file(files[0], cfg))[0]
    assert real.column("_source").to_pylist() == ["real"]
    docs = next(read_file(files[1], cfg))[0]
    assert docs.column("_source").to_pylist() == ["synthetic", "synthetic"]
    assert docs.column("_gen_generator").to_pylist() == ["qwen2.5-72b", "other-model"]
    assert docs.column("_gen_prompt_id").to_pylist() == ["rp_v1", "p2"]
    assert docs.column("_gen_seed_id").to_pylist() == ["real-1", None]
    assert docs.column("_gen_params").to_pylist() == ['{"temperature":0.7}', None]

    cfg = make_cfg("real.jsonl", tmp_path, synthetic=[{"name": "bare", "paths": ["syn/s.jsonl"]}])
    with pytest.raises(
        InputError, match=r"s\.jsonl:1: synthetic document lacks 'generator' \(no default given in synthetic\[0\]\)"
    ):
        read_all(cfg)

    pq.write_table(pa.table({"text": ["合成"], "prompt_id": ["p"]}), tmp_path / "syn.parquet")
    syn = [{"name": "pq", "paths": ["syn.parquet"], "defaults": {"generator": "g"}}]
    docs = read_all(make_cfg("real.jsonl", tmp_path, synthetic=syn))[0]
    assert docs.column("_gen_generator").to_pylist() == [None, "g"]  # the real row has no provenance
    assert docs.column("_gen_prompt_id").to_pylist() == [None, "p"]
    syn = [{"name": "pq", "paths": ["syn.parquet"], "defaults": {"prompt_id": "p0"}}]
    with pytest.raises(InputError, match=r"syn\.parquet: row 0: synthetic document lacks 'generator'"):
        read_all(make_cfg("real.jsonl", tmp_path, synthetic=syn))


# -- writing -----------------------------------------------------------------------------------------------


def _shards(tmp_path: Path) -> list[str]:
    a = str(tmp_path / "shards" / "a.arrow")
    b = str(tmp_path / "shards" / "b.arrow")
    e = str(tmp_path / "shards" / "e.arrow")
    write_shard(a, [pa.record_batch({"id": ["a0", "a1", "a2"], "text": ["甲", "乙", "丙"], "_q": [0.5, 0.1, None]})])
    write_shard(e, [], schema=pa.schema([("id", pa.string()), ("text", pa.string())]))
    write_shard(
        b,
        [
            pa.record_batch({"id": ["b0"], "text": ["丁"], "lang": ["zh"]}),
            pa.record_batch({"id": ["b1", "b2"], "text": ["戊", "己"], "lang": [None, "zh"]}),
        ],
    )
    return [a, e, b]


def test_write_dataset_opens_with_load_from_disk(tmp_path: Path) -> None:
    import datasets

    shards = _shards(tmp_path)
    out = tmp_path / "data"
    result = write_dataset(shards, str(out), max_shard_docs=2)
    names = ["data-00000-of-00003.arrow", "data-00001-of-00003.arrow", "data-00002-of-00003.arrow"]
    assert result["files"] == [str(out / n) for n in names]
    assert result["rows"] == 6
    assert result["bytes"] == sum((out / n).stat().st_size for n in names)
    assert sorted(os.listdir(out)) == [*names, "dataset_info.json", "state.json"]
    assert not os.path.exists(str(out) + ".tmp")
    ds = datasets.load_from_disk(str(out))
    assert ds["id"] == ["a0", "a1", "a2", "b0", "b1", "b2"]
    assert ds["text"] == ["甲", "乙", "丙", "丁", "戊", "己"]
    assert ds["_q"] == [0.5, 0.1, None, None, None, None]
    assert ds["lang"] == [None, None, None, "zh", None, "zh"]
    assert [pa.ipc.open_stream(pa.memory_map(str(out / n))).read_all().num_rows for n in names] == [2, 2, 2]


def test_write_dataset_deterministic_and_like_save_to_disk(tmp_path: Path) -> None:
    import datasets

    shards = _shards(tmp_path)
    write_dataset(shards, str(tmp_path / "d1"), max_shard_docs=4)
    write_dataset(shards, str(tmp_path / "d2"), max_shard_docs=4)
    write_dataset(shards, str(tmp_path / "d2"), max_shard_docs=4)  # over an existing folder
    files = sorted(os.listdir(tmp_path / "d1"))
    assert files == sorted(os.listdir(tmp_path / "d2"))
    for n in files:
        assert (tmp_path / "d1" / n).read_bytes() == (tmp_path / "d2" / n).read_bytes(), n
    # the same rows saved by `datasets` itself give the same files, apart from its random fingerprint
    ds = datasets.load_from_disk(str(tmp_path / "d1"))
    ds.save_to_disk(str(tmp_path / "hf"), num_shards=2)
    for n in files:
        if n != "state.json":
            assert (tmp_path / "d1" / n).read_bytes() == (tmp_path / "hf" / n).read_bytes(), n
    ours, theirs = (json.loads((tmp_path / d / "state.json").read_text()) for d in ("d1", "hf"))
    assert ours.keys() == theirs.keys()
    assert {k: v for k, v in ours.items() if k != "_fingerprint"} == {
        k: v for k, v in theirs.items() if k != "_fingerprint"
    }


def test_write_dataset_same_bytes_with_the_features_cache_cold_warm_or_off(tmp_path: Path, monkeypatch) -> None:
    from pipeline.io import writer

    shards = _shards(tmp_path)
    monkeypatch.setenv("JINGXUAN_CACHE_DIR", str(tmp_path / "cache"))
    write_dataset(shards, str(tmp_path / "cold"), max_shard_docs=4)  # `datasets` derives the features
    assert len(os.listdir(tmp_path / "cache")) == 1

    def no_datasets(schema):
        raise AssertionError("a warm cache must not import datasets")

    monkeypatch.setattr(writer, "_derive_hf_features", no_datasets)
    write_dataset(shards, str(tmp_path / "warm"), max_shard_docs=4)
    monkeypatch.undo()
    monkeypatch.setenv("JINGXUAN_CACHE_DIR", "off")
    write_dataset(shards, str(tmp_path / "off"), max_shard_docs=4)
    files = sorted(os.listdir(tmp_path / "cold"))
    for folder in ("warm", "off"):
        assert sorted(os.listdir(tmp_path / folder)) == files
        for n in files:
            assert (tmp_path / folder / n).read_bytes() == (tmp_path / "cold" / n).read_bytes(), (folder, n)


def test_write_dataset_all_empty(tmp_path: Path) -> None:
    import datasets

    e = str(tmp_path / "e.arrow")
    write_shard(e, [], schema=pa.schema([("id", pa.string()), ("text", pa.string()), ("_q", pa.float64())]))
    result = write_dataset([e], str(tmp_path / "data"), max_shard_docs=10)
    assert result["rows"] == 0
    assert [os.path.basename(f) for f in result["files"]] == ["data-00000-of-00001.arrow"]
    ds = datasets.load_from_disk(str(tmp_path / "data"))
    assert len(ds) == 0
    assert ds.column_names == ["id", "text", "_q"]


def test_write_parquet_dataset(tmp_path: Path) -> None:
    shards = _shards(tmp_path)
    result = write_parquet_dataset(shards, str(tmp_path / "parquet"), max_shard_docs=4)
    assert [os.path.basename(f) for f in result["files"]] == [
        "data-00000-of-00002.parquet",
        "data-00001-of-00002.parquet",
    ]
    t = pa.concat_tables(pq.read_table(f) for f in result["files"])
    assert t.column("id").to_pylist() == ["a0", "a1", "a2", "b0", "b1", "b2"]
    assert t.column("lang").to_pylist() == [None, None, None, "zh", None, "zh"]


# -- URLs through fsspec -----------------------------------------------------------------------------------


@pytest.fixture
def mem() -> Any:
    """A fresh folder in fsspec's in-process `memory://` filesystem, removed afterwards."""
    import uuid

    import fsspec

    fs = fsspec.filesystem("memory")
    root = f"/jx-{uuid.uuid4().hex[:8]}"
    yield fs, root
    if fs.exists(root):
        fs.rm(root, recursive=True)


def upload(local: Path, fs: Any, root: str) -> None:
    for p in sorted(local.rglob("*")):
        if p.is_file():
            fs.pipe_file(f"{root}/{p.relative_to(local).as_posix()}", p.read_bytes())


def _mixed_corpus(root: Path) -> None:
    """One file of every format, in two folders, plus files listing must skip."""
    docs = [json.dumps(d, ensure_ascii=False) for d in DOCS]
    write_lines(root / "a.jsonl", docs)
    write_lines(root / "sub" / "b.jsonl.gz", docs[:2], gzip.open)
    (root / "sub" / "c.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(docs[2].encode() + b"\n"))
    pq.write_table(_table(), root / "d.parquet", row_group_size=2)
    with pa.ipc.new_file(root / "e.arrow", _table().schema) as w:
        w.write_table(_table(), max_chunksize=2)
    with pa.ipc.new_stream(root / "sub" / "f.arrow", _table().schema) as w:
        w.write_table(_table(), max_chunksize=3)
    write_lines(root / ".hidden" / "x.jsonl", ['{"text": "藏"}'])
    write_lines(root / ".skip.jsonl", ['{"text": "藏"}'])
    (root / "notes.md").write_text("not an input")


def _listing(cfg: Any) -> list[tuple[str, str, int, str, str | None]]:
    return [(f.source, f.format, f.size, f.fingerprint, f.compression) for f in list_files(cfg)]


def test_memory_url_lists_and_reads_like_a_local_copy(tmp_path: Path, mem: Any) -> None:
    fs, root = mem
    _mixed_corpus(tmp_path / "corpus")
    upload(tmp_path / "corpus", fs, f"{root}/corpus")
    local = make_cfg("corpus", tmp_path, batch_size=2)
    expected_sources = [
        "corpus/a.jsonl",
        "corpus/d.parquet",
        "corpus/e.arrow",
        "corpus/sub/b.jsonl.gz",
        "corpus/sub/c.jsonl.zst",
        "corpus/sub/f.arrow",
    ]
    assert [s for s, *_ in _listing(local)] == expected_sources
    local_docs, local_rej, local_sizes = read_all(local)
    for url in (f"memory://{root}/corpus", f"memory://{root}/corpus/", f"memory://{root}/corpus/**"):
        cfg = make_cfg(url, tmp_path, batch_size=2)
        files = list_files(cfg)
        assert [f.path for f in files] == [f"memory://{root}/{s}" for s in expected_sources]
        # same sources, sizes, compression and content fingerprints (xxh3 of the bytes: memory fs has no ETag)
        assert _listing(cfg) == _listing(local)
        docs, rej, sizes = read_all(cfg)
        assert sizes == local_sizes
        assert docs.equals(local_docs)  # derived ids included: they come from the source
        assert rej.equals(local_rej)
    assert local_docs.num_rows == 3 + 2 + 1 + 3 * 3  # columnar files keep x0, x3 and x4
    # `dir/**` matches `dir` itself too: its files get sources without an empty path segment
    assert [s for s, *_ in _listing(make_cfg(str(tmp_path / "corpus" / "**"), tmp_path))] == expected_sources
    # a glob below the corpus: sources relative to the glob base, as for a local glob
    glob_cfg = make_cfg(f"memory://{root}/corpus/*/*.jsonl*", tmp_path)
    local_glob = make_cfg(str(tmp_path / "corpus" / "*" / "*.jsonl*"), tmp_path)
    assert [s for s, *_ in _listing(glob_cfg)] == ["corpus/sub/b.jsonl.gz", "corpus/sub/c.jsonl.zst"]
    assert _listing(glob_cfg) == _listing(local_glob)
    # a single file
    (f,) = list_files(make_cfg(f"memory://{root}/corpus/sub/c.jsonl.zst", tmp_path))
    assert (f.source, f.compression, f.path) == ("c.jsonl.zst", "zstd", f"memory://{root}/corpus/sub/c.jsonl.zst")


def test_file_url_gives_the_same_ids_as_the_plain_path(tmp_path: Path) -> None:
    root = tmp_path / "crawl"
    write_lines(root / "2024" / "a.jsonl", ['{"text": "甲"}', "", '{"text": "乙", "url": "u"}'])
    write_lines(root / "2025" / "b.jsonl.gz", ['{"text": "丙"}'], gzip.open)
    pq.write_table(pa.table({"text": ["丁", "戊"]}), root / "2025" / "c.parquet")
    plain = make_cfg(str(root / "*" / "*"), tmp_path)
    url = make_cfg(f"file://{root}/*/*", tmp_path)
    files = list_files(url)
    assert [f.path for f in files] == [f"file://{p}" for p in (f.path for f in list_files(plain))]
    assert _listing(url) == _listing(plain)
    docs = read_all(url)[0]
    assert docs.equals(read_all(plain)[0])
    assert docs.column("id").to_pylist() == [
        derived("crawl/2024/a.jsonl", 0),
        derived("crawl/2024/a.jsonl", 2),
        derived("crawl/2025/b.jsonl.gz", 0),
        derived("crawl/2025/c.parquet", 0),
        derived("crawl/2025/c.parquet", 1),
    ]
    # the InputFile a worker receives is small and picklable, and reopens its filesystem from the URL
    import pickle

    again = pickle.loads(pickle.dumps(files[0]))
    assert next(read_file(again, url))[0].column("text").to_pylist() == ["甲", "乙"]


def test_datasets_folder_through_a_url(tmp_path: Path, mem: Any) -> None:
    import datasets

    fs, root = mem
    datasets.Dataset(_table()).save_to_disk(str(tmp_path / "corpus" / "hf"), num_shards=2)
    write_lines(tmp_path / "corpus" / "z.jsonl", ['{"text": "后"}'])
    upload(tmp_path / "corpus", fs, f"{root}/corpus")
    local = make_cfg("corpus", tmp_path, max_doc_chars=15)
    for path in (f"memory://{root}/corpus", f"file://{tmp_path}/corpus"):
        cfg = make_cfg(path, tmp_path, max_doc_chars=15)
        assert [(f.format, f.source) for f in list_files(cfg)] == [
            ("datasets", "corpus/hf/data-00000-of-00002.arrow"),
            ("datasets", "corpus/hf/data-00001-of-00002.arrow"),
            ("jsonl", "corpus/z.jsonl"),
        ]
        assert _listing(cfg) == _listing(local)
        docs, rej, _ = read_all(cfg)
        assert docs.column("id").to_pylist() == ["x0", "x4", derived("corpus/z.jsonl", 0)]
        assert (
            rej.column("detail").to_pylist()[2] == "corpus/hf/data-00001-of-00002.arrow:0: 20 chars > max_doc_chars 15"
        )
    # the folder itself, by URL
    cfg = make_cfg(f"memory://{root}/corpus/hf", tmp_path)
    assert [f.source for f in list_files(cfg)] == ["hf/data-00000-of-00002.arrow", "hf/data-00001-of-00002.arrow"]


def test_malformed_lines_and_gbk_through_a_url(tmp_path: Path, mem: Any) -> None:
    fs, root = mem
    fs.pipe_file(f"{root}/m.jsonl", b'{"id": "ok", "text": "\xe5\xa5\xbd"}\n{"text": "cut\n\n[1]\n')
    docs, rej, _ = read_all(make_cfg(f"memory://{root}/m.jsonl", tmp_path))
    assert docs.column("id").to_pylist() == ["ok"]
    assert rej.column("reason").to_pylist() == ["malformed_json", "not_an_object"]
    assert rej.column("detail").to_pylist()[0].startswith("m.jsonl:2: ")
    assert rej.column("detail").to_pylist()[1] == "m.jsonl:4: a JSON list"
    assert rej.column("id").to_pylist() == [derived("m.jsonl", 1), derived("m.jsonl", 3)]

    fs.pipe_file(f"{root}/gbk.jsonl", '{"text": "简体中文编码的文件"}\n'.encode("gb18030"))
    url = f"memory://{root}/gbk.jsonl"
    with pytest.raises(InputError, match=rf"^{url}: not UTF-8 \(looks like GBK/GB18030\); set input\.encoding"):
        list_files(make_cfg(url, tmp_path))
    cfg = make_cfg(url, tmp_path, encoding="auto")
    assert read_all(cfg)[0].column("text").to_pylist() == ["简体中文编码的文件"]


def test_url_errors_name_the_url(tmp_path: Path, mem: Any) -> None:
    import importlib.util

    fs, root = mem
    fs.pipe_file(f"{root}/a.txt", b"x")
    cases = [
        (f"memory://{root}/*.jsonl", r"no input files match"),
        (f"memory://{root}/missing.jsonl", r"no such file or directory"),
        (f"memory://{root}/a.txt", r"unknown input format"),
        ("nosuchproto://bucket/x.jsonl", r"unknown protocol nosuchproto://"),
    ]
    if importlib.util.find_spec("s3fs") is None:
        cases.append(("s3://bucket/crawl/*.jsonl.zst", r"install s3fs to read s3:// inputs"))
    for url, msg in cases:
        with pytest.raises(InputError) as e:
            list_files(make_cfg(url, tmp_path))
        assert str(e.value).startswith(f"{url}: ")
        assert "\n" not in str(e.value)
        assert re.search(msg, str(e.value)), str(e.value)


def test_store_checksum_replaces_reading_the_file(tmp_path: Path, mem: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from fsspec.implementations.memory import MemoryFileSystem

    fs, root = mem
    fs.pipe_file(f"{root}/a.jsonl", b'{"text": "a"}\n')
    info = MemoryFileSystem.info
    monkeypatch.setattr(MemoryFileSystem, "info", lambda self, path, **kw: {**info(self, path, **kw), "ETag": '"9f1c"'})
    monkeypatch.setattr("pipeline.io.listing.file_fingerprint", lambda path: pytest.fail(f"{path} was hashed"))
    (f,) = list_files(make_cfg(f"memory://{root}/a.jsonl", tmp_path))
    assert f.fingerprint == "etag:9f1c"


def test_estimate_rows_through_a_url(tmp_path: Path, mem: Any) -> None:
    from pipeline.io.reading import estimate_rows

    fs, root = mem
    _mixed_corpus(tmp_path / "corpus")
    upload(tmp_path / "corpus", fs, f"{root}/corpus")
    files = list_files(make_cfg(f"memory://{root}/corpus", tmp_path))
    assert [estimate_rows(f) for f in files] == [3, 5, 5, 2, 1, 5]


def test_a_wrong_text_field_is_refused_naming_the_fields_found(tmp_path: Path):
    path = tmp_path / "posts.jsonl"
    path.write_text(
        "".join(json.dumps({"id": i, "body": "正文", "title": "标题"}, ensure_ascii=False) + "\n" for i in range(3)),
        encoding="utf-8",
    )
    with pytest.raises(
        InputError,
        match=r"posts.jsonl: no `text` field in its first 3 documents \(fields: id, body, "
        r"title\); set input.text_field",
    ):
        list_files(make_cfg([str(path)], tmp_path))
    assert [f.source for f in list_files(make_cfg([str(path)], tmp_path, text_field="body"))] == ["posts.jsonl"]


# -- encodings, ids, archives and dictionary columns that used to be damaged silently -------------------------


def _sample_texts(name: str, n: int = 8) -> list[str]:
    with open(Path(__file__).resolve().parents[2] / "sample_data" / name, encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f][:n]


@pytest.mark.parametrize(
    ("codec", "looks_like", "setting"),
    [
        ("big5", "Big5", "big5"),
        ("utf-16", "UTF-16", "utf-16"),
        ("utf-16-le", "UTF-16LE", "utf-16"),
        ("utf-16-be", "UTF-16BE", "utf-16"),
    ],
)
def test_big5_and_utf16_refused_by_name_or_decoded_with_auto(tmp_path: Path, codec: str, looks_like: str, setting: str):
    """A Big5 file used to be decoded as GB18030 into mojibake without a word, and UTF-16 was unreadable."""
    texts = [t for t in _sample_texts("traditional.jsonl", 100) if _encodable(t, "big5")]  # 爲 is not Big5
    assert len(texts) >= 8
    lines = "".join(json.dumps({"id": str(i), "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(texts))
    path = tmp_path / f"{codec}.jsonl"
    path.write_bytes(lines.encode(codec))
    refused = rf"{codec}\.jsonl: not UTF-8 \(looks like {looks_like}\); set input\.encoding: auto or {setting} "
    with pytest.raises(InputError, match=refused):
        list_files(make_cfg(str(path), tmp_path))
    for encoding in ("auto", setting):
        docs, rej, _ = read_all(make_cfg(str(path), tmp_path, encoding=encoding))
        assert docs.column("text").to_pylist() == texts and rej.num_rows == 0
    assert list_files(make_cfg(str(path), tmp_path, encoding="auto"))[0].encoding == codec.replace("big5", "big5hkscs")


def _encodable(text: str, codec: str) -> bool:
    try:
        text.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


def test_gbk_file_with_big5_configured_is_refused_naming_gbk(tmp_path: Path) -> None:
    path = tmp_path / "gbk.jsonl"
    texts = _sample_texts("encyclopedia.jsonl", 4)
    path.write_bytes("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts).encode("gbk"))
    with pytest.raises(InputError, match=r"input\.encoding is big5, but the file is not \(looks like GBK/GB18030\)"):
        list_files(make_cfg(str(path), tmp_path, encoding="big5"))


def test_integer_ids_beyond_64_bits_stay_exact(tmp_path: Path) -> None:
    """orjson reads integers beyond 64 bits as floats: 2**64 and 2**64 + 1 used to become one id."""
    ids = [2**64, 2**64 + 1, -(2**63) - 1, 123456789012345678901234567890, 2**63 - 1]
    path = write_lines(tmp_path / "big.jsonl", [f'{{"id": {i}, "text": "文档{n}"}}' for n, i in enumerate(ids)])
    docs, _, _ = read_all(make_cfg(str(path), tmp_path))
    assert docs.column("id").to_pylist() == [str(i) for i in ids]


def test_corrupt_zst_is_reported_as_corrupt(tmp_path: Path) -> None:
    """A `.zst` whose header is gone used to be read as plain text (one malformed line, no word of corruption)."""
    data = b"".join(b'{"text": "%d"}\n' % i for i in range(1000))
    whole = bytearray(zstandard.ZstdCompressor().compress(data))
    whole[:4] = b"\x00\x00\x00\x00"
    (tmp_path / "bad.jsonl.zst").write_bytes(bytes(whole))
    with pytest.raises(InputError, match=r"bad\.jsonl\.zst: named \.zst but not zstd data \(starts with 00 00 00 00\)"):
        list_files(make_cfg("bad.jsonl.zst", tmp_path))
    (tmp_path / "bad.jsonl.gz").write_bytes(data)
    with pytest.raises(InputError, match=r"bad\.jsonl\.gz: named \.gz but not gzip data"):
        list_files(make_cfg("bad.jsonl.gz", tmp_path))


def test_dictionary_encoded_parquet_columns_are_decoded(tmp_path: Path) -> None:
    """A dictionary-encoded text column used to be refused as `dictionary<values=string ...>, not a string`."""
    table = pa.table(
        {
            "text": pa.array(["第一篇", "第二篇", "第一篇"]).dictionary_encode(),
            "site": pa.array(["a", "b", "a"]).dictionary_encode(),
        }
    )
    pq.write_table(table, tmp_path / "dict.parquet")
    docs, rej, _ = read_all(make_cfg(str(tmp_path / "dict.parquet"), tmp_path))
    assert docs.column("text").to_pylist() == ["第一篇", "第二篇", "第一篇"] and rej.num_rows == 0
    assert docs.schema.field("site").type == pa.string()
    shard = str(tmp_path / "s.arrow")
    write_shard(shard, docs.to_batches())
    write_dataset([shard], str(tmp_path / "data"), 100)
    import datasets

    assert datasets.load_from_disk(str(tmp_path / "data"))["site"] == ["a", "b", "a"]
