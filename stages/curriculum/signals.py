"""Difficulty signals for curriculum ordering, computed per batch with numpy and pyarrow.

Each signal is a raw per-document value where larger means harder; the curriculum stage normalises them
over the corpus (rank or z-score) before weighting. Built-ins:

- `length`: log(1 + characters). Longer documents need longer context and carry more content.
- `rarity`: mean -log(freq/total) of the document's words against jieba's frequency table (dict.txt, 60M
  counted tokens), segmented with rjieba (HMM off, jieba-identical). Text is folded to Simplified first,
  so Traditional documents are not scored as rare merely for their script. Tokens without a letter or
  digit (punctuation, spaces) are skipped; words missing from the table count as frequency 1 (the floor).
- `sentence_length`: mean characters per sentence, sentences split on 。！？!?；and newlines.
- `entropy`: Shannon entropy (bits) of the document's character distribution: a cheap perplexity proxy.
"""

from __future__ import annotations

import importlib.util
import math
import os
from functools import cache
from itertools import repeat

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stages.chinese import string_array

BUILTIN = ("length", "rarity", "sentence_length", "entropy")
SENTENCE_END = "[。！？!?；\n]+"
_WORDLIKE = r"[\p{L}\p{N}]"


def column_name(signal: str) -> str:
    """The column a built-in signal is written to (`_sig_length` ...)."""
    return f"_sig_{signal}"


@cache
def jieba_rarity_table() -> tuple[dict[str, float], float]:
    """{word: -log(freq/total)} from jieba's dict.txt, and the value for unknown words (frequency 1)."""
    spec = importlib.util.find_spec("jieba")  # not imported: jieba imports pkg_resources (0.16 s)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the curriculum's rarity signal reads jieba's dict.txt: pip install jieba")
    path = os.path.join(spec.submodule_search_locations[0], "dict.txt")
    words: list[str] = []
    freqs: list[int] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split(" ", 2)
            if len(parts) >= 2:
                words.append(parts[0])
                freqs.append(int(parts[1]))
    counts = np.asarray(freqs, dtype=np.float64)
    log_total = math.log(counts.sum())
    table = dict(zip(words, (log_total - np.log(counts)).tolist(), strict=True))
    return table, log_total


def length(texts: pa.Array) -> np.ndarray:
    return np.log1p(pc.utf8_length(string_array(texts)).to_numpy(zero_copy_only=False).astype(np.float64))


def rarity(texts: pa.Array, fold_script: bool = True) -> np.ndarray:
    """Mean word rarity; 0 for a document without words."""
    import rjieba

    texts = string_array(texts)
    if fold_script:
        from stages.chinese import t2s_array

        texts = t2s_array(texts)
    table, unknown = jieba_rarity_table()
    cut = rjieba.cut
    tokens = [cut(t, False) for t in texts.to_pylist()]
    counts = np.fromiter((len(t) for t in tokens), dtype=np.int64, count=len(tokens))
    flat = [w for ts in tokens for w in ts]
    n = len(tokens)
    if not flat:
        return np.zeros(n)
    values = np.fromiter(map(table.get, flat, repeat(unknown)), dtype=np.float64, count=len(flat))
    wordlike = pc.match_substring_regex(pa.array(flat, pa.string()), _WORDLIKE).to_numpy(zero_copy_only=False)
    doc = np.repeat(np.arange(n), counts)
    total = np.bincount(doc, weights=values * wordlike, minlength=n)
    words = np.bincount(doc, weights=wordlike.astype(np.float64), minlength=n)
    return np.divide(total, words, out=np.zeros(n), where=words > 0)


def sentence_length(texts: pa.Array) -> np.ndarray:
    """Mean characters per non-blank sentence (whitespace at sentence edges not counted); 0 if none."""
    texts = string_array(texts)
    n = len(texts)
    parts = pc.split_pattern_regex(texts, SENTENCE_END)
    flat = pc.utf8_trim_whitespace(pc.list_flatten(parts))
    lens = pc.utf8_length(flat).to_numpy(zero_copy_only=False).astype(np.float64)
    doc = pc.list_parent_indices(parts).to_numpy(zero_copy_only=False)
    chars = np.bincount(doc, weights=lens, minlength=n)
    sentences = np.bincount(doc, weights=(lens > 0).astype(np.float64), minlength=n)
    return np.divide(chars, sentences, out=np.zeros(n), where=sentences > 0)


def entropy(texts: pa.Array) -> np.ndarray:
    """Character entropy in bits: log2(n) - sum(c log2 c)/n over the document's character counts."""
    texts = string_array(texts)
    n = len(texts)
    lens = pc.utf8_length(texts).to_numpy(zero_copy_only=False).astype(np.int64)
    if lens.sum() == 0:
        return np.zeros(n)
    codes = np.frombuffer("".join(texts.to_pylist()).encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    doc = np.repeat(np.arange(n, dtype=np.int64), lens)
    keys, counts = np.unique((doc << 21) | codes, return_counts=True)
    c = counts.astype(np.float64)
    s = np.bincount(keys >> 21, weights=c * np.log2(c), minlength=n)
    total = lens.astype(np.float64)
    return np.divide(np.log2(np.maximum(total, 1)) * total - s, total, out=np.zeros(n), where=total > 0)


def compute(batch: pa.RecordBatch | pa.Table, names: list[str], fold_script: bool = True) -> dict[str, np.ndarray]:
    """Raw values of the named built-in signals for a batch, keyed by signal name."""
    texts = batch.column("text")
    funcs = {
        "length": length,
        "rarity": lambda t: rarity(t, fold_script),
        "sentence_length": sentence_length,
        "entropy": entropy,
    }
    return {name: funcs[name](texts) for name in names}
