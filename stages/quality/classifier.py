"""A trainable quality classifier: logistic regression on hashed character 1–3-grams, numpy only.

Why not fastText: training needs the real `fasttext` package, which installs the same `fasttext` module as
`fasttext-predict` (used by language ID) and breaks it (NOTES.md). A linear model on hashed character
n-grams is what fastText's supervised mode is without the hidden layer, trains in seconds on 10k documents,
and needs nothing but numpy.

The model is two files: MODEL.npz (weights `w` float32 of size `buckets`, bias `b`) and MODEL.json
(n-gram configuration, training files with fingerprints, held-out metrics, date). `train_quality` is the
logic behind `jingxuan train-quality`; `QualityClassifier` (`quality_classifier`) scores `_quality`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import xxhash
from pydantic import Field

from stages.base import Filter
from stages.charclass import DIGIT, SPACE
from stages.chinese import string_array
from stages.core.atomic import atomic_path
from stages.ngram_hash import doc_ngram_hashes, mix
from stages.quality._codepoints import codepoints
from stages.quality._rules import below, first_reason, signal, with_signals

FORMAT = "jingxuan-quality-linear/1"


# -- features ------------------------------------------------------------------------------------------


def ngram_features(
    texts: pa.Array | list[str], ngram: tuple[int, int] = (1, 3), buckets: int = 1 << 20, max_chars: int = 3000
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR rows (indptr, indices, values) of L2-normalised log-count features of hashed character n-grams.

    Text is lower-cased, whitespace removed, every decimal digit mapped to 0, and cut to `max_chars`
    characters (a document's style shows in its first pages; this bounds the cost of giant ones)."""
    if buckets & (buckets - 1):
        raise ValueError(f"buckets must be a power of two, got {buckets}")
    arr = texts if isinstance(texts, pa.Array | pa.ChunkedArray) else pa.array(texts, pa.string())
    arr = pc.utf8_slice_codeunits(pc.utf8_lower(string_array(arr)), 0, max_chars)
    cp = codepoints(arr)
    keep = (cp.classes & SPACE) == 0
    chars = np.where((cp.classes & DIGIT) != 0, ord("0"), cp.cps)[keep]
    lengths = cp.per_doc_sum(keep)
    n_docs = cp.n_docs
    starts = np.concatenate(([0], np.cumsum(lengths)))
    doc = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
    remaining = lengths[doc] - (np.arange(len(chars), dtype=np.int64) - starts[doc])
    keys = []
    mask = np.uint64(buckets - 1)
    for _, idx, hashes in doc_ngram_hashes(chars, remaining, list(range(ngram[0], ngram[1] + 1))):
        keys.append((doc[idx].astype(np.uint64) << np.uint64(32)) | (mix(hashes) & mask))
    allkeys = np.concatenate(keys) if keys else np.zeros(0, np.uint64)
    uniq, counts = np.unique(allkeys, return_counts=True)
    rows = (uniq >> np.uint64(32)).astype(np.int64)
    indices = (uniq & mask).astype(np.int64)
    values = 1.0 + np.log(counts.astype(np.float64))
    norms = np.sqrt(np.bincount(rows, weights=values * values, minlength=n_docs))
    values = values / np.maximum(norms[rows], 1e-12)
    indptr = np.concatenate(([0], np.cumsum(np.bincount(rows, minlength=n_docs))))
    return indptr, indices, values.astype(np.float32)


