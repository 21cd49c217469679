"""Shared record iteration for the Arrow-native formats (Parquet, CSV, HF datasets)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pyarrow as pa


def iter_table_records(name: str, batches: Iterable[pa.RecordBatch], row: int = 0) -> Iterator:
    """Yield ``(record dict, "name:row")`` with 0-based row numbers across batches (the first
    is ``row``)."""
    for batch in batches:
        for record in batch.to_pylist():
            yield record, f"{name}:{row}"
            row += 1
