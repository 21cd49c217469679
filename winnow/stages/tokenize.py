"""``tokenize``: token ids of every document with a Hugging Face ``tokenizers`` tokenizer:
a ``tokenizer.json`` (``tokenizer:``) or a byte-level BPE trained on the documents
themselves (``train_vocab:``, so nothing is downloaded). Adds ``tokens`` (list<uint32>,
closed by the end-of-text token unless ``add_eos: false``) and ``n_tokens``.

A corpus stage: reduce loads or trains the tokenizer (trained on up to ``train_docs``
documents spread evenly over the corpus), saves it as ``tokenizer.json`` with the run
(``artifacts/``) and hands it to every worker in the decision table's metadata.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
from pydantic import Field, model_validator

from winnow.stages.base import DROPS_SCHEMA, CorpusStage, Params, RowResult, ShardColumns, register
from winnow.stages.select.base import shard_texts

EOT = "<|endoftext|>"
_KEY = b"winnow.tokenizer"


class TokenizeParams(Params):
    tokenizer: str | None = None
    """A Hugging Face tokenizer.json."""
    train_vocab: int | None = Field(None, ge=300)
    """Train a byte-level BPE of this vocabulary size on the documents instead."""
    train_docs: int = Field(100_000, ge=1)
    add_eos: bool = True
    eos_token: str = EOT

    @model_validator(mode="after")
    def _one_source(self) -> TokenizeParams:
        if (self.tokenizer is None) == (self.train_vocab is None):
            raise ValueError("give tokenizer (a tokenizer.json) or train_vocab, not both")
        if self.tokenizer is not None and not Path(self.tokenizer).is_file():
            raise ValueError(f"tokenizer: no such file {self.tokenizer!r}")
        return self


@register
class Tokenize(CorpusStage):
    """Token ids of each document (Hugging Face tokenizers)."""

    name = "tokenize"
    ParamsModel = TokenizeParams
    summary = "token ids with a tokenizer.json, or a byte-level BPE trained on the data"
    origin = "Hugging Face tokenizers; byte-level BPE (Radford et al. 2019)"

    def map(self, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        return {}

    def reduce(self, shards: Sequence[ShardColumns]) -> list[pa.Table]:
        p = self.params
        if p.tokenizer is not None:
            text = Path(p.tokenizer).read_text(encoding="utf-8")
            _tokenizer(text)  # fails here, once, if the file is not a tokenizer
        else:
            text = train_bpe(_sample_texts(shards, p.train_docs), p.train_vocab, p.eos_token)
        if self.artifacts is not None:
            self.artifacts.mkdir(parents=True, exist_ok=True)
            (self.artifacts / "tokenizer.json").write_text(text, encoding="utf-8")
        schema = DROPS_SCHEMA.with_metadata({_KEY: text.encode("utf-8")})
        return [schema.empty_table() for _ in shards]

    def apply(self, batch: pa.RecordBatch, offset: int, decisions: pa.Table) -> RowResult:
        ids: list[list[int]] = []
        if batch.num_rows:
            tokenizer = _tokenizer(decisions.schema.metadata[_KEY].decode("utf-8"))
            texts = [t or "" for t in batch.column("text").to_pylist()]
            encode = getattr(tokenizer, "encode_batch_fast", tokenizer.encode_batch)
            ids = [e.ids for e in encode(texts, add_special_tokens=False)]
            if self.params.add_eos:
                eos = tokenizer.token_to_id(self.params.eos_token)
                if eos is None:
                    raise ValueError(f"the tokenizer has no token {self.params.eos_token!r}")
                ids = [row + [eos] for row in ids]
        lengths = np.fromiter(map(len, ids), np.int64, len(ids))
        offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64))
        flat = pa.array(np.fromiter((i for row in ids for i in row), np.uint32), pa.uint32())
        batch = batch.append_column("tokens", pa.LargeListArray.from_arrays(offsets, flat))
        return RowResult(batch=batch.append_column("n_tokens", pa.array(lengths)))


@lru_cache(maxsize=4)
def _tokenizer(text: str):
    from tokenizers import Tokenizer

    try:
        return Tokenizer.from_str(text)
    except Exception as err:  # tokenizers raises its own exception type
        raise ValueError(f"not a Hugging Face tokenizer.json ({err})") from err


def train_bpe(texts: Iterator[str], vocab_size: int, eos: str = EOT) -> str:
    """A byte-level BPE tokenizer (GPT-2 style) trained on ``texts``, as tokenizer.json."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[eos],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer.to_str()


def _sample_texts(shards: Sequence[ShardColumns], limit: int) -> Iterator[str]:
    """Up to ``limit`` documents evenly spaced over the corpus, in order."""
    sizes = [load(None).num_rows for load in shards]
    total = sum(sizes)
    chosen = np.unique(np.linspace(0, total - 1, min(total, limit)).astype(np.int64))
    start = 0
    for load, size in zip(shards, sizes):
        lo, hi = np.searchsorted(chosen, [start, start + size])
        if hi > lo:
            texts = shard_texts(load, "text")
            yield from (texts[i - start] for i in chosen[lo:hi].tolist())
        start += size
