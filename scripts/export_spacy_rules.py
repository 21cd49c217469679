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


def suffix_parts(pattern: str) -> dict:
    """The suffix rules as two searches that find the same match: the pieces no longer than
    ``suffix_window_width`` characters (searched in the last that many characters of a
    chunk) and the unbounded ones (``\\.\\.+``, searched in the whole chunk)."""
    pieces = [p for p in English.Defaults.suffixes if p.strip()]
    assert "|".join(p + "$" for p in pieces) == pattern, "spaCy's suffix pieces changed"
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
    pieces = [p for p in English.Defaults.infixes if p.strip()]
    assert "|".join(pieces) == pattern, "spaCy's infix pieces changed"
    ranges: set[tuple[int, int]] = set()
    for piece in pieces:
        parsed = sre_parse.parse(piece)
        assert parsed.getwidth()[0] > 0 and not parsed.state.flags & re.IGNORECASE
        ranges |= _first_characters(parsed)
    return "[" + "".join(
        re.escape(chr(lo)) + ("" if lo == hi else "-" + re.escape(chr(hi)))
        for lo, hi in sorted(ranges)
    ) + "]"


def _first_characters(sub) -> set[tuple[int, int]]:
    """Code point ranges a match of the parsed pattern ``sub`` can start with (assertions
    consume nothing); anything this does not follow fails the export."""
    for op, arg in sub.data:
        name = str(op)
        if name in ("ASSERT", "ASSERT_NOT", "AT"):
            continue
        if name == "LITERAL":
            return {(arg, arg)}
        if name == "IN":
            assert all(str(o) in ("LITERAL", "RANGE") for o, _ in arg), piece_error(sub)
            return {(a, a) if str(o) == "LITERAL" else a for o, a in arg}
        if name in ("MAX_REPEAT", "MIN_REPEAT"):
            assert arg[0] >= 1, piece_error(sub)
            return _first_characters(arg[2])
        if name == "SUBPATTERN":
            return _first_characters(arg[-1])
        if name == "BRANCH":
            return set().union(*(_first_characters(b) for b in arg[1]))
        raise AssertionError(piece_error(sub))
    raise AssertionError(piece_error(sub))


def piece_error(sub) -> str:
    return f"an infix rule whose first character is not known: {sub}"


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
    }
    OUT.write_text(json.dumps(rules, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({OUT.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
