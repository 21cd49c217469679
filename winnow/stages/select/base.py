"""What selectors share: a score per document, then one keep rule (``keep_fraction``,
``keep_top_k`` or ``min_score``), decided over the whole corpus and written back as a
``{name}_score`` column with ``not_selected_{name}`` for the rest."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import Field, model_validator

from winnow.chat.view import View, text_view
from winnow.stages.base import CorpusStage, Params, RowResult, ShardColumns, put_column
from winnow.stages.select.targets import require_files

DECISIONS = pa.schema([("score", pa.float64()), ("reason", pa.string())])


class SelectParams(Params):
    view: View = "text"
    """For chat records: score the whole text, only the prompt side or only the responses."""
    keep_fraction: float | None = Field(None, gt=0, le=1)
    keep_top_k: int | None = Field(None, ge=1)
    min_score: float | None = None
    seed: int = 0

    @model_validator(mode="after")
    def _one_rule(self) -> SelectParams:
        rules = [self.keep_fraction, self.keep_top_k, self.min_score]
        if sum(r is not None for r in rules) != 1:
            raise ValueError("give exactly one of keep_fraction, keep_top_k, min_score")
        return self

    def how_many(self, total: int) -> int:
        if self.keep_top_k is not None:
            return min(self.keep_top_k, total)
        return round(self.keep_fraction * total)


class TargetParams(SelectParams):
    target: str | list[str]
    """Target-domain documents: a path or glob (any input format), or a list of them."""

    @model_validator(mode="after")
    def _target_exists(self) -> TargetParams:
        require_files("target", self.target)
        return self


def top(score: np.ndarray, eligible: np.ndarray, k: int, noise: np.ndarray | None = None):
    """Mask of the ``k`` eligible documents with the highest score (plus ``noise``); ties go
    to the earlier document."""
    chosen = np.zeros(len(score), dtype=bool)
    candidates = np.nonzero(eligible)[0]
    k = min(k, len(candidates))
    if k:
        ranked = score[candidates] + (noise[candidates] if noise is not None else 0)
        chosen[candidates[np.lexsort((candidates, -ranked))[:k]]] = True
    return chosen


@functools.lru_cache(maxsize=4)
def _cached(read: Callable, path: str, stamp: tuple[int, ...]):
    return read(path)


def model_file(read: Callable[[str], Any], path: str) -> Any:
    """``read(path)``, once per process while the file stays the same (a worker's tasks
    share the model the reduce handed over as a file)."""
    st = os.stat(path)
    return _cached(read, path, (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))


def score_shard(
    score: Callable[[list[str]], np.ndarray], load: ShardColumns, view: str, batch: int
) -> np.ndarray:
    """``score`` over one shard's documents (their ``view``), ``batch`` texts at a time."""
    texts = shard_texts(load, view)
    parts = [score(texts[i : i + batch]) for i in range(0, len(texts), batch)]
    return np.concatenate(parts) if parts else np.zeros(0)


def shard_texts(load: ShardColumns, view: str) -> list[str]:
    """The chosen text view of every document of one shard."""
    columns = [c for c in ("text", "messages") if c in load.schema.names]
    texts: list[str] = []
    for batch in load(columns).to_batches():
        texts += text_view(batch, view)
    return texts


def fetch_texts(shards: Sequence[ShardColumns], rows: np.ndarray, view: str) -> list[str]:
    """The ``view`` of the documents at global ``rows`` (sorted: numbered shard after shard),
    read one shard at a time."""
    out: list[str] = []
    start = 0
    for load in shards:
        size = load.rows
        lo, hi = np.searchsorted(rows, [start, start + size])
        if hi > lo:
            texts = shard_texts(load, view)
            out += [texts[i - start] for i in rows[lo:hi].tolist()]
        start += size
    return out


class ScoreSelector(CorpusStage):
    decision_schema = DECISIONS

    def choose(self, score: np.ndarray, eligible: np.ndarray | None = None, noise=None):
        """The keep rule: ``min_score``, or the top ``keep_fraction``/``keep_top_k`` of the
        eligible documents by score (plus ``noise``)."""
        eligible = np.ones(len(score), dtype=bool) if eligible is None else eligible
        if self.params.min_score is not None:
            return eligible & (score >= self.params.min_score)
        return top(score, eligible, self.params.how_many(len(score)), noise)

    def decisions(self, score: np.ndarray, chosen: np.ndarray, sizes: Sequence[int], **extra):
        """One decisions table per shard: the score, any ``extra`` columns of
        ``decision_schema``, and the reason of each document not chosen."""
        out, start = [], 0
        reason = np.where(chosen, None, f"not_selected_{self.name}")
        columns = {"score": score, **extra, "reason": reason}
        for size in sizes:
            part = slice(start, start + size)
            arrays = [pa.array(columns[f.name][part], f.type) for f in self.decision_schema]
            out.append(pa.table(arrays, schema=self.decision_schema))
            start += size
        return out

    def apply(self, batch: pa.RecordBatch, offset: int, decisions: pa.Table) -> RowResult:
        """Adds ``{name}_score`` (and ``{name}_{column}`` for extra decision columns)."""
        mine = decisions.slice(offset, batch.num_rows)
        for field in self.decision_schema:
            if field.name != "reason":
                column = mine.column(field.name).combine_chunks()
                batch = put_column(batch, f"{self.name}_{field.name}", column)
        return RowResult(batch=batch, reason=mine.column("reason").combine_chunks())
