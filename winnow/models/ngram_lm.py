"""An n-gram language model with interpolated modified Kneser-Ney smoothing (Chen & Goodman
1998), estimated as KenLM's ``lmplz`` does and written in ARPA format (KenLM, SRILM and
this module load it), all in numpy.

Text is lower-cased and split into words and punctuation runs (``\\w+|[^\\w\\s]+``); each
line is a sentence between ``<s>`` and ``</s>``; unknown words are ``<unk>``. A k-gram is
stored as a key ``id(its first k-1 words) * V + id(last word)`` in a sorted array per
order, so scoring a batch is one ``searchsorted`` per order over every position at once.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.text.runs import expand_runs, runs_of

UNK, BOS, EOS = "<unk>", "<s>", "</s>"
WORDS = re.compile(r"\w+|[^\w\s]+")
_NEVER = -99.0  # ARPA's log10 probability of <s>, which is never predicted


class NgramLM:
    """``log10_probs(texts)`` → (sum of log10 p over each text's predicted tokens, count);
    ``perplexity(texts)`` as CCNet computes it: 10 ** (-sum / count)."""

    def __init__(self, vocab: list[str], logprob: list[np.ndarray], backoff: list[np.ndarray],
                 keys: list[np.ndarray]) -> None:  # fmt: skip
        self.vocab = vocab
        self.ids = {w: i for i, w in enumerate(vocab)}
        self.order = len(keys)
        self.keys, self.logprob, self.backoff = keys, logprob, backoff
        self._chunks: dict[str, tuple[int, ...]] = {}

    # ----- estimation -----------------------------------------------------------------

    @classmethod
    def train(cls, texts: Iterable[str], order: int = 5) -> NgramLM:
        lm = cls([UNK, BOS, EOS], [], [], [np.zeros(0)] * order)
        parts = []
        batch: list[str] = []
        for text in texts:
            batch.append(text)
            if len(batch) == 4096:
                parts.append(lm.tokenize(batch, grow=True)[0])
                batch = []
        parts.append(lm.tokenize(batch, grow=True)[0])
        tok = np.concatenate(parts)
        vocab = list(lm.ids)
        size = len(vocab)
        grams = _grams(tok, order, None, size)
        keys = [g[0] for g in grams]
        counts = [np.bincount(at[at >= 0], minlength=len(k)) for k, (_, at) in zip(keys, grams)]
        # adjusted counts: continuation counts below the top order, except after <s>
        adjusted = [c.astype(np.float64) for c in counts]
        suffix, context = [None] * order, [None] * order
        for k in range(1, order):  # k-grams (index k) extend (k-1)-grams (index k-1)
            at, shorter = grams[k][1], grams[k - 1][1]
            seen = np.nonzero(at >= 0)[0]
            first = seen[np.unique(at[seen], return_index=True)[1]]  # one occurrence each
            suffix[k] = shorter[first]  # its last k words, as an index-(k-1) gram
            context[k] = shorter[first - 1]  # its first k words
            continuation = np.bincount(suffix[k], minlength=len(keys[k - 1])).astype(float)
            starts_bos = _first_word(keys, k - 1, size) == 1
            adjusted[k - 1] = np.where(starts_bos, counts[k - 1], continuation)
        logprob, backoff = [], []
        for k in range(order):
            a = adjusted[k]
            if k == 0:
                a = a.copy()
                a[1] = 0  # <s> is never predicted
            d = _discounts(a[a > 0])
            disc = np.where(a >= 3, d[2], np.where(a == 2, d[1], np.where(a == 1, d[0], 0)))
            if k == 0:
                total = a.sum()
                gamma = (disc[a > 0]).sum() / total
                p = (a - disc) / total + gamma / (size - 1)  # uniform over all but <s>
                logprob.append(np.log10(np.maximum(p, 1e-99)))
                logprob[0][1] = _NEVER
                continue
            ctx = context[k]
            n_ctx = len(keys[k - 1])
            total = np.bincount(ctx, weights=a, minlength=n_ctx)
            mass = np.bincount(ctx, weights=disc, minlength=n_ctx)
            with np.errstate(divide="ignore", invalid="ignore"):
                gamma = np.where(total > 0, mass / total, 1.0)
                lower = 10.0 ** logprob[k - 1][suffix[k]]
                p = (a - disc) / total[ctx] + gamma[ctx] * lower
            logprob.append(np.log10(p))
            backoff.append(np.log10(np.where(total > 0, gamma, 1.0)))
        backoff.append(np.zeros(len(keys[-1])))
        for k in range(order - 1):  # a gram that is never a context backs off by 1
            backoff[k] = np.where(np.isfinite(backoff[k]), backoff[k], 0.0)
        return cls(vocab, logprob, backoff, keys)

    # ----- scoring --------------------------------------------------------------------

    def log10_probs(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        tok, who = self.tokenize(texts)
        score = self.token_log10_probs(tok)
        predicted = tok != 1
        total = np.bincount(who[predicted], weights=score[predicted], minlength=len(texts))
        count = np.bincount(who[predicted], minlength=len(texts))
        return total, count

    def token_log10_probs(self, tok: np.ndarray) -> np.ndarray:
        """log10 p of each token given the ones before it in its sentence (sentences
        start with <s>, id 1; the <s> positions get 0), by ARPA backoff."""
        found = _grams(tok, self.order, self.keys, len(self.vocab))
        predicted = tok != 1
        score = np.zeros(len(tok))
        done = np.zeros(len(tok), dtype=bool)
        for k in range(self.order - 1, -1, -1):  # the longest k-gram in the model wins
            at = found[k][1]
            hit = predicted & ~done & (at >= 0)
            score[hit] += self.logprob[k][at[hit]]
            done |= hit
            if k:  # not found at this order: back off from the k-word context
                context = np.full(len(tok), -1, dtype=np.int64)
                context[1:] = found[k - 1][1][:-1]
                off = predicted & ~done & (context >= 0)
                score[off] += self.backoff[k - 1][context[off]]
        return score

    def perplexity(self, texts: list[str]) -> np.ndarray:
        total, count = self.log10_probs(texts)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(count > 0, 10.0 ** (-total / np.maximum(count, 1)), np.inf)

    def tokenize(self, texts: list[str], grow: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Token ids of every non-empty line of every text, each line between <s> and
        </s>, and the text of each token. Unknown words are <unk> unless ``grow`` adds
        them to the vocabulary. Lines and whitespace chunks are split in Arrow; each
        distinct chunk is split into words once and remembered."""
        lines = pc.split_pattern(pa.array(texts, pa.large_string()), "\n")
        line_text = np.repeat(np.arange(len(texts)), np.diff(lines.offsets.to_numpy()))
        chunks = pc.utf8_split_whitespace(lines.values)
        chunk_line = np.repeat(np.arange(len(line_text)), np.diff(chunks.offsets.to_numpy()))
        encoded = pc.dictionary_encode(chunks.values)
        flat, length = self._chunk_ids(encoded.dictionary.to_pylist(), grow)
        which = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        words = expand_runs(which, flat, length)
        n = length[which]
        per_line = np.bincount(chunk_line, weights=n, minlength=len(line_text)).astype(np.int64)
        used = per_line > 0
        size = per_line[used] + 2
        ends = np.cumsum(size)
        tok = np.empty(int(ends[-1]) if len(ends) else 0, dtype=np.int64)
        tok[ends - size], tok[ends - 1] = 1, 2
        inner = np.ones(len(tok), dtype=bool)
        inner[ends - size], inner[ends - 1] = False, False
        tok[inner] = words
        return tok, np.repeat(line_text[used], size)

    def _chunk_ids(self, chunks: list[str], grow: bool) -> tuple[np.ndarray, np.ndarray]:
        """The word ids of each chunk, concatenated, and how many each has."""
        cache, ids = self._chunks, self.ids
        if len(cache) > 2_000_000:
            cache.clear()
        rows = []
        for chunk in chunks:
            row = cache.get(chunk)
            if row is None:
                words = WORDS.findall(chunk.lower())
                if grow:
                    row = tuple(ids.setdefault(w, len(ids)) for w in words)
                else:
                    row = tuple(ids.get(w, 0) for w in words)
                cache[chunk] = row
            rows.append(row)
        return runs_of(rows)

    # ----- exact arrays (handing a model to workers) ----------------------------------

    def write_npz(self, path: str | os.PathLike) -> Path:
        """The model's arrays as they are (ARPA rounds to 6 decimals), without pickle."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"vocab": np.array(json.dumps(self.vocab))}
        for k in range(self.order):
            arrays[f"keys{k}"], arrays[f"logprob{k}"] = self.keys[k], self.logprob[k]
            if k < len(self.backoff):
                arrays[f"backoff{k}"] = self.backoff[k]
        tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
        return path

    @classmethod
    def read_npz(cls, path: str | os.PathLike) -> NgramLM:
        with np.load(path, allow_pickle=False) as z:
            order = sum(1 for name in z.files if name.startswith("keys"))
            keys = [z[f"keys{k}"] for k in range(order)]
            logprob = [z[f"logprob{k}"] for k in range(order)]
            backoff = [z[f"backoff{k}"] for k in range(order) if f"backoff{k}" in z.files]
            return cls(json.loads(str(z["vocab"])), logprob, backoff, keys)

    # ----- ARPA -----------------------------------------------------------------------

    def write_arpa(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        words = np.array(self.vocab, dtype=object)
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("\\data\\\n")
            f.writelines(f"ngram {k + 1}={len(keys)}\n" for k, keys in enumerate(self.keys))
            for k in range(self.order):
                f.write(f"\n\\{k + 1}-grams:\n")
                names = _gram_words(self.keys, k, len(self.vocab))
                text = words[names[:, 0]]
                for j in range(1, k + 1):
                    text = text + " " + words[names[:, j]]
                probs = [f"{p:.6f}" for p in self.logprob[k].tolist()]
                if k + 1 < self.order:
                    offs = [f"{b:.6f}" for b in self.backoff[k].tolist()]
                    f.writelines(f"{p}\t{t}\t{b}\n" for p, t, b in zip(probs, text, offs))
                else:
                    f.writelines(f"{p}\t{t}\n" for p, t in zip(probs, text))
            f.write("\n\\end\\\n")
        os.replace(tmp, path)
        return path

    @classmethod
    def read_arpa(cls, path: str | os.PathLike) -> NgramLM:
        sections: list[list[list[str]]] = []
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                line = line.strip()
                if not line or line in ("\\data\\", "\\end\\") or line.startswith("ngram "):
                    continue
                if line.startswith("\\") and line.endswith("-grams:"):
                    sections.append([])
                    continue
                if not sections:
                    raise ValueError(f"{path}:{number}: not an ARPA file")
                parts = line.split()
                k = len(sections)
                if len(parts) < k + 1:
                    raise ValueError(f"{path}:{number}: expected a {k}-gram line")
                sections[-1].append([parts[0], " ".join(parts[1 : k + 1]), *parts[k + 1 :]])
        if not sections:
            raise ValueError(f"{path}: no n-grams (not an ARPA file?)")
        vocab = [UNK, BOS, EOS]
        vocab += sorted({p[1] for p in sections[0]} - set(vocab))
        ids = {w: i for i, w in enumerate(vocab)}
        size = len(vocab)
        keys, logprob, backoff = [], [], []
        for k, rows in enumerate(sections):
            grams = np.array([[ids.get(w, 0) for w in r[1].split(" ")] for r in rows], np.int64)
            probs = np.array([float(r[0]) for r in rows])
            offs = np.array([float(r[2]) if len(r) > 2 else 0.0 for r in rows])
            if k == 0:
                full_p, full_b = np.full(size, _NEVER), np.zeros(size)
                full_p[grams[:, 0]], full_b[grams[:, 0]] = probs, offs
                keys.append(np.arange(size, dtype=np.int64))
                logprob.append(full_p)
                backoff.append(full_b)
                continue
            ctx = grams[:, 0]
            for j in range(1, k):
                ctx = np.searchsorted(keys[j], ctx * size + grams[:, j])
            key = ctx * size + grams[:, k]
            order_by = np.argsort(key)
            keys.append(key[order_by])
            logprob.append(probs[order_by])
            backoff.append(offs[order_by])
        if UNK not in {p[1] for p in sections[0]}:
            logprob[0][0] = _NEVER
        return cls(vocab, logprob, backoff, keys)


def _grams(tok: np.ndarray, order: int, keys: list[np.ndarray] | None, size: int):
    """Per order (index k: (k+1)-grams): the sorted keys, and for every position the index
    of the (k+1)-gram ending there (-1: none, or not in ``keys`` when given)."""
    out = []
    at = tok.copy()
    sentence = np.cumsum(tok == 1)  # tokens of one sentence share a number
    unigrams = np.arange(size, dtype=np.int64)
    out.append((unigrams if keys is None else keys[0], at))
    for k in range(1, order):
        key = np.full(len(tok), -1, dtype=np.int64)
        ok = np.zeros(len(tok), dtype=bool)
        ok[k:] = (at[:-1][k - 1 :] >= 0) & (sentence[k:] == sentence[:-k])
        key[ok] = at[:-1][k - 1 :][ok[k:]] * size + tok[ok]
        table = np.unique(key[ok]) if keys is None else keys[k]
        nxt = np.full(len(tok), -1, dtype=np.int64)
        if len(table):
            where = np.minimum(np.searchsorted(table, key[ok]), len(table) - 1)
            hit = table[where] == key[ok]
            nxt[np.nonzero(ok)[0][hit]] = where[hit]
        out.append((table, nxt))
        at = nxt
    return out


def _first_word(keys: list[np.ndarray], k: int, size: int) -> np.ndarray:
    """The first word of every (k+1)-gram."""
    return _gram_words(keys, k, size)[:, 0]


def _gram_words(keys: list[np.ndarray], k: int, size: int) -> np.ndarray:
    """Word ids of every (k+1)-gram, one row each."""
    columns = [keys[k] % size if k else keys[0]]
    ctx = keys[k] // size
    for j in range(k - 1, -1, -1):
        columns.append(keys[j][ctx] % size if j else keys[0][ctx])
        ctx = keys[j][ctx] // size
    return np.stack(columns[::-1], axis=1)


def _discounts(adjusted: np.ndarray) -> tuple[float, float, float]:
    """Modified Kneser-Ney discounts D1, D2, D3+ from counts of counts (Chen & Goodman
    1998, as KenLM); 0.5, 1, 1.5 where the counts are too few to estimate them."""
    n = [int((adjusted == i).sum()) for i in (1, 2, 3, 4)]
    if min(n) == 0:
        return (0.5, 1.0, 1.5)
    y = n[0] / (n[0] + 2 * n[1])
    d = (1 - 2 * y * n[1] / n[0], 2 - 3 * y * n[2] / n[1], 3 - 4 * y * n[3] / n[2])
    return tuple(float(min(max(x, 0.0), i + 1.0)) for i, x in enumerate(d))  # type: ignore
