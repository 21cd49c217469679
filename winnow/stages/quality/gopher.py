"""Gopher quality and repetition rules (Rae et al. 2021, "Scaling Language Models", App. A),
with datatrove's definitions and defaults (``GopherQualityFilter``, ``GopherRepetitionFilter``).

Words are split per document language (``winnow.text.languages``): spaCy's rules for
spaced scripts, exactly as datatrove's default English tokenizer; jieba, Sudachi and
PyThaiNLP for Chinese, Japanese and Thai, as datatrove's ``language=`` option does.

Deliberate differences from datatrove, for languages other than English (English decisions
are unchanged): the mean-word-length bounds are skipped for languages whose words are short
by nature (unspaced scripts and Korean: jieba's Chinese words average 1.7 characters, so
datatrove's default 3-10 drops every Chinese document), and in ``language: auto`` the
English stop-word rule applies to English documents only (datatrove applies it to all, so a
German document without "the" is dropped). And n-grams are compared as word sequences:
datatrove's duplicated-n-gram scan compares the words glued together, so "ab c" and "a bc"
count as the same 2-gram there (no document of the parity test is affected).
"""

from __future__ import annotations

from itertools import repeat

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from winnow.stages.base import RowResult, RowStage, register
from winnow.stages.quality.base import (
    LanguageParams,
    document_languages,
    punctuation,
    repeated_items,
    split_items,
    split_lines,
)
from winnow.text.char_kinds import TokenCodes
from winnow.text.languages import SHORT_WORD_LANGUAGES, segmenter
from winnow.text.ngrams import BatchNgrams
from winnow.text.token_ids import token_ids
from winnow.text.utf8 import PY_SPACE
from winnow.text.words import english

STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")


class GopherQualityParams(LanguageParams):
    min_doc_words: int | None = Field(50, ge=0)
    max_doc_words: int | None = Field(100_000, ge=1)
    min_avg_word_length: float | None = Field(3, ge=0)
    max_avg_word_length: float | None = Field(10, ge=0)
    max_symbol_word_ratio: float | None = Field(0.1, ge=0)
    max_bullet_lines_ratio: float | None = Field(0.9, ge=0, le=1)
    max_ellipsis_lines_ratio: float | None = Field(0.3, ge=0, le=1)
    max_non_alpha_words_ratio: float | None = Field(0.8, ge=0, le=1)
    """As datatrove names it: the minimum share of words holding a letter."""
    min_stop_words: int | None = Field(2, ge=0)
    stop_words: tuple[str, ...] = STOP_WORDS
    stop_words_language: str = "en"
    """With ``language: auto``, the stop-word rule applies to documents of this language."""


_KINDS: dict[str, tuple[bool, bool]] = {}


def _word_kind(word: str) -> tuple[bool, bool]:
    """(has a non-punctuation character, has a letter), remembered per word."""
    kind = _KINDS.get(word)
    if kind is None:
        if len(_KINDS) > 1 << 20:
            _KINDS.clear()
        punct = punctuation()[0]
        kind = _KINDS[word] = (
            any(ch not in punct for ch in word),
            any(ch.isalpha() for ch in word),
        )
    return kind


