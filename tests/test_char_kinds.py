"""Character tests over many tokens at once against the same tests token by token."""

from __future__ import annotations

from tests.conftest import corpus_records
from winnow.stages.quality.base import punctuation
from winnow.text.char_kinds import TokenCodes
from winnow.text.words import english


def test_token_tests_match_python_on_every_script():
    texts = [r["text"] for name in ("udhr", "abstracts", "copyright") for r in corpus_records(name)]
    tokens = sorted({t for text in texts for t in english().words(text)})
    tokens += ["", "😀", "a😀", "😀a", "𐄷.", "…", "...", "𝐀", "\U0002a700", "²", "_"]
    punct = punctuation()[0]
    codes = TokenCodes(tokens)
    assert codes.any_alpha().tolist() == [any(c.isalpha() for c in t) for t in tokens]
    assert codes.any_outside(punct).tolist() == [any(c not in punct for c in t) for t in tokens]
    assert TokenCodes([]).any_alpha().tolist() == []
    assert TokenCodes([""]).any_alpha().tolist() == [False]
