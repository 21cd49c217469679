"""The engine's first step in every run: document ids must be unique across all inputs. It is
not a registered stage (a recipe cannot name it); its ledger rows and statistics carry the
name ``unique_ids``."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from winnow.schema import INVALID
from winnow.stages.base import CorpusStage, RunContext, ShardColumns
from winnow.stages.dedup.first_occurrence import first_occurrence
from winnow.text.utf8 import hash128


class IdCheck(CorpusStage):
    """A record whose id was already used is invalid input; the first record keeps the id."""

    name = "unique_ids"
    summary = "(the engine's first step) later records that reuse an id go to the ledger"
    origin = "winnow input contract: ids are keys of the ledger and of every attribute"
    signature_columns = ("_id_hi", "_id_lo")

    def map(self, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        hi, lo = hash128(batch.column("id"))
        return {"_id_hi": pa.array(hi), "_id_lo": pa.array(lo)}

    def reduce(self, shards: Sequence[ShardColumns], run: RunContext) -> list[pa.Table]:
        return first_occurrence(run, shards, "_id_hi", "_id_lo", f"{INVALID}:duplicate_id")
