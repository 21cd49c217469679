"""A row stage that judges one document at a time and records its statistics as columns."""

from __future__ import annotations

import json
from functools import cache
from typing import ClassVar

import pyarrow as pa

from winnow.stages.base import Params, RowResult, RowStage
from winnow.text.languages import row_languages
from winnow.text.words import data_text


class LanguageParams(Params):
    language: str = "auto"
    """ISO 639-1 code of the documents, or ``auto``: per document, the ``lang`` column of
    an earlier ``langid`` stage, else the writing system (see ``winnow.text.languages``)."""


def document_languages(batch: pa.RecordBatch, texts: list[str], language: str) -> list[str]:
    """The language whose word rules apply to each document of ``batch``."""
    index = batch.schema.get_field_index("lang")
    langs = None if index < 0 else batch.column(index).to_pylist()
    return row_languages(texts, language, langs)


class DocumentFilter(RowStage):
    """Subclasses implement ``judge(text, lang) -> (reason or None, stats)``; ``stats``
    holds the values named in ``stat_columns`` (data-juicer style: stats are kept apart from the
    decision so thresholds can be studied later)."""

    stat_columns: ClassVar[dict[str, pa.DataType]] = {}

    ParamsModel = LanguageParams

    def judge(self, text: str, lang: str) -> tuple[str | None, dict]:
        raise NotImplementedError

    def process(self, batch: pa.RecordBatch) -> RowResult:
        reasons: list[str | None] = []
        stats: dict[str, list] = {name: [] for name in self.stat_columns}
        texts = [text or "" for text in batch.column("text").to_pylist()]
        for text, lang in zip(texts, document_languages(batch, texts, self.params.language)):
            reason, values = self.judge(text, lang)
            reasons.append(reason)
            for name in self.stat_columns:
                stats[name].append(values.get(name))
        for name, dtype in self.stat_columns.items():
            batch = batch.append_column(name, pa.array(stats[name], dtype))
        reason = pa.array(reasons, pa.string())
        return RowResult(batch=batch, reason=reason)


@cache
def punctuation() -> tuple[frozenset[str], tuple[str, ...]]:
    """datatrove's ``PUNCTUATION_SET`` and ``TERMINAL_PUNCTUATION``."""
    data = json.loads(data_text("datatrove_punctuation.json"))
    return frozenset(data["punctuation"]), tuple(data["terminal_punctuation"])
