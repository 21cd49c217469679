"""Registered stages. Built-in stages are known here by name and module; a module is
imported the first time its stage is asked for (``REGISTRY[name]``), so a run imports only
the stages its recipe names. Plugins register on import (``winnow.plugins``)."""

from winnow.stages.base import REGISTRY, CorpusStage, RowStage, Stage

BUILT_IN = {
    "annotate": "winnow.stages.llm.annotate",
    "c4_badwords": "winnow.stages.badwords",
    "c4_quality": "winnow.stages.quality.c4",
    "chat_quality": "winnow.stages.chat_quality",
    "decontaminate": "winnow.stages.decontaminate",
    "distil": "winnow.stages.llm.distil",
    "diversity": "winnow.stages.select.embedding",
    "dsir": "winnow.stages.select.dsir",
    "embedding_similarity": "winnow.stages.select.embedding",
    "exact_dedup": "winnow.stages.dedup.exact",
    "export": "winnow.stages.export",
    "field_filter": "winnow.stages.field_filter",
    "fineweb_quality": "winnow.stages.quality.fineweb",
    "generate": "winnow.stages.llm.generate",
    "gopher_quality": "winnow.stages.quality.gopher",
    "gopher_repetition": "winnow.stages.quality.gopher",
    "key_dedup": "winnow.stages.dedup.key",
    "langid": "winnow.stages.langid",
    "length_filter": "winnow.stages.length",
    "line_clean": "winnow.stages.line_clean",
    "line_dedup": "winnow.stages.dedup.spans",
    "lm_score": "winnow.stages.llm.lm_score",
    "minhash_dedup": "winnow.stages.dedup.minhash",
    "mix": "winnow.stages.mix",
    "normalize": "winnow.stages.normalize",
    "pack": "winnow.stages.pack",
    "paragraph_dedup": "winnow.stages.dedup.spans",
    "perplexity": "winnow.stages.select.perplexity",
    "perplexity_correlation": "winnow.stages.select.correlation",
    "pii": "winnow.stages.pii",
    "portrait": "winnow.stages.portrait",
    "preselect": "winnow.stages.select.correlation",
    "prox": "winnow.stages.llm.prox",
    "quality_classifier": "winnow.stages.select.classifier",
    "regex_filter": "winnow.stages.regex_filter",
    "rewrite": "winnow.stages.llm.rewrite",
    "sample": "winnow.stages.select.sample",
    "semantic_dedup": "winnow.stages.dedup.semantic",
    "substring_dedup": "winnow.stages.dedup.substring",
    "token_count": "winnow.stages.token_count",
    "tokenize": "winnow.stages.tokenize",
    "toxicity": "winnow.stages.badwords",
    "url_filter": "winnow.stages.url_filter",
}
"""Each built-in stage and the module whose import registers it (``tests/test_registry.py``
checks that the two agree)."""

REGISTRY.known(BUILT_IN)

__all__ = ["BUILT_IN", "REGISTRY", "CorpusStage", "RowStage", "Stage"]
