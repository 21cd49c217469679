"""Registered stages. Importing this package registers every built-in stage."""

from winnow.stages import (  # noqa: F401
    badwords,
    chat_quality,
    decontaminate,
    export,
    field_filter,
    langid,
    length,
    line_clean,
    mix,
    normalize,
    pack,
    pii,
    portrait,
    regex_filter,
    token_count,
    tokenize,
    url_filter,
)
from winnow.stages.base import REGISTRY, CorpusStage, RowStage, Stage
from winnow.stages.dedup import exact, key, minhash, semantic, spans, substring  # noqa: F401
from winnow.stages.llm import annotate, distil, generate, lm_score, prox, rewrite  # noqa: F401
from winnow.stages.quality import c4, fineweb, gopher  # noqa: F401
from winnow.stages.select import (  # noqa: F401
    classifier,
    correlation,
    dsir,
    embedding,
    perplexity,
    sample,
)

__all__ = ["REGISTRY", "CorpusStage", "RowStage", "Stage"]
