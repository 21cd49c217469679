"""What the quality filters share: the `language` parameter and datatrove's punctuation sets."""

from __future__ import annotations

import json
from functools import cache

import pyarrow as pa

from winnow.stages.base import Params
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


@cache
def punctuation() -> tuple[frozenset[str], tuple[str, ...]]:
    """datatrove's ``PUNCTUATION_SET`` and ``TERMINAL_PUNCTUATION``."""
    data = json.loads(data_text("datatrove_punctuation.json"))
    return frozenset(data["punctuation"]), tuple(data["terminal_punctuation"])
