"""Export spaCy's English tokenizer and sentencizer rules to winnow/data (run by hand).

datatrove's Gopher, C4 and FineWeb filters count words and sentences with spaCy's blank
English pipeline. winnow reproduces that tokenisation without spaCy at run time by applying
the same rules (spaCy is MIT-licensed; the exported file keeps its notice):

    pip install spacy && python scripts/export_spacy_rules.py
"""

from __future__ import annotations

import json
from pathlib import Path

import spacy
from spacy.attrs import ORTH
from spacy.pipeline.sentencizer import Sentencizer

OUT = Path(__file__).resolve().parents[1] / "winnow" / "data" / "spacy_en_rules.json"


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
    }
    OUT.write_text(json.dumps(rules, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({OUT.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