class _ChunkStats:
    """Word statistics of each whitespace chunk of the shared chunk table
    (``winnow.text.token_ids``): spaCy tokens, tokens holding a non-punctuation character,
    their characters, tokens holding a letter, and a bit per stop word present."""

    def __init__(self, stop_words: tuple[str, ...]) -> None:
        self.bits = {w: 1 << i for i, w in enumerate(sorted(set(stop_words)))}
        self.array = np.zeros((0, 5), dtype=np.int64)
        self.per_token = np.zeros((0, 5), dtype=np.int64)
        self.generation = -1

    def _token_stats(self, tokens: list[str]) -> np.ndarray:
        """``word_stats`` of each token alone (tokens x 5), its character tests over all the
        tokens at once (``winnow.text.char_kinds``)."""
        codes = TokenCodes(tokens)
        content = codes.any_outside(punctuation()[0])
        bits = np.fromiter(map(self.bits.get, tokens, repeat(0)), np.int64, len(tokens))
        columns = (np.ones(len(tokens), np.int64), content, np.where(content, codes.lengths, 0))
        return np.stack([*columns, codes.any_alpha(), bits], axis=1).astype(np.int64)

    def _extend(self, table) -> None:
        """Statistics of the chunks and tokens the table gained: each new token once, each
        new chunk as the sum of its tokens' (stop-word bits or-ed)."""
        if len(table.tokens) > len(self.per_token):
            fresh = self._token_stats(table.tokens[len(self.per_token) :])
            self.per_token = np.concatenate([self.per_token, fresh])
        ids, starts = table.chunk_tokens(len(self.array))
        if not len(starts):
            return
        stats = self.per_token[ids]
        sums = [np.add.reduceat(stats[:, col], starts) for col in range(4)]
        bits = np.bitwise_or.reduceat(stats[:, 4], starts)
        self.array = np.concatenate([self.array, np.stack([*sums, bits], axis=1)])

    def word_stats(self, tokens) -> tuple[int, int, int, int, int]:
        content = chars = alpha = bits = 0
        for token in tokens:
            has_content, has_alpha = _KINDS.get(token) or _word_kind(token)
            if has_content:
                content += 1
                chars += len(token)
            alpha += has_alpha
            bits |= self.bits.get(token, 0)
        return len(tokens), content, chars, alpha, bits

    def sums(self, texts: pa.Array) -> tuple[np.ndarray, ...]:
        """Per text: words, content words, content characters, alpha words, stop words."""
        table = token_ids()
        picked, per_doc = table.chunk_index(texts)
        if self.generation != table.generation:
            self.array, self.generation = np.zeros((0, 5), dtype=np.int64), table.generation
            self.per_token = np.zeros((0, 5), dtype=np.int64)
        self._extend(table)
        stats = self.array[picked]
        starts = np.minimum(per_doc[:-1], max(len(picked) - 1, 0))
        empty = per_doc[:-1] == per_doc[1:]
        if not len(picked):
            return tuple(np.zeros(len(texts), np.int64) for _ in range(5))
        out = [np.where(empty, 0, np.add.reduceat(stats[:, col], starts)) for col in range(4)]
        bits = np.where(empty, 0, np.bitwise_or.reduceat(stats[:, 4], starts))
        return (*out, np.bitwise_count(bits).astype(np.int64))


@register
class GopherQuality(RowStage):
    """Gopher's document-quality rules; reasons as datatrove names them."""

    name = "gopher_quality"
    ParamsModel = GopherQualityParams
    summary = (
        "word count, mean word length, #/ellipsis ratios, bullet/ellipsis lines, "
        "alpha words, stop words"
    )
    origin = "Gopher (Rae et al. 2021) via datatrove GopherQualityFilter, same defaults"

    def __init__(self, params=None) -> None:
        super().__init__(params)
        self._chunks = _ChunkStats(self.params.stop_words)

    def process(self, batch: pa.RecordBatch) -> RowResult:
        """Word statistics come from a table of whitespace chunks (each split into spaCy
        tokens once), gathered and summed per document with numpy."""
        texts = [t or "" for t in batch.column("text").to_pylist()]
        langs = document_languages(batch, texts, self.params.language)
        n_words, n_content, content_chars, n_alpha, stop_hits = self._chunks.sums(
            batch.column("text")
        )
        for i, (text, lang) in enumerate(zip(texts, langs)):
            words = segmenter(lang)
            if words is not english():  # a dictionary segmenter: count its words
                w, c, chars, a, bits = self._chunks.word_stats(words.words(text))
                n_words[i], n_content[i], content_chars[i], n_alpha[i] = w, c, chars, a
                stop_hits[i] = bits.bit_count()
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_len = content_chars / n_content
            alpha_ratio = np.where(n_words > 0, n_alpha / np.maximum(n_words, 1), 0.0)
        rows = zip(texts, langs, n_words, n_content, mean_len)
        reasons = [self._word_rules(t, lang, int(w), int(c), float(m)) for t, lang, w, c, m in rows]
        pending = [i for i, reason in enumerate(reasons) if reason is None]
        if pending:  # line counts only for the documents the word rules kept
            lines = line_counts(batch.column("text").take(pa.array(pending, pa.int64())))
            for i, n_lines, bullets, ending in zip(pending, *lines):
                reasons[i] = self._line_and_alpha_rules(
                    langs[i], int(n_words[i]), int(n_alpha[i]), int(stop_hits[i]),
                    (int(n_lines), int(bullets), int(ending)),
                )  # fmt: skip
        batch = batch.append_column("gopher_words", pa.array(n_content, pa.int64()))
        batch = batch.append_column("gopher_mean_word_length", pa.array(mean_len, pa.float64()))
        batch = batch.append_column("gopher_alpha_word_ratio", pa.array(alpha_ratio, pa.float64()))
        reason = pa.array(reasons, pa.string())
        return RowResult(batch=batch, reason=reason)

    def _word_rules(self, text, lang, n_words, n_content, mean_len) -> str | None:
        """The first word count, word length or symbol rule ``text`` breaks."""
        p = self.params
        word_length_rule = lang not in SHORT_WORD_LANGUAGES
        if p.min_doc_words and n_content < p.min_doc_words:
            return "gopher_short_doc"
        if p.max_doc_words and n_content > p.max_doc_words:
            return "gopher_long_doc"
        if word_length_rule and p.min_avg_word_length and mean_len < p.min_avg_word_length:
            return "gopher_below_avg_threshold"
        if word_length_rule and p.max_avg_word_length and mean_len > p.max_avg_word_length:
            return "gopher_above_avg_threshold"
        if not n_words:
            return "gopher_short_doc"
        if p.max_symbol_word_ratio:
            if text.count("#") / n_words > p.max_symbol_word_ratio:
                return "gopher_too_many_hashes"
            if (text.count("...") + text.count("…")) / n_words > p.max_symbol_word_ratio:
                return "gopher_too_many_ellipsis"
        return None

    def _line_and_alpha_rules(self, lang, n_words, n_alpha, stop_hits, lines) -> str | None:
        """The first of the later rules a text that kept the word rules breaks, given
        ``lines``: (lines, bullet lines, lines ending in an ellipsis)."""
        p = self.params
        n_lines, bullets, ending = lines
        if n_lines and p.max_bullet_lines_ratio and bullets / n_lines > p.max_bullet_lines_ratio:
            return "gopher_too_many_bullets"
        if n_lines and p.max_ellipsis_lines_ratio and ending / n_lines > p.max_ellipsis_lines_ratio:
            return "gopher_too_many_end_ellipsis"
        if p.max_non_alpha_words_ratio and n_alpha / n_words < p.max_non_alpha_words_ratio:
            return "gopher_below_alpha_threshold"
        stop_word_rule = p.language != "auto" or lang == p.stop_words_language
        if stop_word_rule and p.min_stop_words and stop_hits < p.min_stop_words:
            return "gopher_enough_stop_words"
        return None


