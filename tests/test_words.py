"""The spaCy-English splitter: its shortcut for plain chunks against its full algorithm, its
suffix window and infix start characters against spaCy's single patterns, and all of it
against spaCy."""

from __future__ import annotations

import json
import random
import re

import pytest

from tests.conftest import corpus_records
from winnow.text.words import EnglishWords, data_text


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


def _one_pattern_splitter() -> EnglishWords:
    """The splitter with spaCy's suffix and infix rules as the single patterns spaCy
    compiles (no window, no start characters)."""
    words = EnglishWords()
    rules = json.loads(data_text("spacy_en_rules.json"))
    words._suffix = re.compile(rules["suffix"]).search
    words._infix_start = lambda chunk: True
    words._infixes = re.compile(rules["infix"]).finditer
    return words


def test_suffix_window_and_infix_starts_split_as_the_single_patterns():
    words, reference = EnglishWords(), _one_pattern_splitter()
    chunks = {c for name in ("abstracts", "copyright", "udhr")
              for r in corpus_records(name) for c in r["text"].split()}  # fmt: skip
    rng = random.Random(0)
    alphabet = list("a.Z9%km°F'\")…!?-—/:<>=+*^~,é😀°C$€_#@") + ["\\", "..", "'s"]
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
