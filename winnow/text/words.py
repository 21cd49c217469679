"""English word and sentence splitting that reproduces spaCy's blank English pipeline.

datatrove's Gopher, C4 and FineWeb filters count words with ``spacy.blank("en")`` and
sentences with its rule-based sentencizer; their decisions depend on exactly where
punctuation is split off. This module applies spaCy's own exported rules (prefixes,
suffixes, infixes, URL pattern, special cases; see ``scripts/export_spacy_rules.py``) with
spaCy's algorithm (``Tokenizer.explain``), so spaCy is not needed at run time.

Speed comes from the same trick spaCy uses: a whitespace-delimited chunk always splits the
same way, so each distinct chunk is tokenised once and then looked up in a cache.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from importlib import resources

_CACHE_LIMIT = 500_000
_PARTS = re.compile(r"\s+|\S+").findall
_ASCII_LOWER_END = re.compile(r"[A-Za-z]*[a-z]").fullmatch
_ASCII_HYPHENATED = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)+").fullmatch
_ASCII_UNDERSCORED = re.compile(r"[A-Za-z]+(?:_[A-Za-z]+)+").fullmatch
_OPENING = frozenset('("[')
_CLOSING = frozenset(')",;:!?]')


class RecentTexts:
    """``split(text)`` remembered for the last ``limit`` texts of at most ``max_chars``, so
    stages that run one after another on a batch split each document once (the list given
    back is shared: do not modify)."""

    def __init__(self, split: Callable[[str], list[str]], limit: int, max_chars: int = 100_000):
        self._split, self._limit, self._max_chars = split, limit, max_chars
        self._recent: dict[str, list[str]] = {}

    def __call__(self, text: str) -> list[str]:
        if len(text) > self._max_chars:
            return self._split(text)
        words = self._recent.get(text)
        if words is None:
            if len(self._recent) >= self._limit:
                del self._recent[next(iter(self._recent))]
            words = self._recent[text] = self._split(text)
        return words


class _Searches:
    """spaCy's affix and URL rules compiled from one exported form (``for_ascii`` or
    ``astral_guarded`` in ``spacy_en_rules.json``)."""

    def __init__(
        self, patterns: dict[str, str], suffix_width: int, suffix_ends: frozenset[str]
    ) -> None:
        self.prefix = re.compile(patterns["prefix"]).search
        self.suffix_window = re.compile(patterns["suffix_window"]).search
        self.suffix_width = suffix_width
        self.suffix_ends = suffix_ends
        self.suffix_long = re.compile(patterns["suffix_long"]).search
        self.infix_at = re.compile(patterns["infix"]).match
        starts = re.compile(patterns["infix_starts"])  # a chunk with none has no infix
        self.infix_start, self.infix_starts = starts.search, starts.finditer
        self.url = re.compile(patterns["url"]).match

    def suffix(self, chunk: str) -> re.Match | None:
        """spaCy's suffix search: the leftmost match of rules that all end at the end. A
        bounded rule can only start in the last ``suffix_window_width`` characters (its
        look-behind still sees the ones before); the unbounded ones search the whole. A
        chunk that ends with a character no rule ends with has none."""
        if chunk[-1:] not in self.suffix_ends:
            return None
        near = self.suffix_window(chunk, max(0, len(chunk) - self.suffix_width))
        far = self.suffix_long(chunk)
        if far is None or (near is not None and near.start() <= far.start()):
            return near
        return far

    def infixes(self, chunk: str) -> Iterator[re.Match]:
        """spaCy's infix ``finditer``: a match can only start at a character of
        ``infix_starts``, so only those places are tried (left to right, each search
        resuming where the last match ended, as ``finditer`` does)."""
        end = 0
        for start in self.infix_starts(chunk):
            at = start.start()
            if at >= end and (match := self.infix_at(chunk, at)) is not None:
                end = match.end()
                yield match


class EnglishWords:
    """``words(text)`` and ``sentence_count(text)`` as spaCy's blank English pipeline."""

    def __init__(self) -> None:
        rules = json.loads(
            resources.files("winnow.data").joinpath("spacy_en_rules.json").read_text("utf-8")
        )
        # spaCy's affix rules in two exported forms with the same matches: cut to ASCII for
        # ASCII chunks, and for any chunk with the classes' members beyond U+FFFF split off
        # (``scripts/export_spacy_rules.py``)
        width, ends = rules["suffix_window_width"], frozenset(rules["suffix_ends"])
        self._ascii = _Searches(rules["for_ascii"], width, ends)
        self._unicode = _Searches(rules["astral_guarded"], width, ends)
        self._special = {k: tuple(v) for k, v in rules["special_cases"].items()}
        self.sentence_punct = frozenset(rules["sentence_punct"])
        self._cache: dict[str, tuple[str, ...]] = {}
        self._transitions: dict[str, tuple[tuple[int, bool], tuple[int, bool], bool]] = {}
        self._recent = RecentTexts(self._words, 4096)
        # special cases that contain affixes (":)", "''") are matched after splitting, as
        # spaCy's special matcher does: token sequence as split without them → their tokens
        self._merges: dict[tuple[str, ...], tuple[str, ...]] = {}
        for orth, tokens in self._special.items():
            searches = self._searches(orth)
            if searches.prefix(orth) or searches.suffix(orth) or next(searches.infixes(orth), None):
                plain = tuple(self._split(orth, with_special=False))
                if plain != tokens:
                    self._merges[plain] = tokens
        self._merges_by_first: dict[str, list[tuple[tuple[str, ...], tuple[str, ...]]]] = {}
        for key in sorted(self._merges, key=len, reverse=True):
            self._merges_by_first.setdefault(key[0], []).append((key, self._merges[key]))

    def words(self, text: str) -> list[str]:
        """The non-whitespace tokens of ``text``, as datatrove's ``split_into_words``; the
        last 4,096 documents are remembered (``RecentTexts``: do not modify the list)."""
        return self._recent(text)

    def _words(self, text: str) -> list[str]:
        cache_, out = self._cache, []
        for chunk in text.split():
            tokens = cache_.get(chunk)
            out += tokens if tokens is not None else self._cached(chunk)
        return out

    def sentence_count(self, text: str) -> int:
        """Sentences found by spaCy's sentencizer (``sentence_count_of_tokens`` over the
        tokens of ``text``). Whitespace beyond a single space is a token there (and not
        punctuation), so it is kept here too. Each chunk's effect on the sentencizer's state
        is found once (``_transition``), so a text costs a step per chunk, not per token."""
        count, seen_end, any_token = 1, False, False
        transitions = self._transitions
        chunks = text.split()
        if " ".join(chunks) == text:  # single spaces alone: no whitespace token
            for chunk in chunks:
                step = transitions.get(chunk) or self._transition(chunk)
                added, seen_end = step[seen_end]
                count += added
                any_token = any_token or step[2]
            return count if any_token else 0
        for part in _PARTS(text):
            if part[0].isspace():
                if part[0] != " " or len(part) > 1:  # a token that is not punctuation
                    any_token = True
                    count, seen_end = count + seen_end, False
                continue
            step = transitions.get(part) or self._transition(part)
            added, seen_end = step[seen_end]
            count += added
            any_token = any_token or step[2]
        return count if any_token else 0

    def _transition(self, chunk: str) -> tuple[tuple[int, bool], tuple[int, bool], bool]:
        """What a chunk's tokens do to the sentencizer: (sentences started, sentence end
        pending) after it when none was pending before, the same when one was, and
        whether it has tokens."""
        tokens = self._cached(chunk)
        steps = []
        for seen_end in (False, True):
            added = 0
            for token in tokens:
                started, seen_end = sentencizer_step(token, seen_end, self.sentence_punct)
                added += started
            steps.append((added, seen_end))
        if len(self._transitions) > _CACHE_LIMIT:
            self._transitions.clear()
        step = self._transitions[chunk] = (steps[0], steps[1], bool(tokens))
        return step

    def tokens_of_chunk(self, chunk: str) -> tuple[str, ...]:
        """The tokens of one whitespace-free chunk (cached)."""
        tokens = self._cache.get(chunk)
        return tokens if tokens is not None else self._cached(chunk)

    def _cached(self, chunk: str) -> tuple[str, ...]:
        tokens = self._cache.get(chunk)
        if tokens is None:
            if len(self._cache) > _CACHE_LIMIT:
                self._cache.clear()
            tokens = self._plain(chunk)
            if tokens is None:
                tokens = self._merge(self._split(chunk))
            self._cache[chunk] = tokens
        return tokens

    def _plain(self, chunk: str) -> tuple[str, ...] | None:
        """The tokens of a plain chunk, without the rules' regular expressions: opening
        ``("[`` and closing ``)",;:!?]`` characters around a core of letters (no rule splits
        a letter run), of ASCII words joined by hyphens (split at each hyphen), of ASCII
        words joined by underscores (not split), or of ASCII letters and a period after a
        lower-case letter (spaCy's period suffix). None for any other chunk, or where a
        special case could apply on the way. Checked against the full algorithm on every
        distinct chunk of the shared corpora (``tests/test_words.py``)."""
        special = self._special
        opening: list[str] = []
        closing: list[str] = []
        core = chunk
        while True:
            if core in special:
                return self._merge(list(special[core])) if core == chunk else None
            if core[:1] and core[0] in _OPENING:
                opening.append(core[0])
                core = core[1:]
            elif core[-1:] and core[-1] in _CLOSING:
                closing.append(core[-1])
                core = core[:-1]
            else:
                break
        if core.isalpha():
            tokens = list(special.get(core, (core,)))
        elif _ASCII_HYPHENATED(core):
            tokens = [t for part in core.split("-") for t in (part, "-")][:-1]
        elif _ASCII_UNDERSCORED(core):
            tokens = [core]
        elif core[-1:] == "." and _ASCII_LOWER_END(core[:-1]):
            tokens = [*special.get(core[:-1], (core[:-1],)), "."]
        else:
            return None
        return self._merge(opening + tokens + closing[::-1])

    def _merge(self, tokens: list[str]) -> tuple[str, ...]:
        if len(tokens) < 2 or self._merges_by_first.keys().isdisjoint(tokens):
            return tuple(tokens)
        out, i, by_first = [], 0, self._merges_by_first
        while i < len(tokens):
            for key, merged in by_first.get(tokens[i], ()):  # longest first
                if tuple(tokens[i : i + len(key)]) == key:
                    out += merged
                    i += len(key)
                    break
            else:
                out.append(tokens[i])
                i += 1
        return tuple(out)

    def _searches(self, chunk: str) -> _Searches:
        return self._ascii if chunk.isascii() else self._unicode

    def _split(self, substring: str, with_special: bool = True) -> list[str]:
        """spaCy's ``Tokenizer.explain`` for one whitespace-free chunk."""
        special = self._special if with_special else {}
        searches = self._searches(substring)  # a part of an ASCII chunk is ASCII
        prefix_search, suffix_search = searches.prefix, searches.suffix
        tokens: list[str] = []
        suffixes: list[str] = []
        while substring:
            if substring in special:
                tokens += special[substring]
                substring = ""
                continue
            # each search runs once per state of ``substring`` (spaCy repeats them)
            prefix = prefix_search(substring)
            suffix = None if prefix else suffix_search(substring)
            while prefix or suffix:
                if substring in special:
                    tokens += special[substring]
                    substring = ""
                    break
                match = prefix
                if match:
                    split = match.end()
                    if split == 0:
                        break
                    tokens.append(substring[:split])
                    substring = substring[split:]
                    if substring in special:
                        prefix = prefix_search(substring)
                        suffix = None if prefix else suffix_search(substring)
                        continue
                    match = suffix_search(substring)
                else:
                    match = suffix
                if match:
                    split = match.start()
                    if split == len(substring):
                        break
                    suffixes.append(substring[split:])
                    substring = substring[:split]
                prefix = prefix_search(substring)
                suffix = None if prefix else suffix_search(substring)
            if not substring:
                continue
            if searches.url(substring):
                tokens.append(substring)
            elif substring in special:
                tokens += special[substring]
            elif not searches.infix_start(substring):  # no character an infix starts with
                tokens.append(substring)
            else:
                offset = 0
                for match in searches.infixes(substring):
                    if offset == 0 and match.start() == 0:
                        continue
                    if substring[offset : match.start()]:
                        tokens.append(substring[offset : match.start()])
                    if match.group():
                        tokens.append(match.group())
                    offset = match.end()
                if substring[offset:]:
                    tokens.append(substring[offset:])
            substring = ""
        tokens.extend(reversed(suffixes))
        return tokens


