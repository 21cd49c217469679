"""What the stages that ask a language model share: the ``llm:`` block and budget
parameters, and a reduce that plans the requests in corpus order (so ``max_requests`` and
``max_tokens`` pick the same documents on every run), sends each shard's on a worker (through
the request cache) and hands the answers to the stage's ``decide``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from winnow.chat.view import View, text_view
from winnow.llm.client import Request, Usage, complete
from winnow.llm.config import LLMConfig
from winnow.llm.prompts import Template
from winnow.schema import DOC_SCHEMA
from winnow.stages.base import (
    CorpusStage,
    ExampleFiles,
    InProcess,
    Params,
    RunContext,
    ShardColumns,
)

CHARS_PER_TOKEN = 4
"""How ``max_tokens`` and ``winnow run --dry-run`` estimate a prompt's tokens."""
LOCAL_MODEL_EXTRAS = [("torch", "llm"), ("transformers", "llm")]
"""What a local language model needs (``pip install 'winnow[llm]'``)."""
DOC_COLUMNS = ("id", "text", "source", "meta", "messages", "chat_format")


class RequestParams(Params):
    llm: LLMConfig
    view: View = "text"
    """For chat records: which view of the conversation the prompt shows."""
    max_requests: int | None = Field(None, ge=1)
    """At most this many requests (cached ones included): documents are taken in corpus
    order, the rest pass unasked (``over_budget`` in ``stats.json``)."""
    max_tokens: int | None = Field(None, ge=1)
    """At most this many tokens, prompt and completion, estimated before any request
    (``request_costs``: prompt characters / 4 + ``llm.max_tokens`` each)."""
    on_failure: Literal["drop", "flag"] = "drop"
    """An answer that cannot be used (a failed request after its retries, an empty or
    truncated answer, a refusal, one that does not parse): ``drop`` puts the document in the
    ledger with the reason; ``flag`` keeps it, with the reason in ``{stage}_error``."""


def example_llm(files: ExampleFiles) -> dict:
    """An ``llm:`` block for the tests over every stage: a server that is never asked (the
    examples run on documents too few to reach it, or are checked without running)."""
    return {"base_url": "http://127.0.0.1:9/v1", "model": "example", "max_retries": 0}


