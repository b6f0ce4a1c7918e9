"""The documents a proxy model trains on, and the orders it reads them in.

Held-out and training documents are chosen by a hash of the document id, before any ordering and
independently of the seed, so no order sees a held-out document and every order and seed trains on the same
multiset of documents: only the order differs. Texts are read only for the chosen documents, so a large run
directory costs one pass over `id` and text lengths, not its whole text in memory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from pipeline.proxy_eval.settings import ORDERS
from stages.core.atomic import read_json
from stages.core.shards import read_shard

DOC_SEP = 0  # byte that starts every document in the training stream (never in UTF-8 text from the pipeline)
_HASH_SPACE = float(2**53)  # the top 53 bits of a 64-bit hash: exact in a float64, always < 1


class ProxyEvalError(ValueError):
    """A user-fixable problem: no data/ folder, too few documents, torch missing."""


@dataclass(frozen=True)
class Corpus:
    """Every document of a run's data/ in training (file, row) order: id, UTF-8 length, location."""

    run_dir: str
    files: list[str]
    ids: list[str]
    nbytes: np.ndarray  # UTF-8 bytes of each text
    file_index: np.ndarray  # which file of `files`
    row: np.ndarray  # row inside that file

    def __len__(self) -> int:
        return len(self.ids)


def data_files(run_dir: str) -> list[str]:
    """data/ files in the order `datasets.load_from_disk` reads them (state.json), i.e. training order."""
    data = os.path.join(run_dir, "data")
    state = os.path.join(data, "state.json")
    if os.path.exists(state):
        names = [f["filename"] for f in read_json(state).get("_data_files", [])]
    else:
        names = sorted(f for f in os.listdir(data) if f.endswith(".arrow")) if os.path.isdir(data) else []
    if not names:
        raise ProxyEvalError(f"{data}: no curated data files; is {run_dir} a finished run directory?")
    return [os.path.join(data, n) for n in names]


def load_corpus(run_dir: str) -> Corpus:
    files = data_files(run_dir)
    ids: list[str] = []
    nbytes, file_index, row = [], [], []
    for i, path in enumerate(files):
        n = 0
        for batch in read_shard(path, columns=["id", "text"]):
            ids.extend(batch.column(0).to_pylist())
            nbytes.append(pc.binary_length(batch.column(1).cast(pa.binary())).fill_null(0).to_numpy())
            n += batch.num_rows
        file_index.append(np.full(n, i, dtype=np.int32))
        row.append(np.arange(n, dtype=np.int64))
    if not ids:
        raise ProxyEvalError(f"{run_dir}/data holds no documents")
    return Corpus(run_dir, files, ids, np.concatenate(nbytes), np.concatenate(file_index), np.concatenate(row))


def unit_hash(ids: list[str], salt: int) -> np.ndarray:
    """A uniform number in [0, 1) per id, stable across runs, machines and orders."""
    h = np.array([xxhash.xxh64_intdigest(i.encode("utf-8"), seed=salt) for i in ids], dtype=np.uint64)
    return (h >> np.uint64(11)).astype(np.float64) / _HASH_SPACE


@dataclass(frozen=True)
class Split:
    heldout: np.ndarray  # corpus positions of held-out documents (hash order)
    train: np.ndarray  # corpus positions of the training documents (curriculum order)
    train_pool: int  # training documents available before the budget cut
    train_pool_bytes: int


def split(corpus: Corpus, holdout: float, train_bytes: int) -> Split:
    """Held-out documents by id hash; then a uniform sample (another hash) of the rest up to `train_bytes`,
    returned in curriculum order. Neither depends on the seed or on the order evaluated."""
    if not 0 < holdout < 1:
        raise ProxyEvalError(f"--holdout must be between 0 and 1, not {holdout}")
    u = unit_hash(corpus.ids, salt=0)
    held = np.flatnonzero(u < holdout)
    pool = np.flatnonzero((u >= holdout) & (corpus.nbytes > 0))
    if len(held) == 0 or len(pool) < 2:
        raise ProxyEvalError(
            f"{corpus.run_dir}: {len(corpus)} documents are too few to hold out {holdout:.0%} and train on the rest"
        )
    held = held[np.argsort(u[held], kind="stable")]
    pick = pool[np.argsort(unit_hash([corpus.ids[i] for i in pool], salt=1), kind="stable")]
    sizes = corpus.nbytes[pick] + 1  # + the separator byte
    n = int(np.searchsorted(np.cumsum(sizes), train_bytes)) + 1
    train = np.sort(pick[: min(n, len(pick))])  # corpus position = curriculum order
    return Split(held, train, len(pool), int(corpus.nbytes[pool].sum() + len(pool)))


def order(train: np.ndarray, corpus: Corpus, name: str, seed: int) -> np.ndarray:
    """Training documents (corpus positions) in the named order. `shuffle` permutes them sorted by id, so
    two run directories holding the same documents in different orders get the same shuffle."""
    if name == "curriculum":
        return train
    if name == "reverse":
        return train[::-1]
    if name == "shuffle":
        by_id = train[np.argsort(np.array([corpus.ids[i] for i in train], dtype=object), kind="stable")]
        return by_id[np.random.default_rng(seed).permutation(len(by_id))]
    raise ProxyEvalError(f"unknown order {name!r}; choose from {', '.join(ORDERS)}")


def read_texts(corpus: Corpus, positions: np.ndarray) -> dict[int, bytes]:
    """UTF-8 bytes of the documents at `positions`, reading each data file once."""
    out: dict[int, bytes] = {}
    positions = np.unique(positions)
    for fi in np.unique(corpus.file_index[positions]):
        mine = positions[corpus.file_index[positions] == fi]
        rows = corpus.row[mine]  # ascending, as positions are
        offset = 0
        for batch in read_shard(corpus.files[fi], columns=["text"]):
            lo, hi = np.searchsorted(rows, [offset, offset + batch.num_rows])
            if hi > lo:
                texts = batch.column(0).take(pa.array(rows[lo:hi] - offset)).to_pylist()
                for pos, text in zip(mine[lo:hi].tolist(), texts, strict=True):
                    out[pos] = (text or "").encode("utf-8")
            offset += batch.num_rows
    return out


def byte_stream(texts: dict[int, bytes], positions: np.ndarray) -> np.ndarray:
    """The documents in the given order as one uint8 stream, each preceded by DOC_SEP."""
    sep = bytes([DOC_SEP])
    return np.frombuffer(b"".join(sep + texts[int(p)] for p in positions), dtype=np.uint8)
