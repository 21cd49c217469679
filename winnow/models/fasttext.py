"""fastText supervised-model inference in numpy, over a whole batch of texts at once.

Reads fastText's binary format (version 12: ``.bin``, or ``.ftz`` with product-quantized
input rows, which are expanded once at load) and predicts as ``fasttext`` does (Joulin et
al. 2016): a text's tokens, their character n-grams and its word n-grams (FNV-1a hashes
into buckets) index rows of the input matrix; their mean is scored by a softmax or a
hierarchical softmax.

fastText's own predict spends most of its time dequantizing one row per n-gram. Here each
distinct token's rows are summed once and remembered, so a batch costs a gather and a
segment sum per token. When the model has fewer output rows than dimensions (a quality
classifier: two labels) every input row is multiplied by the output matrix at load, so a
row is two numbers, not ``dim``. Predictions equal fastText's (same label; probability
equal up to float rounding), which the tests check against fastText's C++ on the UDHR and
on a trained word-bigram classifier.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_MAGIC, _VERSION = 793712314, 12
_LOSS = {1: "hs", 3: "softmax"}
_SUPERVISED = 3
_NGRAM_FACTOR = np.uint64(116049371)  # fastText's Dictionary::addWordNgrams
EOS = "</s>"
NO_WORD = 1 << 40
LABEL = "__label__"


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += struct.calcsize("<" + fmt)
        return values

    def array(self, dtype, count: int) -> np.ndarray:
        out = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.at)
        self.at += out.nbytes
        return out

    def string(self) -> str:
        end = self.data.index(b"\0", self.at)
        text = self.data[self.at : end].decode("utf-8", "replace")
        self.at = end + 1
        return text


def _product_quantized(r: _Reader) -> np.ndarray:
    """A ``QMatrix`` expanded to dense float32 rows."""
    (qnorm,) = r.take("?")
    m, n, codesize = r.take("qqi")
    codes = r.array(np.uint8, codesize).reshape(m, -1)
    dim, nsubq, dsub, lastdsub = r.take("iiii")
    centroids = r.array(np.float32, dim * 256)
    parts = []
    for q in range(nsubq):
        width = lastdsub if q == nsubq - 1 else dsub
        table = centroids[q * 256 * dsub : q * 256 * dsub + 256 * width].reshape(256, width)
        parts.append(table[codes[:, q]])
    rows = np.concatenate(parts, axis=1)
    if qnorm:
        norm_codes = r.array(np.uint8, m)
        r.take("iiii")  # the norm quantizer: dimension 1, one subquantizer
        norms = r.array(np.float32, 256)
        rows = rows * norms[norm_codes][:, None]
    assert rows.shape == (m, n)
    return rows


def _dense(r: _Reader) -> np.ndarray:
    m, n = r.take("qq")
    return r.array(np.float32, m * n).reshape(m, n)


def _huffman_paths(counts: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """fastText's ``HierarchicalSoftmaxLoss::buildTree``: for each label, indicator
    matrices (internal node × label) of the nodes on its path taken right and left."""
    osz = len(counts)
    count = [int(c) for c in counts] + [10**15] * (osz - 1)
    parent, binary = [-1] * (2 * osz - 1), [False] * (2 * osz - 1)
    leaf, node = osz - 1, osz
    for i in range(osz, 2 * osz - 1):
        pick = []
        for _ in range(2):
            if leaf >= 0 and count[leaf] < count[node]:
                pick.append(leaf)
                leaf -= 1
            else:
                pick.append(node)
                node += 1
        count[i] = count[pick[0]] + count[pick[1]]
        parent[pick[0]] = parent[pick[1]] = i
        binary[pick[1]] = True
    right = np.zeros((osz - 1, osz), dtype=np.float32)
    left = np.zeros((osz - 1, osz), dtype=np.float32)
    for label in range(osz):
        j = label
        while parent[j] != -1:
            (right if binary[j] else left)[parent[j] - osz, label] = 1
            j = parent[j]
    return right, left


@dataclass
class _Tokens:
    """Per distinct token: the sum of its input rows, how many rows that is, and its
    FNV-1a hash sign-extended to 64 bits (``NO_WORD`` for a label or a cut-off
    token), as word n-grams combine them."""

    index: dict[str, int]
    vectors: np.ndarray
    counts: np.ndarray
    hashes: np.ndarray
    size: int = 0


class FastTextModel:
    """``predict(texts)`` → (labels, probabilities), one line of text each."""

    CACHE_LIMIT = 1_000_000

    def __init__(self, path: str | Path) -> None:
        r = _Reader(Path(path).read_bytes())
        magic, version = r.take("ii")
        if magic != _MAGIC or version != _VERSION:
            raise ValueError(f"{path}: not a fastText model of format version {_VERSION}")
        (dim, _, _, _, _, word_ngrams, loss, model, bucket, minn, maxn, _) = r.take("12i")
        r.take("d")
        if loss not in _LOSS or model != _SUPERVISED:
            raise ValueError(f"{path}: only supervised hs/softmax models are supported")
        size, nwords, nlabels, _, prune_size = r.take("iiiqq")
        words, labels, label_counts = {}, [], []
        for i in range(size):
            word = r.string()
            count, kind = r.take("qb")
            if kind == 0:
                words[word] = i
            else:
                labels.append(word.removeprefix(LABEL))
                label_counts.append(count)
        prune = r.array(np.int32, 2 * max(prune_size, 0)).reshape(-1, 2)
        (quantized,) = r.take("?")
        rows = _product_quantized(r) if quantized else _dense(r)
        (quantized_out,) = r.take("?")
        self.output = (_product_quantized(r) if quantized_out else _dense(r)).astype(np.float32)
        self.projected = len(self.output) < dim
        if self.projected:  # linear until the loss: project each row once
            rows = np.concatenate(
                [_dot(rows[i : i + 65536], self.output.T) for i in range(0, len(rows), 65536)]
            )
        self.rows = np.ascontiguousarray(rows, dtype=np.float32)
        self.width = self.rows.shape[1]
        self.loss, self.labels = _LOSS[loss], labels
        self.words, self.nwords, self.bucket = words, nwords, bucket
        self.minn, self.maxn, self.word_ngrams = minn, maxn, word_ngrams
        self.bucket_rows = np.arange(bucket, dtype=np.int32)  # an unpruned model (size -1)
        if prune_size >= 0:
            self.bucket_rows = np.full(bucket, -1, dtype=np.int32)
            self.bucket_rows[prune[:, 0]] = prune[:, 1]
        self.paths = _huffman_paths(label_counts) if self.loss == "hs" else None
        self._reset_tokens()

    def _reset_tokens(self) -> None:
        vectors = np.zeros((1024, self.width), np.float32)
        self.tokens = _Tokens({}, vectors, np.zeros(1024, np.int64), np.zeros(1024, np.int64))
        self._token_ids([""])  # "no token" (a cut-off token): no rows, no word

    def predict(self, texts: pa.Array | list[str]) -> tuple[list[str], np.ndarray]:
        """The most likely label of each text and its probability, as fastText's
        ``predict(text + "\\n", k=1)``."""
        scores = self.log_probs(texts)
        best = scores.argmax(axis=1)
        probs = np.exp(scores[np.arange(len(scores)), best])
        return [self.labels[b] for b in best], probs

    def probability(self, texts: pa.Array | list[str], label: str) -> np.ndarray:
        """fastText's probability of ``label`` for each text (as its ``predict(k=-1)``)."""
        if label.removeprefix(LABEL) not in self.labels:
            raise ValueError(f"the model has no label {label!r} (labels: {self.labels})")
        return np.exp(self.log_probs(texts)[:, self.labels.index(label.removeprefix(LABEL))])

    def log_probs(self, texts: pa.Array | list[str]) -> np.ndarray:
        """Log probability of every label for each text (one line each). Texts are split
        in Arrow and each distinct token of the batch is looked up once."""
        if self.tokens.size > self.CACHE_LIMIT:
            self._reset_tokens()
        texts = pa.array(texts, pa.large_string()) if isinstance(texts, list) else texts
        texts = pc.replace_substring(pc.fill_null(texts, ""), "\x00", " ")
        lists = pc.ascii_split_whitespace(texts)  # fastText's separators, less \0 (above)
        offsets = lists.offsets.to_numpy().astype(np.int64)
        flat = pc.dictionary_encode(lists.values)
        batch_ids = self._token_ids(flat.dictionary.to_pylist())
        ids = batch_ids[flat.indices.to_numpy(zero_copy_only=False)]
        eos = self._token_ids([EOS])[0]
        if (ids == eos).any():  # fastText stops reading a line at a literal "</s>"
            ids = _cut_at_eos(ids, offsets, eos, self.tokens.index[""])
        vectors = self.tokens.vectors[ids]
        counts = self.tokens.counts[ids]
        lengths = np.diff(offsets)
        starts = np.minimum(offsets[:-1], max(len(ids) - 1, 0))
        if len(ids):
            hidden = np.add.reduceat(vectors, starts) * (lengths > 0)[:, None]
            rows = np.add.reduceat(counts, starts) * (lengths > 0)
        else:
            hidden = np.zeros((len(texts), self.width), np.float32)
            rows = np.zeros(len(texts), np.int64)
        hidden += self.tokens.vectors[eos]
        rows += self.tokens.counts[eos]
        if self.word_ngrams > 1:
            owner, grams = self._word_ngram_rows(ids, offsets, eos)
            hidden += _segment_sum(owner, self.rows[grams], len(texts))
            rows += np.bincount(owner, minlength=len(texts))
        hidden /= np.maximum(rows, 1)[:, None]
        return self._label_log_probs(hidden)

    def _word_ngram_rows(self, ids: np.ndarray, offsets: np.ndarray, eos: int):
        """fastText's ``addWordNgrams``: over each text's words and its closing EOS, the
        hash of every run of 2 to ``word_ngrams`` words (``h = h * 116049371 + next``, in
        64 bits) modulo the buckets. Returns (text, input row) of every n-gram kept."""
        seq, text_of = word_sequences(self.tokens.hashes[ids], offsets, self.tokens.hashes[eos])
        owner, buckets = word_ngram_buckets(seq, text_of, self.word_ngrams, self.bucket)
        row = self.bucket_rows[buckets]
        kept = row >= 0
        return owner[kept], self.nwords + row[kept].astype(np.int64)

    def _token_ids(self, tokens: list[str]) -> np.ndarray:
        """Cache ids of distinct ``tokens``, summing the input rows of those not seen
        before."""
        index = self.tokens.index
        get = index.get
        ids = np.array([get(t, -1) for t in tokens], dtype=np.int64)
        new = np.nonzero(ids < 0)[0]
        if len(new):
            fresh = [tokens[i] for i in new.tolist()]
            ids[new] = np.arange(len(index), len(index) + len(fresh))
            index.update(zip(fresh, ids[new].tolist()))
            self._add_tokens(fresh)
        return ids

    def _label_log_probs(self, hidden: np.ndarray) -> np.ndarray:
        logits = hidden if self.projected else _dot(hidden, self.output.T)
        if self.loss == "softmax":
            logits -= logits.max(axis=1, keepdims=True)
            probs = np.exp(logits)
            return np.log(probs / probs.sum(axis=1, keepdims=True) + 1e-5)
        right, left = self.paths
        with np.errstate(over="ignore"):
            f = 1.0 / (1.0 + np.exp(-logits[:, : right.shape[0]]))
        return _dot(np.log(f + 1e-5), right) + _dot(np.log(1.0 - f + 1e-5), left)

    def _add_tokens(self, tokens: list[str]) -> None:
        """Sum the rows of new tokens: the word's own row when it is in the vocabulary,
        plus its character n-grams (not for EOS), vectorised over the tokens."""
        token_of, rows = self._subword_rows(tokens)
        t = self.tokens
        need = t.size + len(tokens)
        if need > len(t.counts):
            grow = max(need, 2 * len(t.counts)) - len(t.counts)
            t.vectors = np.concatenate([t.vectors, np.zeros((grow, self.width), np.float32)])
            t.counts = np.concatenate([t.counts, np.zeros(grow, np.int64)])
            t.hashes = np.concatenate([t.hashes, np.zeros(grow, np.int64)])
        t.vectors[t.size : need] = _segment_sum(token_of, self.rows[rows], len(tokens))
        t.counts[t.size : need] = np.bincount(token_of, minlength=len(tokens))
        t.hashes[t.size : need] = word_hashes(tokens)
        t.size = need

    def _subword_rows(self, tokens: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(token position, input row) for every row the tokens use."""
        token_of: list[np.ndarray] = []
        rows: list[np.ndarray] = []
        labels = pc.starts_with(pa.array(tokens, pa.large_string()), LABEL).to_numpy(False)
        if labels.any():  # labels are not words
            tokens = [t if not label else "" for t, label in zip(tokens, labels.tolist())]
        get = self.words.get
        own = np.array([get(t, -1) if t else -1 for t in tokens], dtype=np.int64)
        has_row = np.nonzero(own >= 0)[0]
        token_of.append(has_row)
        rows.append(own[has_row])
        chars = [k for k, token in enumerate(tokens) if token and token != EOS]
        if chars and self.maxn > 0:
            k, buckets = _char_ngram_hashes(
                [tokens[i] for i in chars], self.minn, self.maxn, self.bucket
            )
            found = self.bucket_rows[buckets]
            kept = found >= 0
            token_of.append(np.array(chars, dtype=np.int64)[k[kept]])
            rows.append(self.nwords + found[kept].astype(np.int64))
        if not rows:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(token_of), np.concatenate(rows)


def word_sequences(
    hashes: np.ndarray, offsets: np.ndarray, eos_hash: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per text (tokens ``offsets[t]:offsets[t+1]``), the hashes of its words (tokens
    that are not ``NO_WORD``) then of the EOS that closes the line, as uint64; and the
    text of each."""
    is_word = hashes != NO_WORD
    n_texts = len(offsets) - 1
    per_text = np.add.reduceat(is_word, np.minimum(offsets[:-1], max(len(hashes) - 1, 0)))
    per_text = np.where(np.diff(offsets) > 0, per_text, 0) + 1  # and the closing EOS
    text_of = np.repeat(np.arange(n_texts), per_text)
    ends = np.cumsum(per_text) - 1  # where each text's EOS goes
    seq = np.empty(len(text_of), dtype=np.int64)
    seq[ends] = eos_hash
    others = np.ones(len(seq), dtype=bool)
    others[ends] = False
    seq[others] = hashes[is_word]
    return seq.view(np.uint64), text_of


def word_ngram_buckets(
    seq: np.ndarray, text_of: np.ndarray, word_ngrams: int, bucket: int
) -> tuple[np.ndarray, np.ndarray]:
    """(text, bucket) of every run of 2 to ``word_ngrams`` consecutive word hashes
    (``seq``, uint64, sign-extended; grouped by ``text_of``) within one text."""
    owners, buckets = [], []
    h = seq
    with np.errstate(over="ignore"):
        for n in range(2, word_ngrams + 1):
            h = h[:-1] * _NGRAM_FACTOR + seq[n - 1 :]
            inside = np.nonzero(text_of[: len(h)] == text_of[n - 1 :])[0]
            owners.append(text_of[inside])
            buckets.append((h[inside] % np.uint64(bucket)).astype(np.int64))
    if not owners:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(owners), np.concatenate(buckets)


def _cut_at_eos(ids: np.ndarray, offsets: np.ndarray, eos: int, nothing: int) -> np.ndarray:
    """Replace each text's first literal EOS and every token after it by ``nothing``
    (the EOS every text ends with is added by the caller)."""
    ids = ids.copy()
    position = np.nonzero(ids == eos)[0]
    text = np.searchsorted(offsets, position, side="right") - 1
    first = position[np.unique(text, return_index=True)[1]]
    for start, end in zip(first.tolist(), offsets[np.unique(text) + 1].tolist()):
        ids[start:end] = nothing
    return ids


def _char_ngram_hashes(
    tokens: list[str], minn: int, maxn: int, bucket: int
) -> tuple[np.ndarray, np.ndarray]:
    """fastText's ``computeSubwords`` of ``<token>`` for each token: every run of ``minn``
    to ``maxn`` characters, hashed with 32-bit FNV-1a over its UTF-8 bytes (each byte
    sign-extended, as fastText does) modulo ``bucket``. Returns (token index, bucket)."""
    data = "".join(f"<{t}>" for t in tokens).encode("utf-8")
    raw = np.frombuffer(data, dtype=np.uint8)
    signed = raw.astype(np.int8).astype(np.int64).astype(np.uint32)
    char_start = np.nonzero((raw & 0xC0) != 0x80)[0]  # one per character
    chars = np.fromiter(map(len, tokens), np.int64, len(tokens)) + 2
    owner = np.repeat(np.arange(len(tokens)), chars)
    token_end = np.append(char_start, len(raw))[np.cumsum(chars)]  # byte after each token
    # the byte after the n-th character from each character start, within its token
    bounds = np.append(char_start, len(raw))
    out_token, out_hash = [], []
    for n in range(max(minn, 1), maxn + 1):
        if len(char_start) < n:
            break
        first = np.arange(len(char_start) - n + 1)
        last = first + n - 1
        same = owner[first] == owner[last]
        if n == 1:  # not "<" or ">" alone
            at_start = char_start[first] == np.append(0, token_end[:-1])[owner[first]]
            same &= ~at_start & (bounds[first + 1] != token_end[owner[first]])
        first = first[same]
        start, end = char_start[first], bounds[first + n]
        h = _fnv1a(signed, start, end - start)
        out_token.append(owner[first])
        out_hash.append((h % np.uint32(bucket)).astype(np.int64))
    if not out_token:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(out_token), np.concatenate(out_hash)


def _fnv1a(signed: np.ndarray, start: np.ndarray, width: np.ndarray) -> np.ndarray:
    """fastText's ``Dictionary::hash`` (32-bit FNV-1a, each byte sign-extended) of the byte
    runs ``signed[start : start + width]``. Runs are sorted longest first, so step ``s``
    updates a prefix: the runs longer than ``s``."""
    order = np.argsort(-width, kind="stable")
    begin, size = start[order], width[order]
    h = np.full(len(start), 2166136261, dtype=np.uint32)
    longer = np.searchsorted(-size, -np.arange(int(size.max(initial=0))), "left")  # > step
    with np.errstate(over="ignore"):
        for step, active in enumerate(longer.tolist()):
            h[:active] = (h[:active] ^ signed[begin[:active] + step]) * np.uint32(16777619)
    out = np.empty_like(h)
    out[order] = h
    return out


def word_hashes(tokens: list[str]) -> np.ndarray:
    """Each token's hash as fastText keeps it for word n-grams (an int32, sign-extended);
    ``NO_WORD`` for labels and the empty token."""
    array = pa.array(tokens, pa.large_string())
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)[: len(array) + 1]
    data = array.buffers()[2]
    raw = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(1, np.uint8)
    signed = raw.astype(np.int8).astype(np.int64).astype(np.uint32)
    out = _fnv1a(signed, offsets[:-1], np.diff(offsets)).view(np.int32).astype(np.int64)
    out[(np.diff(offsets) == 0) | pc.starts_with(array, LABEL).to_numpy(False)] = NO_WORD
    return out


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` without BLAS, whose result can change in the last bits with its thread
    count (Ray workers run one thread): the same scores on every executor."""
    return np.einsum("ij,jk->ik", a, b, optimize=False)


def _segment_sum(owner: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Rows of ``values`` summed by ``owner`` (n groups), one column at a time."""
    return np.stack(
        [np.bincount(owner, values[:, d], minlength=n) for d in range(values.shape[1])], axis=1
    ).astype(np.float32)
