"""Megatron-LM's indexed dataset (``megatron.core.datasets.indexed_dataset``, the
``MMIDIDX`` format): ``PREFIX.bin`` holds every document's token ids back to back,
``PREFIX.idx`` a header, each sequence's length (int32) and byte offset (int64), and the
document indices (int64; here one sequence per document)."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

MAGIC = b"MMIDIDX\x00\x00"
VERSION = 1
CODES = {np.uint8: 1, np.int8: 2, np.int16: 3, np.int32: 4, np.int64: 5, np.float64: 6,
         np.float32: 7, np.uint16: 8}  # fmt: skip


def optimal_dtype(vocab_size: int) -> type:
    """Megatron's choice: uint16 below 65,500 ids, else int32."""
    return np.uint16 if vocab_size < 65500 else np.int32


class MegatronWriter:
    """Appends documents to ``PREFIX.bin``; ``close`` writes ``PREFIX.idx`` (both under
    temporary names until then)."""

    def __init__(self, prefix: Path, dtype: type) -> None:
        self.prefix, self.dtype = Path(prefix), dtype
        self.prefix.parent.mkdir(parents=True, exist_ok=True)
        self._bin_tmp = self._tmp(".bin")
        self._bin = open(self._bin_tmp, "wb")  # noqa: SIM115 - closed in close()
        self.lengths: list[np.ndarray] = []

    def _tmp(self, suffix: str) -> Path:
        return self.prefix.with_name(f".{self.prefix.name}{suffix}.tmp-{os.getpid()}")

    def add(self, flat: np.ndarray, lengths: np.ndarray) -> None:
        """Documents whose tokens are ``flat``, cut by ``lengths``."""
        self._bin.write(np.asarray(flat, dtype=self.dtype).tobytes(order="C"))
        self.lengths.append(np.asarray(lengths, dtype=np.int32))

    def close(self) -> dict:
        self._bin.close()
        lengths = np.concatenate(self.lengths) if self.lengths else np.zeros(0, np.int32)
        size = np.dtype(self.dtype).itemsize
        pointers = np.concatenate([[0], np.cumsum(lengths.astype(np.int64))[:-1]]) * size
        documents = np.arange(len(lengths) + 1, dtype=np.int64)
        idx = self._tmp(".idx")
        with open(idx, "wb") as fh:
            fh.write(MAGIC)
            fh.write(struct.pack("<Q", VERSION))
            fh.write(struct.pack("<B", CODES[self.dtype]))
            fh.write(struct.pack("<Q", len(lengths)))
            fh.write(struct.pack("<Q", len(documents)))
            fh.write(lengths.tobytes(order="C"))
            fh.write(pointers.astype(np.int64).tobytes(order="C"))
            fh.write(documents.tobytes(order="C"))
        os.replace(self._bin_tmp, self.prefix.with_suffix(".bin"))
        os.replace(idx, self.prefix.with_suffix(".idx"))
        return {"documents": len(lengths), "tokens": int(lengths.sum()),
                "dtype": np.dtype(self.dtype).name}  # fmt: skip
