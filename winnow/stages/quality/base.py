"""What the quality filters share: the `language` parameter and datatrove's punctuation sets."""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.stages.base import Params
from winnow.text.languages import row_languages
from winnow.text.ngrams import occurrences
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


def repeated_items(items: pa.Array, owner: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    """Per list ``0 .. n - 1`` of the strings ``items`` (item ``i`` in list ``owner[i]``, in
    order): its items, the items equal to an earlier item of the same list, and their
    characters (datatrove's ``find_duplicates``: first occurrences excluded)."""
    code = pc.dictionary_encode(items).indices.to_numpy(zero_copy_only=False)
    _, repeat = occurrences(code.astype(np.int64) * max(n, 1) + owner)
    chars = pc.utf8_length(items).to_numpy(zero_copy_only=False)
    return (
        np.bincount(owner, minlength=n),
        np.bincount(owner[repeat], minlength=n),
        np.bincount(owner[repeat], weights=chars[repeat], minlength=n).astype(np.int64),
    )


LINE_BREAK = r"\r\n|[\n\v\f\r\x1c-\x1e\x{85}\x{2028}\x{2029}]"
"""The line boundaries of ``str.splitlines`` (RE2 syntax; ``\r\n`` is one)."""
_OTHER_BREAKS = r"[\v\f\r\x1c-\x1e\x{85}\x{2028}\x{2029}]"


def split_lines(texts: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Every text's ``str.splitlines()`` back to back, and the text each line belongs to."""
    other_breaks = pc.any(pc.match_substring_regex(texts, _OTHER_BREAKS)).as_py()
    pieces, owner = split_items(texts, LINE_BREAK if other_breaks else "\n", regex=other_breaks)
    # splitlines gives no empty last line after a final break, and no line for ""
    final = pc.or_(pc.equal(texts, ""), pc.match_substring_regex(texts, f"(?:{LINE_BREAK})$"))
    last = np.cumsum(np.bincount(owner, minlength=len(texts))) - 1
    keep = np.ones(len(owner), dtype=bool)
    keep[last[final.to_numpy(zero_copy_only=False)]] = False
    return pieces.filter(pa.array(keep)), owner[keep]


def split_items(texts: pa.Array, pattern: str, regex: bool = False) -> tuple[pa.Array, np.ndarray]:
    """The pieces of every text split at ``pattern`` (as ``str.split``, or ``re.split``
    for a ``regex``) back to back, and the text each belongs to."""
    split = pc.split_pattern_regex if regex else pc.split_pattern
    lists = split(texts, pattern)
    owner = pc.list_parent_indices(lists).to_numpy().astype(np.int64)
    return pc.list_flatten(lists), owner
