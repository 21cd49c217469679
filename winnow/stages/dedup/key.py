"""``key_dedup``: exact dedup on a field (a URL, a source id), as datatrove's and dolma's
dedup by key: the first document in input order with a key stays, later ones go as
``key_duplicate`` with ``duplicate_of`` naming it. A document without the field is no one's
duplicate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import pyarrow as pa

from winnow.fields import MISSING, field_values
from winnow.stages.base import CorpusStage, RunContext, ShardColumns, register
from winnow.stages.dedup.first_occurrence import first_occurrence
from winnow.stages.dedup.reference import ReferenceParams, with_reference
from winnow.text.urls import normalize_url
from winnow.text.utf8 import hash128


class KeyDedupParams(ReferenceParams):
    field: str
    """A field path (``meta.url``, a column such as ``source``)."""
    normalize: Literal["none", "url"] = "none"
    """``url``: compare URLs without scheme, ``www.``, default port, host case (IDN as
    punycode), trailing slash, fragment, ``utm_*`` parameters and query order."""


@register
class KeyDedup(CorpusStage):
    """Drop documents whose key (a field, maybe a normalised URL) an earlier one had."""

    name = "key_dedup"
    ParamsModel = KeyDedupParams
    summary = "drop repeats of a field's value (normalize: url for URL variants)"
    origin = "datatrove / dolma dedup by key (URL); URL normalisation after RFC 3986"
    signature_columns = ("_key_hi", "_key_lo", "_key_present")
    index_params = ("field", "normalize")
    index_text = False
    reads = ("reference",)

    @classmethod
    def examples(cls, files) -> list[dict]:
        return [{"field": "chat_format"}]

    def map(self, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        keys, present = [], []
        for value in field_values(batch, self.params.field):
            present.append(int(value is not MISSING))  # no field: no one's duplicate
            if value is MISSING:
                keys.append("")
            elif self.params.normalize == "url":
                keys.append("u" + normalize_url(str(value)))
            else:
                keys.append("v" + (value if isinstance(value, str) else repr(value)))
        hi, lo = hash128(pa.array(keys, pa.large_string()))
        return {"_key_hi": pa.array(hi), "_key_lo": pa.array(lo),
                "_key_present": pa.array(present, pa.int8())}  # fmt: skip

    def reduce(self, shards: Sequence[ShardColumns], run: RunContext) -> list[pa.Table]:
        def decide(every: list[ShardColumns], fixed: int) -> list[pa.Table]:
            return first_occurrence(run, every, "_key_hi", "_key_lo", "key_duplicate",
                                    present="_key_present")  # fmt: skip

        return with_reference(self, shards, run, decide)
