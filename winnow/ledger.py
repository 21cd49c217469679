"""The ledger: one row per removed document (``id, source, stage, reason, duplicate_of,
cluster_size, reference_source, detail``; ``duplicate_of`` and ``cluster_size`` for
duplicates: the kept document and how many documents its group holds; ``reference_source``
for a duplicate of a reference corpus's document: the run folder or file that holds it;
``detail``, where set, what exactly is wrong, for example which turn of a chat record is
malformed)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from winnow.schema import LEDGER_SCHEMA


class Ledger:
    """Ledger rows collected in Arrow pieces; single rows (bad input) are buffered."""

    def __init__(self) -> None:
        self._pieces: list[pa.Table] = []
        self._rows: list[tuple] = []
        self._count = 0

    def add(
        self,
        doc_id: str,
        source: str,
        stage: str,
        reason: str,
        dup: str | None = None,
        detail: str | None = None,
    ) -> None:
        self._rows.append((doc_id, source, stage, reason, dup, None, None, detail))
        self._count += 1

    def add_dropped(
        self,
        batch: pa.RecordBatch,
        stage: str,
        dropped: pa.Array,
        reason: pa.Array,
        duplicate_of: pa.Array | None,
        cluster_size: pa.Array | None = None,
        reference_source: pa.Array | None = None,
        detail: pa.Array | None = None,
    ) -> None:
        """Record the rows of ``batch`` where ``dropped`` is true, vectorised."""
        n = int(pc.sum(dropped).as_py() or 0)
        if not n:
            return
        dup = (
            pc.filter(duplicate_of, dropped)
            if duplicate_of is not None
            else pa.nulls(n, pa.string())
        )
        self._pieces.append(
            pa.table(
                [
                    pc.filter(batch.column("id"), dropped),
                    pc.filter(batch.column("source"), dropped),
                    pa.array([stage] * n, pa.string()),
                    pc.filter(reason, dropped),
                    dup.cast(pa.string()),
                    pc.filter(cluster_size, dropped).cast(pa.int64())
                    if cluster_size is not None
                    else pa.nulls(n, pa.int64()),
                    pc.filter(reference_source, dropped).cast(pa.string())
                    if reference_source is not None
                    else pa.nulls(n, pa.string()),
                    pc.filter(detail, dropped).cast(pa.string())
                    if detail is not None
                    else pa.nulls(n, pa.string()),
                ],
                schema=LEDGER_SCHEMA,
            )
        )
        self._count += n

    def extend(self, other: Ledger) -> None:
        self._pieces += other._pieces
        self._rows += other._rows
        self._count += len(other)

    @property
    def reasons(self) -> list[str]:
        return [r[3] for r in self._rows] + [
            r for piece in self._pieces for r in piece.column("reason").to_pylist()
        ]

    def __len__(self) -> int:
        return self._count

    def table(self) -> pa.Table:
        rows = list(zip(*self._rows)) if self._rows else [[] for _ in LEDGER_SCHEMA]
        first = pa.table([pa.array(c, f.type) for c, f in zip(rows, LEDGER_SCHEMA)], LEDGER_SCHEMA)
        return pa.concat_tables([first, *self._pieces])
