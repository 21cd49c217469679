"""MosaicML streaming's MDS format (``streaming.MDSWriter``, version 2, uncompressed, no
hashes), written without the ``mosaicml-streaming`` package, byte for byte as its writer
does (``streaming/base/format/mds/writer.py`` and ``base/writer.py``, 0.13):

- ``shard.NNNNN.mds``: the sample count (uint32), ``count + 1`` byte offsets of the samples
  (uint32, from the file's start), the writer's configuration (JSON, sorted keys), then the
  samples; a sample is the byte size of each variable-size column (uint32, columns in name
  order) followed by each column's bytes;
- ``index.json``: ``{"shards": [...], "version": 2}``, one entry per shard (its file, size,
  sample count and the configuration).

Encodings used here: ``str`` (UTF-8) and ``ndarray:DTYPE`` (a 1-D array of a dtype fixed in
the column's encoding: one byte ``ndim << 2 | shape width``, the shape in the smallest of
uint8/16/32/64 that holds it, then the values). A shard is closed before the sample that
would take it past ``size_limit`` bytes (counting 4 bytes per sample and the header), as
streaming does. Read it with ``streaming.StreamingDataset(local=FOLDER)``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

SIZE_LIMIT = 1 << 26  # streaming's default shard size (64 MiB)
_SHAPE_DTYPES = ((1 << 8, np.uint8, 0), (1 << 16, np.uint16, 1), (1 << 32, np.uint32, 2))
_VALUE_DTYPES = {"uint8", "int8", "uint16", "int16", "float16", "uint32", "int32", "float32",
                 "uint64", "int64", "float64"}  # fmt: skip


def encode_ndarray(values: np.ndarray) -> bytes:
    """A non-empty 1-D array as streaming's ``ndarray:DTYPE`` encodes it (dtype in the
    column's encoding, shape in the sample)."""
    n = len(values)
    if n == 0:
        raise ValueError("MDS cannot hold an empty array")
    for bound, dtype, code in _SHAPE_DTYPES:
        if n < bound:
            return bytes([1 << 2 | code]) + np.array([n], dtype).tobytes() + values.tobytes()
    return bytes([1 << 2 | 3]) + np.array([n], np.uint64).tobytes() + values.tobytes()


class MDSWriter:
    """Samples of fixed columns (``{name: "str" | "ndarray:DTYPE"}``, every column of
    variable size) appended to shards in ``folder``; ``close`` writes ``index.json``. Shards
    are written under temporary names and renamed, the index last."""

    def __init__(self, folder: Path, columns: dict[str, str], size_limit: int = SIZE_LIMIT):
        for name, encoding in columns.items():
            kind, _, dtype = encoding.partition(":")
            if not (encoding == "str" or (kind == "ndarray" and dtype in _VALUE_DTYPES)):
                raise ValueError(f"unsupported MDS encoding {encoding!r} for column {name!r}")
        if not 0 < size_limit < 1 << 32:
            raise ValueError("size_limit must be above 0 and below 2**32 (uint32 offsets)")
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.names = sorted(columns)
        self.encodings = [columns[n] for n in self.names]
        self.config = {
            "version": 2, "format": "mds", "compression": None, "hashes": [],
            "size_limit": size_limit, "column_names": self.names,
            "column_encodings": self.encodings, "column_sizes": [None] * len(self.names),
        }  # fmt: skip
        self.config_data = json.dumps(self.config, sort_keys=True).encode("utf-8")
        self.size_limit = size_limit
        self.shards: list[dict] = []
        self.samples = 0
        self._reset()

    def _reset(self) -> None:
        self._cache: list[bytes] = []
        self._size = 4 + 4 + len(self.config_data)

    def add(self, encoded: list[bytes]) -> None:
        """One sample: each column's encoded bytes, in ``self.names`` order."""
        sample = np.array([len(e) for e in encoded], "<u4").tobytes() + b"".join(encoded)
        size = len(sample) + 4
        if self.size_limit < self._size + size:
            self._flush()  # (on an empty shard too, as streaming does)
        self._cache.append(sample)
        self._size += size
        self.samples += 1

    def _flush(self) -> None:
        n = len(self._cache)
        offsets = np.concatenate([[0], np.cumsum([len(s) for s in self._cache], dtype=np.int64)])
        offsets += 4 + 4 * (n + 1) + len(self.config_data)
        data = b"".join([np.array([n], "<u4").tobytes(), offsets.astype("<u4").tobytes(),
                         self.config_data, *self._cache])  # fmt: skip
        basename = f"shard.{len(self.shards):05}.mds"
        self._replace(data, basename)
        raw = {"basename": basename, "bytes": len(data), "hashes": {}}
        self.shards.append({"samples": n, "raw_data": raw, "zip_data": None, **self.config})
        self._reset()

    def _replace(self, data: bytes, basename: str) -> None:
        tmp = self.folder / f".{basename}.tmp-{os.getpid()}"
        tmp.write_bytes(data)
        os.replace(tmp, self.folder / basename)

    def close(self) -> dict:
        if self._cache:
            self._flush()
        index = json.dumps({"version": 2, "shards": self.shards}, sort_keys=True)
        self._replace(index.encode("utf-8"), "index.json")
        kept = {s["raw_data"]["basename"] for s in self.shards}
        for stale in self.folder.glob("shard.*.mds"):  # from an earlier, longer write
            if stale.name not in kept:
                stale.unlink()
        return {"documents": self.samples, "shards": len(self.shards)}
