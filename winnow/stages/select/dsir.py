"""DSIR: Data Selection with Importance Resampling (Xie et al. 2023), as the authors'
``data-selection`` package computes it.

Features: the lower-cased text split by NLTK's WordPunct rule (``\\w+|[^\\w\\s]+``), its
unigrams and bigrams hashed into ``num_buckets`` buckets (sha256, as the package does; each
distinct n-gram is hashed once and remembered). A bag-of-n-grams model is fitted on the
target documents and on the pool; a document's log importance weight is
``sum(count_f * (log p_target(f) - log p_pool(f)))``. Selection keeps ``keep_fraction`` or
``keep_top_k`` documents by importance resampling (Gumbel top-k with ``seed``) or, with
``top_k: true``, by weight; ``min_score`` keeps every document at or above a weight.
Several target sets (``target`` a list, with ``target_weights``): each is fitted on its
own and resamples its share of the kept documents from those left, in turn; the
``dsir_target`` column names the set (its index) that chose a document.
Documents under ``min_tokens`` tokens are never selected (the package's
``min_example_length``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from winnow.chat.view import text_view
from winnow.stages.base import ExampleFiles, RunContext, ShardColumns, register
from winnow.stages.select.base import ScoreSelector, TargetParams, top
from winnow.stages.select.targets import target_texts
from winnow.text.runs import expand_runs, runs_of

WORDPUNCT = re.compile(r"\w+|[^\w\s]+")


def buckets(ngrams: list[str], num_buckets: int) -> np.ndarray:
    """The package's ``hash_buckets`` of many n-grams: sha256 of each UTF-8 n-gram, the
    256-bit digests reduced modulo ``num_buckets`` with numpy, a byte at a time (Horner)."""
    sha = hashlib.sha256
    digests = b"".join([sha(g.encode("utf-8")).digest() for g in ngrams])
    data = np.frombuffer(digests, dtype=np.uint8).reshape(-1, 32).astype(np.uint64)
    rest = np.zeros(len(ngrams), dtype=np.uint64)
    n = np.uint64(num_buckets)
    for byte in range(32):
        rest = (rest * np.uint64(256) + data[:, byte]) % n
    return rest.astype(np.int32)


class NgramBuckets:
    """Buckets of the unigrams and bigrams of a batch. Words get global ids; a word's bucket
    and each (word, word) pair's bucket are hashed once and remembered."""

    LIMIT = 4_000_000

    def __init__(self, num_buckets: int) -> None:
        self.num_buckets = num_buckets
        self._reset()

    def _reset(self) -> None:
        self.ids: dict[str, int] = {}
        self.words: list[str] = []
        self.chunks: dict[str, tuple[int, ...]] = {}  # whitespace chunk -> its token ids
        self.word_bucket = np.zeros(0, dtype=np.int32)
        self.pair_keys = np.zeros(0, dtype=np.int64)  # sorted
        self.pair_buckets = np.zeros(0, dtype=np.int32)

    def batch(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(bucket of every unigram and bigram, n-grams per text), texts in order."""
        if max(len(self.chunks), len(self.pair_keys)) > self.LIMIT:
            self._reset()
        ids, words = self.ids, self.words
        # whitespace chunks in Arrow (ASCII whitespace: Python's split would also cut at
        # other spaces, which WORDPUNCT never matches either); each distinct chunk once
        lists = pc.ascii_split_whitespace(pa.array(texts, pa.large_string()))
        encoded = pc.dictionary_encode(lists.values)
        chunk_ids, find, rows = self.chunks.get, WORDPUNCT.findall, []
        for chunk in encoded.dictionary.to_pylist():
            row = chunk_ids(chunk)
            if row is None:
                tokens = find(chunk.lower())
                row = self.chunks[chunk] = tuple(
                    i if (i := ids.get(w)) is not None else self._new(w) for w in tokens
                )
            rows.append(row)
        flat_runs, run_length = runs_of(rows)
        which = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        flat = expand_runs(which, flat_runs, run_length)
        per_chunk = run_length[which]
        chunk_text = np.repeat(np.arange(len(texts)), np.diff(lists.offsets.to_numpy()))
        lengths = np.bincount(chunk_text, weights=per_chunk, minlength=len(texts)).astype(np.int64)
        if len(words) > len(self.word_bucket):
            fresh = buckets(words[len(self.word_bucket) :], self.num_buckets)
            self.word_bucket = np.concatenate([self.word_bucket, fresh])
        unigrams = self.word_bucket[flat]
        # bigrams: consecutive tokens of the same text
        starts = np.concatenate([[0], np.cumsum(lengths)])[:-1]
        inside = np.ones(len(flat), dtype=bool)
        inside[starts[lengths > 0]] = False  # a text's first token starts no bigram before it
        second = np.nonzero(inside)[0]
        keys = flat[second - 1] * (1 << 31) + flat[second]
        unique, inverse = np.unique(keys, return_inverse=True)
        bigrams = self._pair_buckets(unique)[inverse.reshape(-1)]
        # per text: its unigrams, then its bigrams (order does not matter for counts)
        owner_uni = np.repeat(np.arange(len(texts)), lengths)
        owner_bi = owner_uni[second]
        order = np.argsort(np.concatenate([owner_uni, owner_bi]), kind="stable")
        out = np.concatenate([unigrams, bigrams])[order]
        per_text = np.bincount(owner_uni, minlength=len(texts)) + np.bincount(
            owner_bi, minlength=len(texts)
        )
        return out, per_text

    def _new(self, word: str) -> int:
        self.ids[word] = len(self.words)
        self.words.append(word)
        return self.ids[word]

    def _pair_buckets(self, unique: np.ndarray) -> np.ndarray:
        """Buckets of sorted, distinct word-pair keys; pairs not seen before are hashed and
        merged into the sorted table."""
        at = np.searchsorted(self.pair_keys, unique)
        known = at < len(self.pair_keys)
        known[known] = self.pair_keys[at[known]] == unique[known]
        new_keys = unique[~known]
        if len(new_keys):
            words, n = self.words, self.num_buckets
            fresh = buckets(
                [f"{words[k >> 31]} {words[k & 0x7FFFFFFF]}" for k in new_keys.tolist()], n
            )
            where = np.searchsorted(self.pair_keys, new_keys)
            self.pair_keys = np.insert(self.pair_keys, where, new_keys)
            self.pair_buckets = np.insert(self.pair_buckets, where, fresh)
            at = np.searchsorted(self.pair_keys, unique)
        return self.pair_buckets[at]


class DsirParams(TargetParams):
    top_k: bool = False
    """Keep the highest weights instead of resampling."""
    num_buckets: int = Field(10_000, ge=2)
    min_tokens: int = Field(0, ge=0)
    target_weights: list[float] | None = None
    """With a list of targets: each is its own target set, and this share of the kept
    documents is resampled toward each (default: all targets pooled into one set)."""

    @model_validator(mode="after")
    def _weights_per_target(self) -> DsirParams:
        if self.target_weights is None:
            return self
        if isinstance(self.target, str) or len(self.target) != len(self.target_weights):
            raise ValueError("target_weights needs a list of targets, one weight each")
        if min(self.target_weights) < 0 or sum(self.target_weights) <= 0:
            raise ValueError("target_weights must be non-negative with a positive sum")
        return self


@register
class Dsir(ScoreSelector):
    """Keep the documents most like the target, by hashed n-gram importance weights."""

    name = "dsir"
    ParamsModel = DsirParams
    reads = ("target",)
    summary = "importance resampling on hashed unigram+bigram features toward target sets"
    origin = "DSIR (Xie et al. 2023), features and weights as the data-selection package"
    signature_columns = ("_dsir_buckets",)
    decision_schema = pa.schema(
        [("score", pa.float64()), ("target", pa.int32()), ("reason", pa.string())]
    )

    @classmethod
    def examples(cls, files: ExampleFiles) -> list[dict]:
        return [{"target": files.target, "keep_fraction": 0.5}]

    def __init__(self, params=None) -> None:
        super().__init__(params)
        self._ngrams = NgramBuckets(self.params.num_buckets)

    def map(self, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        buckets, per_text = self._ngrams.batch(text_view(batch, self.params.view))
        offsets = pa.array(np.concatenate([[0], np.cumsum(per_text)]).astype(np.int32))
        return {"_dsir_buckets": pa.ListArray.from_arrays(offsets, pa.array(buckets, pa.int32()))}

    def reduce(self, shards: Sequence[ShardColumns], run: RunContext) -> list[pa.Table]:
        p = self.params
        calls = [(load, p.num_buckets) for load in shards]
        counts = run.workers.map("dsir features", bucket_counts, calls)
        pool = np.sum(counts, axis=0) if counts else np.zeros(p.num_buckets, np.int64)
        log_pool = np.log(pool / max(pool.sum(), 1) + 1e-8)
        sets = [p.target] if p.target_weights is None else list(p.target)
        log_diffs = np.stack([self._log_target(t) - log_pool for t in sets], axis=1)
        calls = [(load, log_diffs, p.min_tokens) for load in shards]
        found = run.workers.map("dsir weights", log_weights, calls)
        scores = [f[0] for f in found]
        eligible = [f[1] for f in found]
        sizes = [len(f[1]) for f in found]
        score = np.concatenate(scores) if scores else np.zeros((0, len(sets)))
        eligible_all = np.concatenate(eligible) if eligible else np.zeros(0, bool)
        rng = np.random.Generator(np.random.PCG64(p.seed))
        chosen = np.zeros(len(score), dtype=bool)
        which = np.full(len(score), -1, dtype=np.int32)
        quotas = _quotas(
            p.target_weights or [1.0], p.how_many(len(score)) if p.min_score is None else 0
        )
        for t in range(len(sets)):  # each target set in turn, from the documents left
            noise = None if p.top_k else rng.gumbel(size=len(score))  # Gumbel top-k
            if p.min_score is not None:
                mine = eligible_all & ~chosen & (score[:, t] >= p.min_score)
            else:
                mine = top(score[:, t], eligible_all & ~chosen, quotas[t], noise)
            chosen |= mine
            which[mine] = t
        best = score.max(axis=1) if len(sets) else np.zeros(len(score))
        shown = np.where(which >= 0, score[np.arange(len(score)), np.maximum(which, 0)], best)
        target = np.where(which >= 0, which, None)  # the set that chose it; null if none
        return self.decisions(shown, chosen, sizes, target=target)

    def _log_target(self, target: str | list[str]) -> np.ndarray:
        """log p_target of every bucket, fitted on the documents of ``target``."""
        counts = np.zeros(self.params.num_buckets, dtype=np.int64)
        texts = list(target_texts(target))
        for i in range(0, len(texts), 4096):
            grams, _ = self._ngrams.batch(texts[i : i + 4096])
            counts += np.bincount(grams, minlength=self.params.num_buckets)
        return np.log(counts / max(counts.sum(), 1) + 1e-8)


def bucket_counts(load: ShardColumns, num_buckets: int) -> np.ndarray:
    """How often each feature bucket occurs in one shard."""
    buckets = load(["_dsir_buckets"]).column(0).combine_chunks()
    return np.bincount(pc.list_flatten(buckets).to_numpy(), minlength=num_buckets)


def log_weights(
    load: ShardColumns, log_diffs: np.ndarray, min_tokens: int
) -> tuple[np.ndarray, np.ndarray]:
    """One shard's log importance weights (documents x target sets) and which documents
    are long enough to be selected."""
    buckets = load(["_dsir_buckets"]).column(0).combine_chunks()
    flat = pc.list_flatten(buckets).to_numpy()
    owner = pc.list_parent_indices(buckets).to_numpy()
    weights = [np.bincount(owner, weights=d[flat], minlength=len(buckets)) for d in log_diffs.T]
    count = pc.list_value_length(buckets).to_numpy(zero_copy_only=False)
    eligible = (count + 1) // 2 >= min_tokens  # tokens: (unigrams + bigrams + 1) / 2
    return np.stack(weights, axis=1), eligible


def _quotas(weights: list[float], total: int) -> list[int]:
    """``total`` split by ``weights``, rounded so the parts add up (largest remainders)."""
    share = np.array(weights, dtype=np.float64) / sum(weights) * total
    quota = np.floor(share).astype(int)
    quota[np.argsort(-(share - quota), kind="stable")[: total - quota.sum()]] += 1
    return quota.tolist()
