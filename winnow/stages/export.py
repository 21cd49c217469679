"""``export``: each document's ``tokens`` (from ``tokenize``) in a format trainers read, one
document per entry, in corpus order, written to the run's ``artifacts/NN-export/`` (or
``path``):

- ``megatron``: Megatron-LM's indexed dataset, ``data.bin`` + ``data.idx`` (the ``MMIDIDX``
  format), token dtype uint16 below 65,500 ids, else int32 (Megatron's rule, from the largest
  id); point ``--data-path`` at ``.../data``;
- ``hf``: a Hugging Face ``datasets`` folder (``load_from_disk``): ``id``, ``input_ids`` and,
  for chat records tokenized with a template, ``loss_mask``;
- ``mds``: MosaicML streaming's MDS (``index.json`` + ``shard.NNNNN.mds``, 64 MiB shards,
  uncompressed; ``streaming.StreamingDataset(local=...)`` reads it), one sample per
  document: ``id`` (``str``), ``input_ids`` (``ndarray:uint16`` below 65,500 ids, else
  ``ndarray:int32``, Megatron's rule) and, for chat records tokenized with a template,
  ``loss_mask`` (``ndarray:uint8``, 1 on trained tokens). Written byte for byte as
  ``streaming.MDSWriter`` writes it, without the package (its pins clash with winnow's
  extras); MDS cannot hold an empty array, so documents without tokens are left out
  (counted as ``empty``).

A sink: it reads the stream at its place and removes nothing.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow.compute as pc
from pydantic import field_validator

from winnow.extras import require
from winnow.io.mds import MDSWriter, encode_ndarray
from winnow.io.megatron import MegatronWriter, optimal_dtype
from winnow.stages.base import (
    ExampleFiles,
    Params,
    RunContext,
    ShardColumns,
    register,
    scratch_of,
)
from winnow.stages.token_sink import TokenSink, masked, max_token
from winnow.stages.tokenize import saved_tokenizer


class ExportParams(Params):
    format: Literal["megatron", "hf", "mds"]
    path: str | None = None
    """Where to write (default: the run's artifacts/ folder)."""
    tokenizer: str | None = None
    """A tokenizer.json to copy beside the data (default: the one an earlier ``tokenize``
    of this run trained and saved)."""

    @field_validator("tokenizer")
    @classmethod
    def _exists(cls, path: str | None) -> str | None:
        if path is not None and not Path(path).is_file():
            raise ValueError(f"no tokenizer file at {path!r}")
        return path


@register
class Export(TokenSink):
    """Write the documents' tokens as a Megatron indexed dataset, a Hugging Face dataset or
    MosaicML streaming's MDS."""

    name = "export"
    ParamsModel = ExportParams
    summary = "tokens as Megatron's indexed dataset (.bin/.idx), a Hugging Face dataset or MDS"
    origin = (
        "Megatron-LM indexed_dataset (MMIDIDX); Hugging Face datasets save_to_disk; "
        "MosaicML streaming MDSWriter"
    )
    example_before = (("tokenize", {"train_vocab": 300, "chat_template": "chatml"}),)
    reads = ("tokenizer",)

    @classmethod
    def examples(cls, files: ExampleFiles) -> list[dict]:
        return [{"format": "megatron"}]

    @classmethod
    def extras(cls, params: ExportParams) -> list[tuple[str, str]]:
        return [("datasets", "hf")] if params.format == "hf" else []

    def finish(self, shards: Sequence[ShardColumns], run: RunContext) -> dict:
        p = self.params
        folder = self.folder(run)
        summary = self._write(shards, folder, run)
        tokenizer = Path(p.tokenizer) if p.tokenizer else _earlier_tokenizer(run.artifacts)
        if tokenizer is not None:
            shutil.copyfile(tokenizer, folder / "tokenizer.json")
        return {**summary, "tokenizer": str(tokenizer) if tokenizer else None}

    def _write(self, shards: Sequence[ShardColumns], folder: Path, run: RunContext) -> dict:
        if self.params.format == "megatron":
            writer = MegatronWriter(folder / "data", optimal_dtype(max_token(shards) + 1))
            for shard in shards:
                for batch in shard.batches(["tokens"]):
                    tokens = batch.column(0)
                    lengths = pc.list_value_length(tokens).fill_null(0).to_numpy()
                    writer.add(pc.list_flatten(tokens).to_numpy(zero_copy_only=False), lengths)
            return writer.close()
        if self.params.format == "mds":
            return _mds(shards, folder)
        return _hf(shards, folder, run)


def _earlier_tokenizer(artifacts: Path | None) -> Path | None:
    """The tokenizer.json the last ``tokenize`` before this stage saved in the run, if any."""
    if artifacts is None or not artifacts.name[:2].isdigit():
        return None
    return saved_tokenizer(artifacts.parent.parent, before=int(artifacts.name[:2]))


def _hf(shards: Sequence[ShardColumns], folder: Path, run: RunContext) -> dict:
    datasets = require("datasets", "hf", "export format: hf")
    with_mask = masked(shards)
    features = {"id": datasets.Value("string"),
                "input_ids": datasets.Sequence(datasets.Value("int32"))}  # fmt: skip
    if with_mask:
        features["loss_mask"] = datasets.Sequence(datasets.Value("bool"))

    def rows():
        for shard in shards:
            names = ["id", "tokens", "loss_mask"] if with_mask else ["id", "tokens"]
            for batch in shard.batches(names):
                table = batch.rename_columns(["id", "input_ids", *names[2:]])
                yield from table.to_pylist()

    with scratch_of(run) as cache:
        dataset = datasets.Dataset.from_generator(
            rows, features=datasets.Features(features), cache_dir=str(cache)
        )
        dataset.save_to_disk(str(folder))
        return {"documents": dataset.num_rows, "format": "hf"}


def _mds(shards: Sequence[ShardColumns], folder: Path) -> dict:
    dtype = np.dtype(optimal_dtype(max_token(shards) + 1))
    with_mask = masked(shards)
    columns = {"id": "str", "input_ids": f"ndarray:{dtype.name}"}
    if with_mask:
        columns["loss_mask"] = "ndarray:uint8"
    writer = MDSWriter(folder, columns)  # names in order: id, input_ids, loss_mask
    empty = tokens = 0
    for shard in shards:
        names = ["id", "tokens", "loss_mask"] if with_mask else ["id", "tokens"]
        for batch in shard.batches(names):
            lengths = pc.list_value_length(batch.column(1)).fill_null(0).to_numpy()
            ends = np.cumsum(lengths)
            flat = pc.list_flatten(batch.column(1)).to_numpy(zero_copy_only=False).astype(dtype)
            if with_mask:
                bits = pc.list_flatten(batch.column(2)).to_numpy(zero_copy_only=False)
                mask = bits.astype(np.uint8)
                if len(mask) != len(flat):
                    raise ValueError("loss_mask and tokens differ in length (re-run tokenize)")
            for doc, end, n in zip(batch.column(0).to_pylist(), ends.tolist(), lengths.tolist()):
                if n == 0:
                    empty += 1
                    continue
                encoded = [str(doc).encode("utf-8"), encode_ndarray(flat[end - n : end])]
                if with_mask:
                    encoded.append(encode_ndarray(mask[end - n : end]))
                writer.add(encoded)
                tokens += n
    return {**writer.close(), "tokens": tokens, "dtype": dtype.name, "empty": empty,
            "format": "mds"}  # fmt: skip
