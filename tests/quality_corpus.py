"""Real documents for the quality-filter parity tests: whole abstracts and declarations,
paragraphs of man pages and licence files, and variants built from them that trip each rule
(repetition, bullets, ellipses, hashes, boilerplate, short lines, lorem ipsum, braces)."""

from __future__ import annotations

import random

from tests.conftest import corpus_records


def quality_corpus(seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    abstracts = [r["text"] for r in corpus_records("abstracts")]
    udhr = [r["text"] for r in corpus_records("udhr")][::2]
    paragraphs = [
        p
        for name, limit in (("manpages", 3000), ("copyright", 300))
        for r in corpus_records(name, limit=limit)
        for p in r["text"].split("\n\n")
        if 80 <= len(p) <= 4000
    ]
    paragraphs = rng.sample(paragraphs, 760)
    built = []
    for text in rng.sample(abstracts, 240):
        lines = text.split(". ")
        kind = len(built) % 8
        if kind == 0:
            built.append("\n".join(lines + lines[: max(1, len(lines) // 2)]))
        elif kind == 1:
            built.append("\n".join(f"- {line}" for line in lines))
        elif kind == 2:
            built.append("\n".join(f"{line[:60]}..." for line in lines))
        elif kind == 3:
            built.append(" ".join(f"#{w}" if i % 4 == 0 else w for i, w in enumerate(text.split())))
        elif kind == 4:
            built.append(text + "\n" + "Privacy policy | Terms of use | Contact\n" * 3)
        elif kind == 5:
            built.append("\n".join(w for w in text.split()[:60]))
        elif kind == 6:
            built.append(text.replace(". ", ". Lorem ipsum dolor sit amet. ", 1))
        else:
            built.append(text + " See {config} for details.")
    return abstracts + udhr + paragraphs + built
