"""Exact substring dedup (Lee et al. 2022, "Deduplicating Training Data Makes Language Models
Better", ExactSubstr): remove every span of at least ``min_tokens`` tokens that already
occurred earlier in the corpus, keeping its first occurrence.

Tokens are words and single punctuation marks (``\\w+|[^\\w\\s]``), so no model is needed;
Lee et al. count 50 BPE tokens. The corpus is one sequence of token ids, each document ended
by a separator of its own (so no span crosses documents). Its longest previous factor array
(pydivsufsort: from the suffix array and LCP, ``LPF[i]`` is the longest prefix of the suffix
at ``i`` that starts somewhere earlier too) gives every repeat directly: the tokens
``[i, i + LPF[i])`` with ``LPF[i] >= min_tokens`` are a later copy. Shards are processed in
groups of at most ``max_group_tokens`` tokens (a suffix array costs about 4-8 bytes per
token); spans repeated only across groups are not found.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import pyarrow as pa
from pydantic import Field
from pydivsufsort import longest_previous_factor

from winnow.stages.base import CorpusStage, Params, RowResult, RunContext, ShardColumns, register
from winnow.stages.dedup.edits import apply_edits

TOKEN = re.compile(r"\w+|[^\w\s]")
DECISIONS = pa.schema(
    [("row", pa.int64()), ("starts", pa.list_(pa.int64())), ("ends", pa.list_(pa.int64()))]
)


class SubstringParams(Params):
    min_tokens: int = Field(50, ge=2)
    """Shortest repeated span removed (Lee et al. 2022: 50 tokens)."""
    max_group_tokens: int = Field(100_000_000, ge=1000)
    """Tokens in one suffix array; larger corpora are processed in groups of shards."""


@register
class SubstringDedup(CorpusStage):
    """Cut spans of >= min_tokens tokens that occurred earlier in the corpus."""

    name = "substring_dedup"
    ParamsModel = SubstringParams
    summary = "remove repeated spans of >= 50 tokens (suffix array), first occurrence kept"
    origin = "ExactSubstr, Lee et al. 2022 'Deduplicating Training Data Makes LMs Better'"
    decision_schema = DECISIONS
    signature_columns: ClassVar[tuple[str, ...]] = ("_substring_tokens",)

    def map(self, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        counts = [len(TOKEN.findall(t or "")) for t in batch.column("text").to_pylist()]
        return {"_substring_tokens": pa.array(counts, pa.int64())}

    def reduce(self, shards: Sequence[ShardColumns], run: RunContext) -> list[pa.Table]:
        sizes = [int(np.sum(load(["_substring_tokens"]).column(0).to_numpy())) for load in shards]
        out: list[pa.Table] = []
        group: list[int] = []
        for s, size in enumerate(sizes):
            if group and sum(sizes[g] for g in group) + size > self.params.max_group_tokens:
                out += self._group(shards, group)
                group = []
            group.append(s)
        if group:
            out += self._group(shards, group)
        return out

    def _group(self, shards: Sequence[ShardColumns], group: list[int]) -> list[pa.Table]:
        texts = [shards[s](["text"]).column("text").to_pylist() for s in group]
        docs = [t or "" for shard in texts for t in shard]
        vocab: dict[str, int] = {}
        ids: list[int] = []
        bounds = [0]
        for text in docs:
            ids += [vocab.setdefault(t, len(vocab)) for t in TOKEN.findall(text)]
            bounds.append(len(ids) + len(bounds))  # one separator after each document
        sequence = np.empty(len(ids) + len(docs), dtype=np.int32)
        ends = np.array(bounds[1:], dtype=np.int64) - 1  # separator positions
        is_token = np.ones(len(sequence), dtype=bool)
        is_token[ends] = False
        sequence[is_token] = ids
        sequence[ends] = len(vocab) + np.arange(len(docs))  # unique: never part of a repeat
        removed = _later_copies(sequence, self.params.min_tokens) if len(sequence) else sequence
        return _decisions(docs, [len(t) for t in texts], bounds, removed.astype(bool))

    def apply(self, batch: pa.RecordBatch, offset: int, decisions: pa.Table) -> RowResult:
        return apply_edits(
            batch, offset, decisions, _cut, "empty_after_substring_dedup", "substring_dedup_chars"
        )[0]


def _cut(text: str, decision: dict) -> str:
    """``text`` without the character ranges ``starts[i]:ends[i]``."""
    pieces, at = [], 0
    for a, b in zip(decision["starts"], decision["ends"]):
        pieces.append(text[at:a])
        at = b
    pieces.append(text[at:])
    return "".join(pieces)


def _later_copies(sequence: np.ndarray, min_tokens: int) -> np.ndarray:
    """1 where a token lies in a span that occurred earlier (at least ``min_tokens`` long)."""
    lpf = longest_previous_factor(sequence).astype(np.int64)
    starts = np.nonzero(lpf >= min_tokens)[0]
    size = len(sequence) + 1
    delta = np.bincount(starts, minlength=size) - np.bincount(starts + lpf[starts], minlength=size)
    return (np.cumsum(delta[:-1]) > 0).astype(np.int8)


def _decisions(docs, shard_sizes, bounds, removed) -> list[pa.Table]:
    """Per shard: the character ranges to cut from each affected row."""
    rows, starts, ends = [], [], []
    for d, text in enumerate(docs):
        first, last = bounds[d], bounds[d + 1] - 1  # token positions of document d
        gone = removed[first:last]
        if not gone.any():
            rows.append(None)
            continue
        spans = [m.span() for m in TOKEN.finditer(text)]
        edges = np.diff(np.concatenate([[0], gone.astype(np.int8), [0]]))
        run_start, run_end = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0] - 1
        rows.append(d)
        starts.append([spans[i][0] for i in run_start])
        ends.append([spans[i][1] for i in run_end])
    out, d0, k = [], 0, 0
    for size in shard_sizes:
        mine_rows, mine_starts, mine_ends = [], [], []
        for d in range(d0, d0 + size):
            if rows[d] is not None:
                mine_rows.append(d - d0)
                mine_starts.append(starts[k])
                mine_ends.append(ends[k])
                k += 1
        out.append(
            pa.table(
                [
                    pa.array(mine_rows, pa.int64()),
                    pa.array(mine_starts, pa.list_(pa.int64())),
                    pa.array(mine_ends, pa.list_(pa.int64())),
                ],
                schema=DECISIONS,
            )
        )
        d0 += size
    return out
