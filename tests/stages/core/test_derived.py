import os

import numpy as np
import pytest

from stages.core import derived
from stages.core.derived import cached_bytes, derivation_key


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv(derived.CACHE_ENV, str(folder))
    return folder


def counting(data: bytes):
    calls = []

    def derive() -> bytes:
        calls.append(1)
        return data

    return derive, calls


def test_an_entry_is_derived_once_then_read(cache):
    derive, calls = counting(b"table")
    assert cached_bytes("t", "k1", derive) == b"table"
    assert cached_bytes("t", "k1", derive) == b"table"
    assert len(calls) == 1 and os.listdir(cache) == ["t-k1"]
    cached_bytes("t", "k2", derive)  # another key is another entry
    assert len(calls) == 2


def test_an_entry_that_fails_its_check_is_derived_again_and_replaced(cache):
    cache.mkdir()
    (cache / "t-k").write_bytes(b"trunc")
    derive, calls = counting(b"whole table")
    assert cached_bytes("t", "k", derive, valid=lambda b: len(b) == 11) == b"whole table"
    assert len(calls) == 1 and (cache / "t-k").read_bytes() == b"whole table"


def test_off_or_unwritable_costs_only_the_derivation(tmp_path, monkeypatch):
    derive, calls = counting(b"x")
    monkeypatch.setenv(derived.CACHE_ENV, "off")
    assert cached_bytes("t", "k", derive) == b"x" and cached_bytes("t", "k", derive) == b"x"
    assert len(calls) == 2
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(derived.CACHE_ENV, str(blocker / "cache"))  # under a file: cannot be created
    assert cached_bytes("t", "k", derive) == b"x"


def test_the_key_follows_package_versions_module_sources_and_inputs(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("A = 1\n")
    key = derivation_key(("numpy",), (str(module),), "x")
    assert key == derivation_key(("numpy",), (str(module),), "x")
    assert key != derivation_key(("numpy",), (str(module),), "y")
    assert key != derivation_key(("pyarrow",), (str(module),), "x")
    derived._file_digest.cache_clear()
    module.write_text("A = 2\n")
    assert key != derivation_key(("numpy",), (str(module),), "x")


def test_cached_character_tables_equal_fresh_ones(cache):
    from stages import charclass, script

    for cached_fn, derive in (
        (charclass.char_classes, charclass._derive_char_classes),
        (script.class_table, script._derive_class_table),
    ):
        cached_fn.cache_clear()
        first = cached_fn()  # derived and written
        cached_fn.cache_clear()
        again = cached_fn()  # read back
        assert np.array_equal(first, derive()) and np.array_equal(again, first)
        assert first.dtype == again.dtype and not again.flags.writeable
    assert len(os.listdir(cache)) == 2
