"""An estimate of each document's length in model tokens, for mixing, packing and reports.

No tokenizer model is downloaded: the estimate is UTF-8 bytes divided by ``bytes_per_token``
(about 4 for English with GPT-style BPE vocabularies; CJK text, at 3 bytes per character and
about one token per character, is better served by ~3). Vectorised; drops nothing.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from winnow.stages.base import Params, RowResult, RowStage, register


class TokenCountParams(Params):
    bytes_per_token: float = Field(4.0, gt=0)


@register
class TokenCount(RowStage):
    """Adds ``token_estimate`` (int64)."""

    name = "token_count"
    ParamsModel = TokenCountParams
    summary = "token estimate per document (UTF-8 bytes / bytes_per_token)"
    origin = "the ~4 bytes per BPE token rule of thumb for English (GPT-2/3 vocabularies)"

    def process(self, batch: pa.RecordBatch) -> RowResult:
        nbytes = pc.binary_length(batch.column("text")).cast(pa.float64())
        tokens = pc.ceil(pc.divide(nbytes, self.params.bytes_per_token)).cast(pa.int64())
        return RowResult(batch=batch.append_column("token_estimate", tokens))