def _scores(indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    prod = np.concatenate(([0.0], np.cumsum(values.astype(np.float64) * w[indices])))
    z = prod[indptr[1:]] - prod[indptr[:-1]] + b
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


# -- training ------------------------------------------------------------------------------------------


def read_texts(path: str, text_field: str = "text", max_docs: int | None = None) -> list[str]:
    """Texts of a .jsonl (one JSON object per line), .parquet or .txt (one document per line) file."""
    texts: list[str] = []
    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        texts = [t for t in pq.read_table(path, columns=[text_field]).column(text_field).to_pylist() if t]
    elif path.endswith(".txt"):
        with open(path, encoding="utf-8") as f:
            texts = [s for line in f if (s := line.strip())]
    else:
        with open(path, "rb") as f:
            for i, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    value = orjson.loads(line)[text_field]
                except (orjson.JSONDecodeError, KeyError, TypeError) as e:
                    raise ValueError(f"{path}:{i}: cannot read `{text_field}` ({e})") from None
                if isinstance(value, str) and value:
                    texts.append(value)
    return texts[:max_docs] if max_docs else texts


def _fingerprint(path: str) -> dict[str, Any]:
    h = xxhash.xxh64()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return {"path": os.path.abspath(path), "bytes": os.path.getsize(path), "xxh64": h.hexdigest()}


def is_holdout(text: str, fraction: float) -> bool:
    """A fixed, content-based split: the same document is always on the same side."""
    return xxhash.xxh64_intdigest(text.encode("utf-8")) % 10_000 < fraction * 10_000


def evaluate(scores: np.ndarray, labels: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    pred = scores >= threshold
    tp = int((pred & (labels == 1)).sum())
    fp = int((pred & (labels == 0)).sum())
    fn = int((~pred & (labels == 1)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    # ROC AUC from ranks (ties averaged)
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    _, inv, cnt = np.unique(scores, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, weights=ranks)
    ranks = (sums / cnt)[inv]
    n_pos, n_neg = int((labels == 1).sum()), int((labels == 0).sum())
    auc = (ranks[labels == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg) if n_pos and n_neg else float("nan")
    return {
        "threshold": threshold,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "accuracy": round(float((pred == (labels == 1)).mean()) if len(labels) else 0.0, 4),
        "auc": round(float(auc), 4),
        "positives": n_pos,
        "negatives": n_neg,
    }


def fit_logistic(
    indptr: np.ndarray,
    indices: np.ndarray,
    values: np.ndarray,
    labels: np.ndarray,
    dim: int,
    epochs: int = 5,
    lr: float = 0.5,
    l2: float = 1e-6,
    seed: int = 0,
    sample_weight: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """Logistic regression by AdaGrad SGD over sparse rows; `sample_weight` defaults to balanced classes."""
    rng = np.random.default_rng(seed)
    w = np.zeros(dim, dtype=np.float64)
    g2 = np.full(dim, 1e-8)
    b, gb2 = 0.0, 1e-8
    if sample_weight is None:
        sample_weight = balanced_weights(labels.astype(int))
    for _ in range(epochs):
        for i in rng.permutation(len(labels)):
            s, e = indptr[i], indptr[i + 1]
            idx, v = indices[s:e], values[s:e]
            z = float(v @ w[idx]) + b
            p = 1.0 / (1.0 + np.exp(-max(min(z, 30.0), -30.0)))
            g = (p - labels[i]) * sample_weight[i]
            grad = g * v + l2 * w[idx]
            g2[idx] += grad * grad
            w[idx] -= lr * grad / np.sqrt(g2[idx])
            gb2 += g * g
            b -= lr * g / np.sqrt(gb2)
    return w.astype(np.float32), b


def balanced_weights(groups: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """Weights giving each class half the total, and within a class each group (source file) an equal share."""
    labels = groups if labels is None else labels
    w = np.zeros(len(groups))
    classes = np.unique(labels)
    for c in classes:
        in_class = labels == c
        members = np.unique(groups[in_class])
        for g in members:
            sel = in_class & (groups == g)
            w[sel] = len(groups) / (len(classes) * len(members) * sel.sum())
    return w


def train_quality(
    positive: list[str],
    negative: list[str],
    output: str,
    holdout: float = 0.2,
    ngram: tuple[int, int] = (1, 3),
    buckets: int = 1 << 20,
    max_chars: int = 3000,
    epochs: int = 5,
    lr: float = 0.5,
    seed: int = 0,
    text_field: str = "text",
    max_docs_per_file: int | None = None,
    balance_files: bool = False,
) -> dict[str, Any]:
    """Train the quality classifier: `positive`/`negative` are .jsonl/.parquet/.txt files of documents.

    A content-hash split keeps `holdout` of the documents out of training; the returned metrics
    (precision/recall/F1/AUC of the positive class at 0.5) are measured on them. Writes OUTPUT (.npz) and
    OUTPUT with .json (metadata). Returns the metadata dict."""
    if not positive or not negative:
        raise ValueError("train-quality needs at least one --positive and one --negative file")
    docs: list[tuple[str, int, bool, int]] = []
    files = [(path, 1) for path in positive] + [(path, 0) for path in negative]
    for group, (path, label) in enumerate(files):
        texts = read_texts(path, text_field, max_docs_per_file)
        if not texts:
            raise ValueError(f"{path}: no documents with a non-empty `{text_field}`")
        docs += [(t, label, is_holdout(t, holdout), group) for t in texts]
    train = [(t, y, g) for t, y, h, g in docs if not h]
    test = [(t, y) for t, y, h, _ in docs if h]
    if not train or len({y for _, y, _ in train}) < 2:
        raise ValueError("training split needs documents of both classes; add documents or lower --holdout")
    x = ngram_features([t for t, _, _ in train], ngram, buckets, max_chars)
    y = np.array([lab for _, lab, _ in train], dtype=np.float64)
    # each file weighs the same within its class, so one big file does not define "good" or "bad" alone
    weights = balanced_weights(np.array([g for _, _, g in train]), y.astype(int)) if balance_files else None
    w, b = fit_logistic(*x, y, dim=buckets, epochs=epochs, lr=lr, seed=seed, sample_weight=weights)
    metrics: dict[str, Any] = {"train": evaluate(_scores(*x, w, b), y.astype(int))}
    if test:
        xt = ngram_features([t for t, _ in test], ngram, buckets, max_chars)
        metrics["holdout"] = evaluate(_scores(*xt, w, b), np.array([lab for _, lab in test]))
    meta = {
        "format": FORMAT,
        "ngram": list(ngram),
        "buckets": buckets,
        "max_chars": max_chars,
        "features": "lower-cased, whitespace removed, digits -> 0; log(1+count) L2-normalised; splitmix64 hashes",
        "training": {
            "epochs": epochs,
            "lr": lr,
            "seed": seed,
            "holdout": holdout,
            "optimizer": "adagrad-sgd",
            "balance_files": balance_files,
        },
        "positive": [_fingerprint(p) for p in positive],
        "negative": [_fingerprint(p) for p in negative],
        "docs": {"train": len(train), "holdout": len(test)},
        "metrics": metrics,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    out = Path(output)
    with atomic_path(str(out)) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, w=w, b=np.array([b], dtype=np.float32))
    meta_path(out).write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return meta


def meta_path(model: str | Path) -> Path:
    return Path(model).with_suffix(".json")


# -- the stage -----------------------------------------------------------------------------------------


class QualityClassifier(Filter):
    """Scores each document with a model from `train_quality` into `_quality` (probability of the positive,
    "good" class) and drops documents below `threshold` (0.5: the decision boundary of a class-balanced
    logistic model; raise it to keep fewer, more reference-like documents)."""

    name: ClassVar[str] = "quality_classifier"
    thresholds: ClassVar[dict[str, tuple[str, ...]]] = {"_quality": ("min:threshold",)}
    adds: ClassVar[tuple[str, ...]] = ("_quality",)
    reason: ClassVar[str] = "low_quality"

    model: str = Field(description="path of MODEL.npz written by `jingxuan train-quality` (MODEL.json beside it)")
    threshold: float = Field(0.5, ge=0, le=1)

    def setup(self) -> None:
        path = Path(self.model)
        if not path.is_file():
            raise FileNotFoundError(f"quality_classifier.model: {path} not found (train one: jingxuan train-quality)")
        meta = json.loads(meta_path(path).read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            raise ValueError(f"quality_classifier.model: {meta_path(path)} is not a {FORMAT} model")
        with np.load(path) as z:
            w, b = z["w"], float(z["b"][0])
        if len(w) != meta["buckets"]:
            raise ValueError(f"quality_classifier.model: {path} has {len(w)} weights, metadata says {meta['buckets']}")
        object.__setattr__(self, "_w", w)
        object.__setattr__(self, "_b", b)
        object.__setattr__(self, "_meta", meta)

    def annotate(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        self.ensure_setup()
        meta = self._meta
        x = ngram_features(batch.column("text"), tuple(meta["ngram"]), meta["buckets"], meta["max_chars"])
        return with_signals(batch, {"_quality": _scores(*x, self._w, self._b)})

    def reasons(self, batch: pa.RecordBatch) -> pa.Array:
        return first_reason(batch.num_rows, [(below(signal(batch, "_quality"), self.threshold), self.reason)])
