"""Export spaCy's English tokenizer and sentencizer rules to winnow/data (run by hand).

datatrove's Gopher, C4 and FineWeb filters count words and sentences with spaCy's blank
English pipeline. winnow reproduces that tokenisation without spaCy at run time by applying
the same rules (spaCy is MIT-licensed; the exported file keeps its notice):

    pip install spacy && python scripts/export_spacy_rules.py
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import spacy
from spacy.attrs import ORTH
from spacy.lang.en import English
from spacy.pipeline.sentencizer import Sentencizer

try:
    import re._parser as sre_parse  # Python 3.11+
except ImportError:  # pragma: no cover
    import sre_parse

OUT = Path(__file__).resolve().parents[1] / "winnow" / "data" / "spacy_en_rules.json"


def _suffix_pieces(pattern: str) -> list[str]:
    pieces = [p for p in English.Defaults.suffixes if p.strip()]
    assert "|".join(p + "$" for p in pieces) == pattern, "spaCy's suffix pieces changed"
    return pieces


def _infix_pieces(pattern: str) -> list[str]:
    pieces = [p for p in English.Defaults.infixes if p.strip()]
    assert "|".join(pieces) == pattern, "spaCy's infix pieces changed"
    return pieces


def suffix_parts(pattern: str) -> dict:
    """The suffix rules as two searches that find the same match: the pieces no longer than
    ``suffix_window_width`` characters (searched in the last that many characters of a
    chunk) and the unbounded ones (``\\.\\.+``, searched in the whole chunk)."""
    pieces = _suffix_pieces(pattern)
    widths = [sre_parse.parse(p).getwidth() for p in pieces]
    assert all(low > 0 for low, _ in widths), "a suffix that matches nothing"
    bounded = [w for _, w in widths if w < 100]
    return {
        "suffix_window": "|".join(p + "$" for p, (_, w) in zip(pieces, widths) if w < 100),
        "suffix_window_width": max(bounded),
        "suffix_long": "|".join(p + "$" for p, (_, w) in zip(pieces, widths) if w >= 100),
    }


def infix_starts(pattern: str) -> str:
    """A character class of every character an infix match can start with: a chunk without
    any has no infix."""
    return _class(sorted(_edge_ranges(_infix_pieces(pattern), last=False)))


def suffix_ends(pattern: str) -> str:
    """Every character a suffix match can end with, in order: a chunk that ends with none
    has no suffix (each rule is anchored at the end and matches a character)."""
    ranges = _edge_ranges(_suffix_pieces(pattern), last=True)
    return "".join(sorted({chr(c) for lo, hi in ranges for c in range(lo, hi + 1)}))


def _edge_ranges(pieces: list[str], last: bool) -> set[tuple[int, int]]:
    """Code point ranges a match of any piece can start (or, with ``last``, end) with."""
    ranges: set[tuple[int, int]] = set()
    for piece in pieces:
        parsed = sre_parse.parse(piece)
        assert parsed.getwidth()[0] > 0 and not parsed.state.flags & re.IGNORECASE
        ranges |= _edge_characters(parsed, last)
    return ranges


def _edge_characters(sub, last: bool) -> set[tuple[int, int]]:
    """Code point ranges a match of the parsed pattern ``sub`` can start (or end) with
    (assertions consume nothing); anything this does not follow fails the export."""
    for op, arg in reversed(sub.data) if last else sub.data:
        name = str(op)
        if name in ("ASSERT", "ASSERT_NOT", "AT"):
            continue
        if name == "LITERAL":
            return {(arg, arg)}
        if name == "IN":
            ranges = _class_ranges(arg)
            assert ranges is not None, piece_error(sub)
            return set(ranges)
        if name in ("MAX_REPEAT", "MIN_REPEAT"):
            assert arg[0] >= 1, piece_error(sub)
            return _edge_characters(arg[2], last)
        if name == "SUBPATTERN":
            return _edge_characters(arg[-1], last)
        if name == "BRANCH":
            return set().union(*(_edge_characters(b, last) for b in arg[1]))
        raise AssertionError(piece_error(sub))
    raise AssertionError(piece_error(sub))


def _class_ranges(items) -> list[tuple[int, int]] | None:
    """The code point ranges of a parsed character class of literals and ranges (None for
    one with anything else: a category, a negation)."""
    if any(str(o) not in ("LITERAL", "RANGE") for o, _ in items):
        return None
    return [(a, a) if str(o) == "LITERAL" else a for o, a in items]


def piece_error(sub) -> str:
    return f"a rule whose first or last character is not known: {sub}"


SEARCHES = ("prefix", "suffix_window", "suffix_long", "infix", "infix_starts", "url")
"""The patterns ``EnglishWords`` runs, each exported in two more forms (below)."""

_CLASS_OR_ESCAPE = re.compile(r"\\.|\[(?!\^)(?:\\.|[^\]\\])+\]", re.DOTALL)


def for_ascii(pattern: str) -> str:
    """The pattern for ASCII text only: each character class cut to its ASCII members (a
    class with none can never match), so Python's ``re`` tests a small bitmap instead of
    scanning hundreds of ranges. Exact on ASCII strings, as no rule ignores case."""
    assert not sre_parse.parse(pattern).state.flags & re.IGNORECASE

    def cut(ranges: list[tuple[int, int]]) -> str:
        kept = [(lo, min(hi, 0x7F)) for lo, hi in ranges if lo <= 0x7F]
        return _class(kept) if kept else "(?!)"

    return _rewrite_classes(pattern, cut)


def astral_guarded(pattern: str) -> str:
    """The same pattern with each character class that has members beyond U+FFFF split
    in two: Python's ``re`` tests the rest as a bitmap, but those members as a list of
    ranges scanned for every character; behind a one-range test they are scanned only for
    characters beyond U+FFFF."""

    def split(ranges: list[tuple[int, int]]) -> str:
        if all(hi <= 0xFFFF for _, hi in ranges):
            return _class(ranges)
        bmp = [(lo, min(hi, 0xFFFF)) for lo, hi in ranges if lo <= 0xFFFF]
        astral = [(max(lo, 0x10000), hi) for lo, hi in ranges if hi > 0xFFFF]
        return f"(?:{_class(bmp)}|(?=[\\U00010000-\\U0010FFFF]){_class(astral)})"

    return _rewrite_classes(pattern, split)


def _rewrite_classes(pattern: str, rewrite) -> str:
    """``pattern`` with each character class of literals and ranges (not negated) replaced
    by ``rewrite(its code point ranges)``."""

    def one(match: re.Match) -> str:
        text = match.group()
        if text[0] != "[":
            return text  # an escaped character outside a class
        (op, items), = sre_parse.parse(text).data
        ranges = _class_ranges(items) if str(op) == "IN" else None
        return text if ranges is None else rewrite(ranges)

    rewritten = _CLASS_OR_ESCAPE.sub(one, pattern)
    re.compile(rewritten)
    return rewritten


def _class(ranges: list[tuple[int, int]]) -> str:
    return "[" + "".join(
        re.escape(chr(lo)) + ("" if lo == hi else "-" + re.escape(chr(hi)))
        for lo, hi in ranges
    ) + "]"


def main() -> None:
    tokenizer = spacy.blank("en").tokenizer
    rules = {
        "notice": (
            f"Tokenizer rules of spaCy {spacy.__version__} (English), Copyright (C) 2016-2024 "
            "ExplosionAI GmbH, 2016 spaCy GmbH, 2015 Matthew Honnibal, MIT License."
        ),
        "prefix": tokenizer.prefix_search.__self__.pattern,
        "suffix": tokenizer.suffix_search.__self__.pattern,
        "infix": tokenizer.infix_finditer.__self__.pattern,
        "url": tokenizer.url_match.__self__.pattern,
        "special_cases": {
            orth: [token[ORTH] for token in tokens]
            for orth, tokens in sorted(tokenizer.rules.items())
            if not orth.isspace()
        },
        "sentence_punct": sorted(Sentencizer.default_punct_chars),
        **suffix_parts(tokenizer.suffix_search.__self__.pattern),
        "infix_starts": infix_starts(tokenizer.infix_finditer.__self__.pattern),
        "suffix_ends": suffix_ends(tokenizer.suffix_search.__self__.pattern),
    }
    rules["for_ascii"] = {name: for_ascii(rules[name]) for name in SEARCHES}
    rules["astral_guarded"] = {name: astral_guarded(rules[name]) for name in SEARCHES}
    OUT.write_text(json.dumps(rules, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({OUT.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
