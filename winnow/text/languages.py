"""Word splitting per language, chosen as datatrove's ``load_word_tokenizer`` chooses it.

Scripts written with spaces between words use spaCy's rules (``winnow.text.words``; spaCy's
prefix/suffix/infix rules are shared by all its languages, only the exception lists
differ). Scripts without spaces need a dictionary segmenter, and the reference uses one per
language: jieba for Chinese, Sudachi (split mode A) for Japanese, PyThaiNLP (newmm-safe) for
Thai. They ship in the ``segmenters`` extra (``pip install winnow[segmenters]``); without it,
each character of an unspaced script counts as one word (a warning says so once).

``language="auto"`` picks per document: the ``lang`` column of an earlier ``langid`` stage
when there is one, otherwise the writing system (``script_language``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import cache, lru_cache
from typing import Protocol

import regex

from winnow.text.words import RecentTexts, english, sentence_count_of_tokens

log = logging.getLogger(__name__)

UNSPACED_SCRIPTS = {
    "Han": "zh",
    "Hiragana": "ja",
    "Katakana": "ja",
    "Thai": "th",
    "Lao": "lo",
    "Khmer": "km",
    "Myanmar": "my",
    "Tibetan": "bo",
}
"""Scripts that do not put spaces between words, and the language each suggests."""

UNSPACED_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "km", "my", "bo", "wuu", "yue"})
SHORT_WORD_LANGUAGES = UNSPACED_LANGUAGES | {"ko"}
"""Languages whose words are short by nature (Korean: 2.7 characters per spaCy token on the
UDHR), where English mean-word-length bounds do not apply."""

SCRIPT_LANGUAGES = {**UNSPACED_SCRIPTS, "Hangul": "ko"}
_SCRIPT_RUN = regex.compile("|".join(rf"(?P<{name}>\p{{{name}}}+)" for name in SCRIPT_LANGUAGES))
_LATIN_LETTERS = regex.compile(r"\p{Latin}+")
_NON_LATIN_LETTERS = regex.compile(r"[^\p{Latin}\P{L}]+")
_UNSPACED_CLASS = "".join(rf"\p{{{name}}}" for name in UNSPACED_SCRIPTS)
_GRAPHEMES = regex.compile(rf"[{_UNSPACED_CLASS}]\p{{M}}*|[^\s{_UNSPACED_CLASS}]+")


class Segmenter(Protocol):
    def words(self, text: str) -> Sequence[str]: ...

    def sentence_count(self, text: str) -> int: ...


def script_language(text: str, probe: int = 2000) -> str:
    """The language suggested by the writing system of the first ``probe`` characters:
    "en" (English rules, datatrove's default) when Latin letters are at least half of the
    letters, the language of a dominant unspaced script (kana anywhere → Japanese), "ko"
    for Hangul, and "und" (undetermined: spaced-script rules, no English stop words) for
    any other script."""
    return "en" if text.isascii() else _head_language(text[:probe])


@lru_cache(maxsize=8192)  # stages that run one after another ask about the same documents
def _head_language(head: str) -> str:
    other = sum(map(len, _NON_LATIN_LETTERS.findall(head)))
    if not other or sum(map(len, _LATIN_LETTERS.findall(head))) >= other:
        return "en"
    counts: dict[str, int] = {}
    for match in _SCRIPT_RUN.finditer(head):
        counts[match.lastgroup] = counts.get(match.lastgroup, 0) + len(match.group())
    if sum(counts.values()) * 2 < other:
        return "und"
    if counts.get("Hiragana") or counts.get("Katakana"):
        return "ja"
    return SCRIPT_LANGUAGES[max(counts, key=counts.__getitem__)]


class _Dictionary:
    """A dictionary segmenter: the non-blank tokens, as datatrove's ``strip_strings``. The
    words of the last 1,024 texts are remembered (``RecentTexts``): the quality filters, one
    after another on a batch, segment each document once."""

    def __init__(self, cut) -> None:
        self._cut = cut
        self._recent = RecentTexts(self._segment, 1024)

    def words(self, text: str) -> list[str]:
        """The words of ``text`` (the list is shared: do not modify)."""
        return self._recent(text)

    def _segment(self, text: str) -> list[str]:
        return [s for token in self._cut(text) if (s := token.strip())]

    def sentence_count(self, text: str) -> int:
        return sentence_count_of_tokens(self.words(text))


class _Graphemes(_Dictionary):
    """Fallback without a segmenter: each character of an unspaced script is a word."""

    def __init__(self) -> None:
        super().__init__(_GRAPHEMES.findall)


def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return lambda text: jieba.cut(text, cut_all=False)


def _sudachi():
    from sudachipy import Dictionary, SplitMode

    dictionary = Dictionary()
    make = getattr(dictionary, "tokenizer", None) or dictionary.create  # renamed in 0.7
    tokenizer = make(SplitMode.A)

    def cut(text: str) -> list[str]:
        out: list[str] = []
        for chunk in _byte_chunks(text, 40_000):  # Sudachi refuses inputs over 49,149 bytes
            out += (m.surface() for m in tokenizer.tokenize(chunk))
        return out

    return cut


def _pythainlp():
    from pythainlp.tokenize import word_tokenize

    return lambda text: word_tokenize(text, keep_whitespace=False, engine="newmm-safe")


_DICTIONARIES = {"zh": _jieba, "wuu": _jieba, "yue": _jieba, "ja": _sudachi, "th": _pythainlp}


def _byte_chunks(text: str, limit: int) -> list[str]:
    chunks, start = [], 0
    while start < len(text):
        end = start + limit // 4
        while end < len(text) and len(text[start : end + 256].encode()) <= limit:
            end += 256
        chunks.append(text[start:end])
        start = end
    return chunks


@cache
def segmenter(language: str) -> Segmenter:
    """The word splitter datatrove would use for ``language`` (an ISO 639-1 code)."""
    if language not in UNSPACED_LANGUAGES:
        return english()
    factory = _DICTIONARIES.get(language)
    if factory is not None:
        try:
            return _Dictionary(factory())
        except ImportError:
            log.warning(
                "no word segmenter for %r installed (pip install 'winnow[segmenters]'); "
                "counting one word per character",
                language,
            )
    return _Graphemes()


def row_languages(texts: Sequence[str], language: str, lang_column: Sequence | None) -> list[str]:
    """The language of each document: fixed, or (``auto``) from ``lang`` or the script."""
    if language != "auto":
        return [language] * len(texts)
    if lang_column is None:
        return [script_language(text) for text in texts]
    return [lang or script_language(text) for text, lang in zip(texts, lang_column)]
