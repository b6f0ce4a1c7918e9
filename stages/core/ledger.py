"""The rejected ledger: one schema for every row that leaves the run, whichever stage or reader dropped it."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

REJECTED_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("stage", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),  # e.g. the id a duplicate matched, the benchmark item, the bad JSON position
        ("text", pa.string()),
    ]
)


def rejected_batch(
    ids: pa.Array | Sequence[str],
    stage: str,
    reasons: pa.Array | Sequence[str],
    details: pa.Array | Sequence[str | None] | None = None,
    texts: pa.Array | Sequence[str | None] | None = None,
) -> pa.RecordBatch:
    """Build a ledger batch in the one schema every stage writes to `rejected/`."""
    n = len(ids)
    null = pa.nulls(n, pa.string())
    return pa.RecordBatch.from_arrays(
        [
            pa.array(ids, pa.string()),
            pa.array([stage] * n, pa.string()),
            pa.array(reasons, pa.string()),
            null if details is None else pa.array(details, pa.string()),
            null if texts is None else pa.array(texts, pa.string()),
        ],
        schema=REJECTED_SCHEMA,
    )
