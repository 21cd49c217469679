"""The spaCy-English splitter: its shortcut for plain chunks against its full algorithm; its
suffix window, infix start characters and rules cut to ASCII or split at U+FFFF against
spaCy's single patterns; and all of it against spaCy."""

from __future__ import annotations

import json
import random
import re

import pytest

from tests.conftest import corpus_records
from winnow.text.words import EnglishWords, data_text, sentence_count_of_tokens


def test_plain_chunks_split_as_the_full_algorithm_splits_them():
    words = EnglishWords()
    chunks = {c for name in ("abstracts", "copyright", "manpages", "udhr")
              for r in corpus_records(name) for c in r["text"].split()}  # fmt: skip
    chunks |= {"dont", "Dont.", "can't,", "etc.", "Mr.", "U.S.", "A.", "º.", "ok!", "_x"}
    plain = {c: words._plain(c) for c in chunks}
    shortcut = {c: t for c, t in plain.items() if t is not None}
    assert len(shortcut) > 320_000  # the shortcut is the common case
    for chunk, tokens in shortcut.items():
        assert tokens == words._merge(words._split(chunk)), chunk


class _SinglePatterns:
    """spaCy's affix and URL rules as the single patterns spaCy compiles: no suffix window,
    no infix start characters, the character classes as exported."""

    def __init__(self, rules: dict) -> None:
        self.prefix = re.compile(rules["prefix"]).search
        self.suffix = re.compile(rules["suffix"]).search
        self.infixes = re.compile(rules["infix"]).finditer
        self.url = re.compile(rules["url"]).match

    def infix_start(self, chunk: str) -> bool:
        return True


def _one_pattern_splitter() -> EnglishWords:
    words = EnglishWords()
    words._ascii = words._unicode = _SinglePatterns(json.loads(data_text("spacy_en_rules.json")))
    return words


def test_fast_rule_forms_split_as_the_single_patterns():
    words, reference = EnglishWords(), _one_pattern_splitter()
    chunks = {c for name in ("abstracts", "copyright", "udhr")
              for r in corpus_records(name) for c in r["text"].split()}  # fmt: skip
    rng = random.Random(0)
    alphabet = list("a.Z9%km°F'\")…!?-—/:<>=+*^~,é😀°C$€_#@") + ["\\", "..", "'s"]
    alphabet += ["\U0001d300", "\U00010137", "\U0001f6d5", "\U0002a700"]  # beyond U+FFFF
    alphabet += ["5", "5", "US$", "km/h", "km²", "мбар", "اكواب"]  # units up to 5 characters
    chunks |= {"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 14)))
               for _ in range(30_000)}  # fmt: skip
    full = [c for c in sorted(chunks) if words._plain(c) is None]
    assert len(full) > 60_000
    for chunk in full:
        assert words._split(chunk) == reference._split(chunk), chunk


def test_the_splitter_splits_as_spacy():
    spacy = pytest.importorskip("spacy")  # the test extra has it
    tokenizer = spacy.blank("en").tokenizer
    words = EnglishWords()
    chunks = sorted({c for r in corpus_records("copyright") for c in r["text"].split()})
    for chunk in chunks[::4]:
        assert list(words.tokens_of_chunk(chunk)) == [t.text for t in tokenizer(chunk)], chunk


def _sentencizer_tokens(words: EnglishWords, text: str) -> list[str]:
    """The tokens spaCy's sentencizer sees: the chunks' tokens, and whitespace beyond one
    space (a token there, not punctuation)."""
    tokens = []
    for part in re.findall(r"\s+|\S+", text):
        if part[0].isspace():
            tokens += [part[1:] if part[0] == " " else part] if part != " " else []
        else:
            tokens += words.tokens_of_chunk(part)
    return [t for t in tokens if t]


def test_sentences_counted_a_chunk_at_a_time_as_token_by_token():
    words = EnglishWords()
    lines = [line.strip() for r in corpus_records("abstracts", limit=400)
             for line in r["text"].splitlines()]  # fmt: skip
    lines += [line for r in corpus_records("manpages", limit=100)
              for line in r["text"].splitlines()]  # fmt: skip
    rng = random.Random(1)
    pieces = ["Yes.", "no", "!", "?!", "...", " ", "  ", "\t", "\u00a0", "e.g.", "U.S.", '."',
              "(1)", ":)", "'", "end.", "A", "\u3002", "\u2026"]  # fmt: skip
    lines += ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 10))) for _ in range(5000)]
    for line in lines:
        expected = sentence_count_of_tokens(_sentencizer_tokens(words, line), words.sentence_punct)
        assert words.sentence_count(line) == expected, repr(line)


def test_sentence_counts_are_spacy_sentencizer_counts():
    spacy = pytest.importorskip("spacy")  # the test extra has it
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    words = EnglishWords()
    lines = [line.strip() for r in corpus_records("abstracts", limit=150)
             for line in r["text"].splitlines() if line.strip()]  # fmt: skip
    lines += ["Hi.  There", "One. Two!\tThree?", "e.g. this. And that", ":) ok. fine"]
    for line in lines:
        assert words.sentence_count(line) == len(list(nlp(line).sents)), line
