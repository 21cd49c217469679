"""Open plain, gzip and zstd files as binary streams that report truncation."""

from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import BinaryIO

import zstandard

COMPRESSED_SUFFIXES = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd"}


def compression_of(path: str | Path) -> str | None:
    return COMPRESSED_SUFFIXES.get(Path(path).suffix.lower())


def strip_compression(name: str) -> str:
    """``a.jsonl.gz`` → ``a.jsonl``."""
    suffix = Path(name).suffix.lower()
    return name[: -len(suffix)] if suffix in COMPRESSED_SUFFIXES else name


class _ZstdRaw(io.RawIOBase):
    """Multi-frame zstd decoding that raises EOFError when the last frame is cut short
    (``zstandard.stream_reader`` silently returns what it has)."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._dctx = zstandard.ZstdDecompressor()
        self._obj = self._dctx.decompressobj()
        self._fed = False
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        while not self._pending:
            chunk = self._raw.read(1 << 20)
            if not chunk:
                if self._fed and not self._obj.eof:
                    raise EOFError("zstd stream ended before the end of its last frame")
                return 0
            self._fed = True
            out = self._obj.decompress(chunk)
            while self._obj.eof and self._obj.unused_data:
                rest = self._obj.unused_data
                self._obj = self._dctx.decompressobj()
                out += self._obj.decompress(rest)
            self._pending = out
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


def open_binary(path: str | Path) -> BinaryIO:
    """Open ``path`` for reading, decompressing by its extension."""
    kind = compression_of(path)
    if kind == "gzip":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if kind == "zstd":
        return io.BufferedReader(_ZstdRaw(open(path, "rb")), buffer_size=1 << 20)
    return open(path, "rb", buffering=1 << 20)


class CompressedWriter:
    """A write-only binary sink with deterministic compression (gzip mtime 0, no name)."""

    def __init__(self, path: str | Path, kind: str | None) -> None:
        self._raw = open(path, "wb")  # noqa: SIM115 - closed in close()
        if kind == "gzip":
            self._out = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0)
        elif kind == "zstd":
            self._out = zstandard.ZstdCompressor(level=3).stream_writer(self._raw, closefd=False)
        else:
            self._out = self._raw

    def write(self, data: bytes) -> None:
        self._out.write(data)

    def close(self) -> None:
        if self._out is not self._raw:
            self._out.close()
        self._raw.flush()
        self._raw.close()

    def __enter__(self) -> CompressedWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
