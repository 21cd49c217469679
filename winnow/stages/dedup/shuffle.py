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
    rows = np.flatnonzero(table.column(present).to_numpy() > 0) if present else None
    count = table.num_rows if rows is None else len(rows)
    # each set's keys side by side (one array per word, no pieces to join), then ordered
    # by partition: every array made here is new memory, which costs to touch, so few are
    set_ids = np.repeat(np.arange(len(key_sets), dtype=np.int16), count)
    words = [np.empty(count * len(key_sets), dtype=np.uint64) for _ in range(width)]
    doc = np.arange(table.num_rows, dtype=np.int64) if rows is None else rows
    doc = np.tile(doc + first_doc, len(key_sets))
    for j, names in enumerate(key_sets):
        for w, name in enumerate(names):
            values, into = table.column(name).to_numpy(), words[w][j * count : (j + 1) * count]
            if rows is None:
                into[:] = values
            else:
                np.take(values, rows, out=into)
    narrow = np.uint16 if parts <= 1 << 16 else np.uint32  # uint16: numpy's radix sort
    part = (words[0] % np.uint64(parts)).astype(narrow)
    order = np.argsort(part, kind="stable")
    cols = [c[order] for c in (set_ids, *words, doc)]
    bounds = np.zeros(parts + 1, dtype=np.int64)
    np.cumsum(np.bincount(part, minlength=parts), out=bounds[1:])
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
