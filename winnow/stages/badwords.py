"""Bad-word stages on the LDNOOBW lists shipped in ``winnow/data/ldnoobw`` (CC BY 4.0).

``c4_badwords`` drops a document holding any listed word or phrase (C4, Raffel et al. 2020),
with datatrove's matching (``C4BadWordsFilter``): lower-cased text; a match must be flanked by
non-word characters, except in Japanese, Thai and Chinese, which have no spaces; datatrove's
allowlist ("sm", "グロ", "女の子", "性": common inside ordinary words) is removed from every
list. ``toxicity`` keeps documents whose share of flagged words stays under a threshold
(the flagged-words ratio of ROOTS / BLOOM, Laurençon et al. 2022, as data-juicer applies it).

The language of a row is its ``lang`` column (from ``langid``) when present, else
``default_language``; languages without a list pass untouched. RE2 runs over all rows of a
language at once.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash
from pydantic import Field

from winnow.stages.base import Params, RowResult, RowStage, register
from winnow.stages.textops import word_counts
from winnow.text.words import data_text

UNSPACED = ("ja", "th", "zh")
ALLOWLIST = {"sm", "グロ", "女の子", "性"}
_WORD = r"\p{L}\p{N}_"


@cache
def badwords(lang: str) -> tuple[str, ...] | None:
    """The LDNOOBW list for a language (sorted, allowlist removed), or None."""
    try:
        text = data_text(f"ldnoobw/{lang}.txt")
    except FileNotFoundError:
        return None
    return tuple(sorted({w.strip().lower() for w in text.splitlines() if w.strip()} - ALLOWLIST))


def _escape(word: str) -> str:
    """Escape ASCII punctuation only (RE2 rejects escaped letters and non-ASCII)."""
    return "".join(
        "\\" + ch if ch.isascii() and not ch.isalnum() and ch != " " else ch for ch in word
    )


@cache
def pattern(lang: str) -> str | None:
    words = badwords(lang)
    if not words:
        return None
    alternatives = "|".join(_escape(w) for w in sorted(words, key=len, reverse=True))
    if lang in UNSPACED:
        return f"(?:{alternatives})"
    return f"(?:^|[^{_WORD}])(?:{alternatives})(?:[^{_WORD}]|$)"


def _languages(batch: pa.RecordBatch, default: str) -> pa.Array:
    if "lang" in batch.schema.names:
        return pc.fill_null(batch.column("lang"), default)
    return pa.array([default] * batch.num_rows, pa.string())


def _per_language(batch: pa.RecordBatch, default: str, fn) -> None:
    """Call ``fn(lang, row_indices, lower-cased texts)`` for each language with a list."""
    langs = _languages(batch, default)
    lower = pc.utf8_lower(batch.column("text"))
    for lang in pc.unique(langs).to_pylist():
        if pattern(lang) is None:
            continue
        rows = pc.indices_nonzero(pc.equal(langs, lang))
        fn(lang, rows.to_numpy(), lower.take(rows))


class C4BadwordsParams(Params):
    default_language: str = "en"
    keep_fraction: float = Field(0.0, ge=0, le=1)
    """Share of matching documents kept anyway, chosen by a hash of id and seed."""
    seed: int = 0


@register
class C4Badwords(RowStage):
    """Drops documents containing a word from the LDNOOBW list of their language."""

    name = "c4_badwords"
    ParamsModel = C4BadwordsParams
    summary = "drop documents holding a LDNOOBW bad word (per language, via lang column)"
    origin = "C4 (Raffel et al. 2020) as datatrove C4BadWordsFilter; LDNOOBW lists (CC BY 4.0)"

    def process(self, batch: pa.RecordBatch) -> RowResult:
        p = self.params
        hit = np.zeros(batch.num_rows, dtype=bool)

        def mark(lang, rows, texts):
            hit[rows] = pc.fill_null(pc.match_substring_regex(texts, pattern(lang)), False)

        _per_language(batch, p.default_language, mark)
        if p.keep_fraction > 0 and hit.any():
            ids = batch.column("id").to_pylist()
            for i in np.flatnonzero(hit):
                draw = xxhash.xxh64_intdigest(f"{p.seed}:{ids[i]}".encode()) / 2**64
                hit[i] = draw >= p.keep_fraction
        reason = pa.array(np.where(hit, "document_removed_with_badwords", None), pa.string())
        return RowResult(batch=batch, reason=reason)


class ToxicityParams(Params):
    default_language: str = "en"
    max_ratio: float = Field(0.045, ge=0, le=1)
    """data-juicer's flagged_words_filter default (from ROOTS)."""


@register
class Toxicity(RowStage):
    """Adds ``flagged_ratio`` (flagged words / words); drops documents above ``max_ratio``."""

    name = "toxicity"
    ParamsModel = ToxicityParams
    summary = "flagged-word ratio from the LDNOOBW list of the document's language; threshold"
    origin = "flagged words ratio of ROOTS/BLOOM (Laurençon et al. 2022), data-juicer"

    def process(self, batch: pa.RecordBatch) -> RowResult:
        p = self.params
        flagged = np.zeros(batch.num_rows, dtype=np.float64)

        def count(lang, rows, texts):
            if lang not in UNSPACED:  # doubled separators: adjacent words each get a flank
                texts = pc.replace_substring_regex(texts, f"([^{_WORD}])", r"\1\1")
            n = pc.count_substring_regex(texts, pattern(lang)).to_numpy(zero_copy_only=False)
            if lang in UNSPACED:  # no words to divide by: characters / 2 as a word count
                words = pc.utf8_length(texts).to_numpy(zero_copy_only=False) / 2
            else:
                words = word_counts(texts)
            flagged[rows] = n / np.maximum(words, 1)

        _per_language(batch, p.default_language, count)
        reason = np.where(flagged > p.max_ratio, "too_many_flagged_words", None)
        batch = batch.append_column("flagged_ratio", pa.array(flagged))
        return RowResult(batch=batch, reason=pa.array(reason, pa.string()))