class RequestStage(CorpusStage):
    """A corpus stage whose reduce asks the model about documents of every shard."""

    @classmethod
    def extras(cls, params: Params) -> list[tuple[str, str]]:
        local = params.llm.local  # type: ignore[attr-defined]
        return LOCAL_MODEL_EXTRAS if local else []

    def template(self) -> Template:
        raise NotImplementedError

    def prompt_text(self, text: str) -> str:
        """The document as the prompt shows it."""
        return text

    def targets(self, shards: Sequence[ShardColumns], run: RunContext) -> list[Target]:
        """Per shard, the documents to ask about: by default every row of the shard."""
        return [Target(load.rows, ((load, np.arange(load.rows)),)) for load in shards]

    def decide(self, target: Target, docs: pa.Table, answers: list) -> pa.Table:
        """One shard's decisions from the answers about its target documents (``docs``:
        their document columns, in order; an answer is None where the budget left the
        document out)."""
        raise NotImplementedError

    def map(self, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        return {}  # the reduce reads the documents itself

    def reduce(self, shards: Sequence[ShardColumns], run: RunContext) -> list[pa.Table]:
        targets = self.targets(shards, run)
        asked = self._budget(targets)
        # a server: every worker sends its shards' requests; a local model: one copy, in
        # this process, its batches (on a GPU, or torch's threads) the parallelism
        workers = InProcess() if self.params.llm.local else run.workers
        share = max(1, min(workers.count, len(targets)))
        calls = [(self, t, a, share) for t, a in zip(targets, asked)]
        results = workers.map(f"{self.name} requests", ask_shard, calls)
        usage = Usage(over_budget=sum(len(a) - int(a.sum()) for a in asked))
        for _, used in results:
            usage.add(Usage.from_json(used))
        run.llm = usage.to_json()
        return [table for table, _ in results]

    def _budget(self, targets: list[Target]) -> list[np.ndarray]:
        """Per shard, which target documents are asked within ``max_requests`` and
        ``max_tokens``, counted in corpus order: once a document does not fit, no later
        one is asked."""
        p = self.params
        template = self.template()
        requests_left, tokens_left, spent = p.max_requests, p.max_tokens, False
        out = []
        for target in targets:
            asked = np.zeros(target.count, dtype=bool)
            if not spent:
                sizes = target.text_lengths() if p.max_tokens is not None else 0
                cost = request_costs(template, sizes, p.llm.max_tokens, target.count)
                n = within_budget(cost, requests_left, tokens_left)
                asked[:n] = True
                spent = n < target.count
                requests_left = None if requests_left is None else requests_left - n
                tokens_left = None if tokens_left is None else tokens_left - cost[:n].sum()
            out.append(asked)
        return out


def request_costs(template: Template, sizes, max_tokens: int, count: int) -> np.ndarray:
    """The tokens each request is estimated to cost: its prompt's characters (the document
    cut at ``max_doc_chars``) / 4, plus the ``max_tokens`` its answer may take."""
    chars = np.minimum(sizes, template.max_doc_chars) + len(template.prompt)
    chars = chars + len(template.system or "")
    return np.broadcast_to(chars / CHARS_PER_TOKEN + max_tokens, (count,)).astype(np.float64)


def within_budget(cost: np.ndarray, requests_left: int | None, tokens_left: float | None) -> int:
    """How many of the next requests, in order, fit the budget left."""
    n = len(cost)
    if requests_left is not None:
        n = min(n, requests_left)
    if tokens_left is not None:
        n = min(n, int(np.searchsorted(np.cumsum(cost), tokens_left, side="right")))
    return n


@dataclass(frozen=True)
class Target:
    """One shard's documents to ask about: ``pieces`` of (documents, rows) in order (the
    shard itself, or the documents earlier stages removed from it); ``shard_rows``: how many
    rows the shard has (its decisions table's length)."""

    shard_rows: int
    pieces: tuple[tuple[ShardColumns, np.ndarray], ...]

    @property
    def count(self) -> int:
        return sum(len(rows) for _, rows in self.pieces)

    def text_lengths(self) -> np.ndarray:
        """The character length of each target document's text."""
        parts = [
            pc.utf8_length(load(["text"]).column("text").take(pa.array(rows, pa.int64())))
            .to_numpy(zero_copy_only=False)
            for load, rows in self.pieces
        ]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def documents(self) -> pa.Table:
        """The document columns of the target rows, in order."""
        parts = []
        for load, rows in self.pieces:
            names = [c for c in DOC_COLUMNS if c in load.schema.names]
            table = load(names).take(pa.array(rows, pa.int64()))
            for f in DOC_SCHEMA:
                if f.name not in table.schema.names:
                    table = table.append_column(f.name, pa.nulls(table.num_rows, f.type))
            parts.append(table.select(list(DOC_COLUMNS)).cast(DOC_SCHEMA))
        return pa.concat_tables(parts) if parts else DOC_SCHEMA.empty_table()


def ask_shard(stage: RequestStage, target: Target, asked: np.ndarray, share: int):
    """A worker's task: the requests about one shard's documents, then the stage's
    decisions on them and what they cost."""
    docs = target.documents()
    template = stage.template()
    chosen = np.nonzero(asked)[0]
    picked = docs.take(pa.array(chosen, pa.int64()))
    texts = [t for b in picked.to_batches() for t in text_view(b, stage.params.view)]
    requests = [Request(template.tag, template.messages(stage.prompt_text(t))) for t in texts]
    made, usage = complete(stage.params.llm, requests, share)
    answers: list = [None] * docs.num_rows
    for j, answer in zip(chosen.tolist(), made):
        answers[j] = answer
    return stage.decide(target, docs, answers), usage.to_json()
