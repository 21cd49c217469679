"""Key shuffle: every shard's keys split into partitions by hash, so that one task per
partition sees every document that shares a key (the shuffle of a MapReduce join).

One task per shard writes an Arrow file holding one record batch per partition (columns:
``set`` (which key set: a MinHash band), the key's 64-bit words, ``doc`` (global number in
input order)); one task per partition then reads its batch from every shard file
(memory-mapped) and sorts it. Each key is read once and written once; a task holds one
shard's keys or one partition, never the corpus. Partitions come from the key's first
word, a well-mixed hash, so they are even.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from winnow.stages.base import RunContext, ShardColumns

PARTITION_KEYS = 4_000_000
"""Keys per partition (about 100 MB to sort)."""


@dataclass(frozen=True)
class Shuffled:
    offsets: np.ndarray
    """Global number of each shard's first document (and the total at the end)."""
    paths: tuple[str, ...]
    parts: int


def shard_offsets(shards: Sequence[ShardColumns]) -> np.ndarray:
    sizes = [load.rows for load in shards]
    return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


def shuffle(
    run: RunContext,
    shards: Sequence[ShardColumns],
    key_sets: Sequence[Sequence[str]],
    folder: Path,
    present: str | None = None,
) -> Shuffled:
    """Partition the keys of every shard; ``key_sets`` each name the uint64 columns of one
    key (all sets the same width); rows whose ``present`` column is 0 take no part."""
    offsets = shard_offsets(shards)
    keys = int(offsets[-1]) * len(key_sets)
    parts = max(2 * run.workers.count, math.ceil(keys / PARTITION_KEYS)) if keys else 0
    sets = tuple(tuple(s) for s in key_sets)
    paths = tuple(str(folder / f"keys-{s:05d}.arrow") for s in range(len(shards)))
    calls = [
        (load, sets, present, int(offsets[s]), parts, paths[s]) for s, load in enumerate(shards)
    ]
    if parts:
        run.workers.map("shuffle", partition_shard, calls)
        run.shuffled_bytes += sum(os.path.getsize(p) for p in paths)
    return Shuffled(offsets, paths, parts)


def partition_shard(
    load: ShardColumns,
    key_sets: tuple[tuple[str, ...], ...],
    present: str | None,
    first_doc: int,
    parts: int,
    path: str,
) -> None:
    """Write one shard's keys, one record batch per partition."""
    width = len(key_sets[0])
    columns = sorted({c for s in key_sets for c in s} | ({present} if present else set()))
    table = load(columns)
    docs = np.arange(table.num_rows, dtype=np.int64) + first_doc
    rows = np.nonzero(table.column(present).to_numpy() > 0)[0] if present else None
    set_ids, words, doc = [], [[] for _ in range(width)], []
    for j, names in enumerate(key_sets):
        for w, name in enumerate(names):
            values = table.column(name).to_numpy()
            words[w].append(values if rows is None else values[rows])
        doc.append(docs if rows is None else docs[rows])
        set_ids.append(np.full(len(doc[-1]), j, dtype=np.int16))
    cols = [np.concatenate(set_ids), *(np.concatenate(w) for w in words), np.concatenate(doc)]
    part = cols[1] % np.uint64(parts)
    narrow = np.uint16 if parts <= 1 << 16 else np.uint32  # uint16: numpy's radix sort
    order = np.argsort(part.astype(narrow), kind="stable")
    cols = [c[order] for c in cols]
    bounds = np.zeros(parts + 1, dtype=np.int64)
    np.cumsum(np.bincount(part.astype(np.intp), minlength=parts), out=bounds[1:])
    names = ["set", *(f"k{w}" for w in range(width)), "doc"]
    schema = pa.schema([(n, pa.from_numpy_dtype(c.dtype)) for n, c in zip(names, cols)])
    tmp = f"{path}.tmp-{os.getpid()}"
    with pa.OSFile(tmp, "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
        for p in range(parts):
            lo, hi = bounds[p], bounds[p + 1]
            writer.write_batch(pa.record_batch([pa.array(c[lo:hi]) for c in cols], schema))
    os.replace(tmp, path)


def read_partition(paths: Sequence[str], part: int) -> list[np.ndarray]:
    """Partition ``part`` from every shard file: ``set``, key words..., ``doc``."""
    batches = []
    for path in paths:
        with pa.memory_map(path) as source:
            batches.append(pa.ipc.open_file(source).get_batch(part))
    table = pa.Table.from_batches(batches)
    return [np.asarray(table.column(i).to_numpy()) for i in range(table.num_columns)]


def concat(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """The tasks' arrays end to end (int64 when there are none)."""
    return np.concatenate(arrays) if arrays else np.zeros(0, np.int64)