def line_counts(texts: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per text, as datatrove counts them over ``text.splitlines()``: lines, lines starting
    with a bullet (``•`` or ``-`` after leading whitespace) and lines ending in an ellipsis
    (``...`` or ``…`` before trailing whitespace); every text of the batch at once."""
    texts = pc.fill_null(texts, "")
    n = len(texts)
    lines, owner = split_lines(texts)
    bullet = pc.match_substring_regex(lines, f"^{PY_SPACE}*(?:•|-)")  # s.lstrip().startswith
    ellipsis = pc.match_substring_regex(lines, f"(?:\\.\\.\\.|…){PY_SPACE}*$")  # s.rstrip()...
    return (
        np.bincount(owner, minlength=n),
        np.bincount(owner, weights=bullet.to_numpy(False), minlength=n).astype(np.int64),
        np.bincount(owner, weights=ellipsis.to_numpy(False), minlength=n).astype(np.int64),
    )


class GopherRepetitionParams(LanguageParams):
    dup_line_frac: float | None = Field(0.3, ge=0, le=1)
    dup_para_frac: float | None = Field(0.3, ge=0, le=1)
    dup_line_char_frac: float | None = Field(0.2, ge=0, le=1)
    dup_para_char_frac: float | None = Field(0.2, ge=0, le=1)
    top_n_grams: tuple[tuple[int, float], ...] = ((2, 0.2), (3, 0.18), (4, 0.16))
    dup_n_grams: tuple[tuple[int, float], ...] = (
        (5, 0.15),
        (6, 0.14),
        (7, 0.13),
        (8, 0.12),
        (9, 0.11),
        (10, 0.10),
    )


_PARAS = r"\n{2,}"


def _newline_runs(texts: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """``re.split("\\n+", text)`` of every text, as ``split_items`` gives: a split at each
    newline, less the empty pieces between two newlines (a text's first and last pieces
    stay, empty or not). Five times faster than the regular expression."""
    pieces, owner = split_items(texts, "\n")
    if not len(owner):
        return pieces, owner
    empty = pc.equal(pc.binary_length(pieces), 0).to_numpy(zero_copy_only=False)
    edge = np.ones(len(owner), dtype=bool)  # first or last piece of its text
    edge[1:-1] = (owner[1:-1] != owner[:-2]) | (owner[1:-1] != owner[2:])
    keep = ~empty | edge
    return pieces.filter(pa.array(keep)), owner[keep]


@register
class GopherRepetition(RowStage):
    """Gopher's repetition rules; reasons as datatrove names them."""

    name = "gopher_repetition"
    ParamsModel = GopherRepetitionParams
    summary = (
        "duplicate lines/paragraphs (count and chars), top 2-4-gram and "
        "duplicated 5-10-gram character fractions"
    )
    origin = "Gopher (Rae et al. 2021, table A1) via datatrove GopherRepetitionFilter"

    def process(self, batch: pa.RecordBatch) -> RowResult:
        """Line and paragraph rules document by document; n-gram rules for the documents
        still undecided, over the whole batch at once (``winnow.text.ngrams``)."""
        texts = [text or "" for text in batch.column("text").to_pylist()]
        langs = document_languages(batch, texts, self.params.language)
        reasons, fractions = self._line_rules(batch.column("text"))
        spaced = np.array([segmenter(lang) is english() for lang in langs], dtype=bool)
        undecided = np.array([r is None for r in reasons], dtype=bool)
        if (undecided & spaced).any():  # all texts: the next stage may share the lookup
            encoded = token_ids().english(batch.column("text"))
            self._ngram_rules(encoded, list(range(len(texts))), undecided & spaced, texts, reasons)
        unspaced = np.nonzero(undecided & ~spaced)[0].tolist()
        if unspaced:
            words = [segmenter(langs[i]).words(texts[i]) for i in unspaced]
            encoded = token_ids().words(words)
            self._ngram_rules(encoded, unspaced, np.ones(len(unspaced), bool), texts, reasons)
        for name, column in fractions.items():
            batch = batch.append_column(name, column)
        return RowResult(batch=batch, reason=pa.array(reasons, pa.string()))

    def _line_rules(self, texts: pa.Array) -> tuple[list[str | None], dict[str, pa.Array]]:
        """Per text, the reason of the first line or paragraph rule it fails (``empty``
        without text); and the columns of duplicate line and paragraph fractions. Lines
        are split at runs of newlines, paragraphs at runs of two or more after stripping,
        as datatrove does; every text of the batch at once."""
        p = self.params
        texts = pc.fill_null(texts, "")
        length = pc.utf8_length(texts).to_numpy(zero_copy_only=False)
        size = np.maximum(length, 1)
        stripped = pc.utf8_trim_whitespace(texts)  # as str.strip (every code point checked)
        n = len(texts)
        paras, para_dups, para_chars = repeated_items(*split_items(stripped, _PARAS, True), n)
        lines, line_dups, line_chars = repeated_items(*_newline_runs(texts), n)
        line_frac, para_frac = line_dups / lines, para_dups / paras
        rules = (
            (p.dup_para_frac, para_frac, "dup_para_frac"),
            (p.dup_para_char_frac, para_chars / size, "dup_para_char_frac"),
            (p.dup_line_frac, line_frac, "dup_line_frac"),
            (p.dup_line_char_frac, line_chars / size, "dup_line_char_frac"),
        )
        reasons = np.full(n, None, dtype=object)
        for limit, value, reason in reversed(rules):  # the first rule broken names it
            if limit:
                reasons[value > limit] = reason
        empty = length == 0
        reasons[empty] = "empty"
        fractions = {
            "gopher_dup_line_frac": pa.array(line_frac, pa.float64(), mask=empty),
            "gopher_dup_para_frac": pa.array(para_frac, pa.float64(), mask=empty),
        }
        return reasons.tolist(), fractions

    def _ngram_rules(self, encoded, rows: list[int], open_, texts: list[str], reasons) -> None:
        """Top n-gram and duplicated n-gram rules, in datatrove's order, for the encoded
        documents (``rows`` of the batch) that are still ``open_``."""
        ngrams = BatchNgrams(encoded)
        sizes = np.array([max(len(texts[i]), 1) for i in rows], dtype=np.float64)
        open_ = open_.copy()
        p = self.params
        rules = [(n, frac, f"top_{n}_gram") for n, frac in sorted(p.top_n_grams)]
        rules += [(n, frac, f"duplicated_{n}_n_grams") for n, frac in sorted(p.dup_n_grams)]
        for n, frac, reason in rules:
            if not open_.any():
                break
            if reason.startswith("top"):
                chars, count = ngrams.top_gram_chars(n)
                fires = (count > 0) & (chars / sizes > frac)
            else:
                chars = ngrams.duplicate_chars(n, frac * sizes)
                fires = (chars >= 0) & (chars / sizes > frac)
            for k in np.nonzero(open_ & fires)[0]:
                reasons[rows[k]] = reason
            open_ &= ~fires
