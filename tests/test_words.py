"""The spaCy-English splitter's shortcut for plain chunks against its full algorithm."""

from __future__ import annotations

from tests.conftest import corpus_records
from winnow.text.words import EnglishWords


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
