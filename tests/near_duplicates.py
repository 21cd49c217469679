"""A labelled near-duplicate set from real text: every distinct abstract of
../shared/corpora, then an edited copy of each (word deletions, insertions, adjacent swaps,
truncation, re-wrapping) whose true Jaccard similarity to its original is measured with an
independent, plain-Python shingling (lower-cased ``\\w+`` words, 5-grams)."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from tests.conftest import corpus_records

EDITS = ("delete", "insert", "swap", "truncate", "rewrap")


def shingle_set(text: str, n: int = 5) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    if len(words) < n:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def jaccard(a: str, b: str) -> float:
    x, y = shingle_set(a), shingle_set(b)
    return len(x & y) / len(x | y) if x or y else 1.0


def edit(text: str, kind: str, strength: float, rng: random.Random, vocab: list[str]) -> str:
    words = text.split(" ")
    k = max(1, int(len(words) * strength))
    if kind == "delete":
        for _ in range(k):
            del words[rng.randrange(len(words))]
    elif kind == "insert":
        for _ in range(k):
            words.insert(rng.randrange(len(words) + 1), rng.choice(vocab))
    elif kind == "swap":
        for _ in range(k):
            i = rng.randrange(len(words) - 1)
            words[i], words[i + 1] = words[i + 1], words[i]
    elif kind == "truncate":
        words = words[: max(1, len(words) - k)]
    else:  # rewrap: new line breaks every few words, the words themselves unchanged
        flat = " ".join(words).split()
        step = rng.randint(6, 14)
        return "\n".join(" ".join(flat[i : i + step]) for i in range(0, len(flat), step))
    return " ".join(words)


@dataclass
class NearDuplicates:
    ids: list[str]
    texts: list[str]
    pairs: list[tuple[str, str, float, str]]
    """(original id, copy id, true Jaccard, edit kind)."""


def near_duplicate_set(seed: int = 0) -> NearDuplicates:
    rng = random.Random(seed)
    seen, originals = set(), []
    for r in corpus_records("abstracts"):
        if r["meta"]["paper_key"] not in seen and len(r["text"].split()) >= 40:
            seen.add(r["meta"]["paper_key"])
            originals.append((r["id"], r["text"]))
    vocab = sorted({w for _, t in originals for w in t.split()})
    ids = [i for i, _ in originals]
    texts = [t for _, t in originals]
    pairs = []
    for n, (doc_id, text) in enumerate(originals):
        kind = EDITS[n % len(EDITS)]
        strength = rng.choice([0.005, 0.01, 0.02, 0.04, 0.08, 0.15, 0.3])
        copy = edit(text, kind, strength, rng, vocab)
        copy_id = f"{doc_id}-copy"
        ids.append(copy_id)
        texts.append(copy)
        pairs.append((doc_id, copy_id, jaccard(text, copy), kind))
    return NearDuplicates(ids, texts, pairs)