def sentence_count_of_tokens(tokens: Iterable[str], punct: frozenset[str] | None = None) -> int:
    """spaCy's sentencizer: a new sentence starts at the first token that is not
    punctuation after a sentence-final character (0 without tokens)."""
    punct = english().sentence_punct if punct is None else punct
    count, seen_end, any_token = 1, False, False
    for token in tokens:
        any_token = True
        added, seen_end = sentencizer_step(token, seen_end, punct)
        count += added
    return count if any_token else 0


def sentencizer_step(token: str, seen_end: bool, punct: frozenset[str]) -> tuple[int, bool]:
    """One token through spaCy's sentencizer: (sentences it starts, whether a sentence end
    is pending after it), given whether one was pending before."""
    in_punct = token in punct
    if seen_end and not in_punct and not is_punct(token):
        return 1, False
    return 0, seen_end or in_punct


@cache
def is_punct(token: str) -> bool:
    """spaCy's ``is_punct``: every character is Unicode punctuation (category P*)."""
    return all(unicodedata.category(ch).startswith("P") for ch in token)


def data_text(name: str) -> str:
    """A file shipped in ``winnow/data``."""
    return resources.files("winnow.data").joinpath(name).read_text("utf-8")


@cache
def english() -> EnglishWords:
    return EnglishWords()
