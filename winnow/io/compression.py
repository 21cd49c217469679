"""Open plain, gzip and zstd files as binary streams that report truncation."""

from __future__ import annotations

import io
import os
import zlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

import zstandard

from winnow.io.remote import is_url, open_url

GZIP_LEVEL = 6
ZSTD_LEVEL = 3
COMPRESSED_SUFFIXES = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd"}


def compression_of(path: str | Path) -> str | None:
    return COMPRESSED_SUFFIXES.get(Path(path).suffix.lower())


def strip_compression(name: str) -> str:
    """``a.jsonl.gz`` → ``a.jsonl``."""
    suffix = Path(name).suffix.lower()
    return name[: -len(suffix)] if suffix in COMPRESSED_SUFFIXES else name


class _Decoded(io.RawIOBase):
    """Multi-member gzip or multi-frame zstd decoded in 1 MB steps (far fewer Python calls
    than the ``gzip`` module), raising EOFError when the last member is cut short (where
    ``zstandard.stream_reader`` would stop silently). What came before the cut is returned."""

    def __init__(self, raw: BinaryIO, kind: str) -> None:
        self._raw = raw
        if kind == "gzip":
            self._new = lambda: zlib.decompressobj(wbits=31)
        else:
            self._new = zstandard.ZstdDecompressor().decompressobj
        self._obj = self._new()
        self._fed = False
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        while not self._pending:
            chunk = self._raw.read(1 << 20)
            if not chunk:
                if self._fed and not self._obj.eof:
                    raise EOFError("compressed stream ended before the end of its last member")
                return 0
            self._fed = True
            out = self._obj.decompress(chunk)
            while self._obj.eof and self._obj.unused_data:
                rest = self._obj.unused_data
                self._obj = self._new()
                out += self._obj.decompress(rest)
            self._pending = memoryview(out)
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


def open_binary(path: str | Path) -> BinaryIO:
    """Open ``path`` (a local path or an fsspec URL) for reading, decompressing by its
    extension."""
    kind = compression_of(path)
    if is_url(path):
        raw = open_url(str(path))
        return raw if kind is None else io.BufferedReader(_Decoded(raw, kind), 1 << 20)
    if kind is None:
        return open(path, "rb", buffering=1 << 20)
    return io.BufferedReader(_Decoded(open(path, "rb"), kind), buffer_size=1 << 20)


def _compress(kind: str, chunk: bytes) -> bytes:
    if kind == "gzip":
        packer = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)  # 31: gzip wrapper, mtime 0
        return packer.compress(chunk) + packer.flush()
    return zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(chunk)


class CompressedWriter:
    """A write-only binary sink. Compressed output is cut into independent 4 MB members
    (gzip members / zstd frames, which every decoder concatenates) compressed on a thread
    pool, so one file uses all cores; members are cut every 4 MB of the stream, so the bytes
    depend only on what is written, not on how it was handed over."""

    CHUNK = 4 << 20

    def __init__(self, path: str | Path, kind: str | None, threads: int | None = None) -> None:
        self._raw = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._kind = kind
        self._threads = threads or os.cpu_count() or 1
        self._pool = ThreadPoolExecutor(self._threads) if kind else None
        self._buffer: list[bytes] = []
        self._size = 0
        self._members = 0
        self._pending: deque[Future] = deque()

    def write(self, data: bytes) -> None:
        if self._pool is None:
            self._raw.write(data)
            return
        self._buffer.append(data)
        self._size += len(data)
        if self._size >= self.CHUNK:  # members cut every CHUNK bytes of the stream, whatever
            joined = b"".join(self._buffer)  # the sizes of the writes
            cut = len(joined) - len(joined) % self.CHUNK
            for at in range(0, cut, self.CHUNK):
                self._submit(joined[at : at + self.CHUNK])
            rest = joined[cut:]
            self._buffer, self._size = ([rest] if rest else []), len(rest)

    def _submit(self, chunk: bytes) -> None:
        self._pending.append(self._pool.submit(_compress, self._kind, chunk))
        self._members += 1
        while len(self._pending) > 2 * self._threads:
            self._raw.write(self._pending.popleft().result())

    def close(self) -> None:
        if self._pool is not None:
            if self._buffer or not self._members:
                self._submit(b"".join(self._buffer))
                self._buffer, self._size = [], 0
            while self._pending:
                self._raw.write(self._pending.popleft().result())
            self._pool.shutdown()
        self._raw.close()

    def __enter__(self) -> CompressedWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
