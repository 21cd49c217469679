"""Documents a stage makes (rewrites, generated records): each a new record with a derived,
stable id, ``source`` = ``generated:<stage>:<source id>``, and ``meta`` holding the source's
metadata plus ``synthetic_of`` (the source id) and ``generator`` (model, template, version).
An attempt that failed is a made record too, with its reason, so it lands in the ledger:
input + generated = output + ledger."""

from __future__ import annotations

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from winnow.schema import DOC_SCHEMA
from winnow.stages.base import RowResult, decision_rows, put_column
from winnow.stages.llm.requests import RequestStage

MADE_SCHEMA = pa.schema(
    [("row", pa.int64()), ("reason", pa.string()), ("detail", pa.string()), *DOC_SCHEMA]
)
"""A making stage's decisions on one shard: rows >= 0 decide on the shard's own documents
(a reason to drop one, as ``replace: true`` does); row -1 is a made document."""


def made_id(stage: str, source_id: str, n: int = 0) -> str:
    """The id of the ``n``-th document ``stage`` made from ``source_id`` (stable across
    runs)."""
    key = f"{stage}\x00{source_id}\x00{n}".encode("utf-8", "surrogatepass")
    return "g" + xxhash.xxh3_64_hexdigest(key)


def made_meta(source_meta: str | None, source_id: str, generator: dict) -> str:
    meta = orjson.loads(source_meta) if source_meta else {}
    if not isinstance(meta, dict):
        meta = {}
    meta["synthetic_of"] = source_id
    meta["generator"] = generator
    return orjson.dumps(meta).decode()


class Made:
    """Collects one shard's decisions and made documents, in order."""

    def __init__(self, stage: str, generator: dict) -> None:
        self.stage, self.generator = stage, generator
        self.rows: list[dict] = []

    def drop_source(self, row: int, reason: str, detail: str | None = None) -> None:
        self.rows.append({"row": row, "reason": reason, "detail": detail})

    def add(
        self,
        source: dict,
        n: int,
        text: str,
        messages: str | None = None,
        reason: str | None = None,
        detail: str | None = None,
    ) -> None:
        """A made document from ``source`` (its document columns); ``reason``: it failed."""
        self.rows.append(
            {
                "row": -1,
                "reason": reason,
                "detail": detail,
                "id": made_id(self.stage, source["id"], n),
                "text": text,
                "source": f"generated:{self.stage}:{source['id']}",
                "meta": made_meta(source.get("meta"), source["id"], self.generator),
                "messages": messages,
                "chat_format": "openai" if messages is not None else None,
            }
        )

    def table(self) -> pa.Table:
        ordered = sorted(self.rows, key=lambda r: r["row"] < 0)  # decisions first, stable
        return pa.Table.from_pylist(ordered, schema=MADE_SCHEMA)


def apply_made(
    batch: pa.RecordBatch, offset: int, decisions: pa.Table, flag: str | None
) -> RowResult:
    """Decisions on the shard's own documents (``flag``: the error column, null for them)."""
    if flag is not None:
        batch = put_column(batch, flag, pa.nulls(batch.num_rows, pa.string()))
    rows = decisions.column("row").to_numpy()
    idx = decision_rows(rows[rows >= 0], offset, batch.num_rows)  # decisions come first
    if idx is None:
        return RowResult(batch)
    reason = decisions.column("reason").take(idx).combine_chunks()
    return RowResult(
        batch, reason=reason, detail=decisions.column("detail").take(idx).combine_chunks()
    )


def made_documents(decisions: pa.Table, flag: str | None) -> RowResult | None:
    """The made documents of a shard, with the reason of those that failed (``flag``: kept
    instead, with the reason in that column)."""
    made = decisions.filter(pc.less(decisions.column("row"), 0))
    if not made.num_rows:
        return None
    batch = made.select([f.name for f in DOC_SCHEMA]).combine_chunks().to_batches()[0]
    reason = made.column("reason").combine_chunks()
    detail = made.column("detail").combine_chunks()
    if flag is not None:
        return RowResult(put_column(batch, flag, reason.cast(pa.string())))
    return RowResult(batch, reason=reason, detail=detail)


class MakingStage(RequestStage):
    """A request stage whose answers become new documents."""

    decision_schema = MADE_SCHEMA

    def generator(self) -> dict:
        t = self.template()
        return {"model": self.params.llm.model, "template": t.name, "version": t.version}

    @property
    def flag(self) -> str | None:
        return f"{self.name}_error" if self.params.on_failure == "flag" else None

    def apply(self, batch: pa.RecordBatch, offset: int, decisions: pa.Table) -> RowResult:
        return apply_made(batch, offset, decisions, self.flag)

    def generated(self, decisions: pa.Table) -> RowResult | None:
        return made_documents(decisions, self.flag)
