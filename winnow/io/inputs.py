"""Input specifications: expand paths, globs and folders into typed files, then shards."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, replace
from pathlib import Path

from winnow.io import remote
from winnow.io.compression import compression_of, strip_compression

EXTENSIONS = {
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".csv": "csv",
    ".tsv": "tsv",
    ".txt": "text",
    ".md": "text",
    ".warc": "warc",
    ".wet": "warc",
    ".arc": "warc",
}
FORMATS = ("jsonl", "parquet", "csv", "tsv", "text", "hf_disk", "warc")
EXTRACTORS = ("resiliparse", "trafilatura")
"""How a WARC reader turns HTML into text (``winnow.io.html``)."""


class InputError(Exception):
    """An input that cannot be read at all: names the file and the problem."""


@dataclass(frozen=True)
class SkippedRecord:
    """A record of an input that is no document by design (a WARC ``request`` or
    ``warcinfo`` record): counted by ``kind`` in the read stage's ``skipped``, never a
    document nor a ledger row."""

    kind: str


@dataclass(frozen=True)
class InputFile:
    path: str
    format: str
    text_field: str = "text"
    id_field: str = "id"
    text_split: str = "file"
    size: int = 0
    mtime_ns: int = 0
    """Size and modification time identify the file's content for ``--resume``."""
    start: int = 0
    end: int | None = None
    first_line: int = 1
    """A piece of a large file (``end`` None: to its end): JSON Lines bytes ``[start, end)``
    cut at line ends, whose first line is line ``first_line`` of the file; Parquet row groups
    ``[start, end)``, whose first row is row ``first_line``."""
    piece_bytes: int = 0
    """A piece's uncompressed size (0: not a piece)."""
    extractor: str = "resiliparse"
    """WARC: how HTML pages become text (one of ``EXTRACTORS``)."""


def detect_format(path: str) -> str | None:
    """The format implied by a file or folder name; None if unknown."""
    if not remote.is_url(path) and os.path.isdir(path):
        is_hf = any(
            os.path.exists(os.path.join(path, f)) for f in ("state.json", "dataset_dict.json")
        )
        return "hf_disk" if is_hf else None
    return EXTENSIONS.get(Path(strip_compression(path)).suffix.lower())


def data_name(path: str) -> str:
    """A data file's name without its format and compression suffixes
    (``web.jsonl.gz`` → ``web``): how stages name a source or a benchmark file."""
    name = Path(path).name
    for suffix in (".gz", ".zst", ".zstd", ".jsonl", ".json", ".parquet", ".csv", ".txt",
                   ".arrow"):  # fmt: skip
        name = name.removesuffix(suffix)
    return name


def _is_data_file(path: str) -> bool:
    """Not hidden (``.``) or private (``_``), and of a known format."""
    return not Path(path).name.startswith((".", "_")) and detect_format(path) is not None


def _files_under(folder: str) -> list[str]:
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        found += [os.path.join(root, f) for f in sorted(files)]
    return [f for f in found if _is_data_file(f)]


def expand(path: str, fmt: str | None = None, **options) -> list[InputFile]:
    """Expand one input entry (a file, folder or glob, local or a URL) into its files, in
    sorted order."""
    if remote.is_url(path):
        return _expand_url(path, fmt, **options)
    matches = sorted(glob.glob(path, recursive=True)) if glob.has_magic(path) else [path]
    if not matches or not all(os.path.exists(m) for m in matches):
        raise InputError(f"{path}: no such file, folder or glob match")
    out: list[InputFile] = []
    for match in matches:
        kind = fmt or detect_format(match)
        if os.path.isdir(match) and kind != "hf_disk":
            inner = _files_under(match)
            if not inner:
                raise InputError(f"{match}: folder holds no readable files")
            out += [InputFile(f, detect_format(f), **_size_mtime(f), **options) for f in inner]
            continue
        if kind is None:
            raise InputError(
                f"{match}: cannot tell the format from the name; set 'format' to one of {FORMATS}"
            )
        out.append(InputFile(match, kind, **_size_mtime(match), **options))
    return out


def _expand_url(url: str, fmt: str | None, **options) -> list[InputFile]:
    try:
        fs, path = remote.filesystem(url)
        if glob.has_magic(path):
            found = fs.glob(path, detail=True)
        else:
            found = {path: fs.info(path)} if fs.exists(path) else {}
        files: dict[str, dict] = {}
        for name, info in sorted(found.items()):
            if info.get("type") == "directory":
                inner = sorted(fs.find(name, detail=True).items())
                files.update((n, i) for n, i in inner if _is_data_file(n))
            else:
                files[name] = info
    except remote.RemoteError as err:
        raise InputError(str(err)) from err
    except OSError as err:
        raise InputError(f"{url}: cannot be listed ({err})") from err
    if not files:
        raise InputError(f"{url}: no such file, folder or glob match")
    out = []
    for name, info in sorted(files.items()):
        full = fs.unstrip_protocol(name)
        kind = fmt or detect_format(name)
        if kind is None or kind == "hf_disk":
            raise InputError(
                f"{full}: cannot tell the format from the name; set 'format' to one of "
                f"{tuple(f for f in FORMATS if f != 'hf_disk')} (hf_disk folders must be local)"
            )
        stamp = {"size": int(info.get("size") or 0), "mtime_ns": remote.modified_ns(info)}
        out.append(InputFile(full, kind, **stamp, **options))
    return out


def _size_mtime(path: str) -> dict[str, int]:
    """Bytes and latest modification time of a file, or of all files in a folder."""
    if os.path.isfile(path):
        st = os.stat(path)
        return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    stats = [os.stat(os.path.join(r, f)) for r, _, fs in os.walk(path) for f in fs]
    mtime = max((s.st_mtime_ns for s in stats), default=0)
    return {"size": sum(s.st_size for s in stats), "mtime_ns": mtime}


COMPRESSION_RATIO = 4
"""Assumed expansion of compressed inputs when sizing shards (text JSONL gzips 3-5x)."""


def estimated_bytes(f: InputFile) -> int:
    """Uncompressed size, estimated for .gz/.zst files and Parquet."""
    compressed = compression_of(f.path) or f.format == "parquet"
    return f.size * COMPRESSION_RATIO if compressed else f.size


def splittable(f: InputFile) -> bool:
    """A plain (uncompressed, local) JSON Lines file can be cut at line ends and a local
    Parquet file at row groups; a gzip or zstd stream cannot be entered in the middle, nor
    can a remote file be scanned cheaply."""
    if remote.is_url(f.path):
        return False
    return f.format == "parquet" or (f.format == "jsonl" and compression_of(f.path) is None)


def split_lines(f: InputFile, target_bytes: int, block: int = 1 << 24) -> list[InputFile]:
    """A large plain JSON Lines file as pieces of about ``target_bytes``, each ending after
    a newline, with the number of its first line (one pass over the file counting newlines)."""
    if f.format != "jsonl" or not splittable(f) or f.size <= target_bytes:
        return [f]
    pieces: list[InputFile] = []
    start, first, at, newlines = 0, 1, 0, 0
    buffer = bytearray(block)  # one buffer read into again and again (no block allocated)
    view = memoryview(buffer)
    with open(f.path, "rb") as fh:
        while at < f.size:
            want = start + target_bytes
            while at < want:
                got = fh.readinto(view[: min(block, want - at)])
                if not got:
                    break
                newlines += buffer.count(b"\n", 0, got)
                at += got
            tail = fh.readline()  # the cut moves to the end of its line
            newlines += tail.count(b"\n")
            at += len(tail)
            end = at if at < f.size else None
            pieces.append(
                replace(f, start=start, end=end, first_line=first, piece_bytes=at - start)
            )
            start, first = at, newlines + 1
    return pieces


def unsplittable(files: list[InputFile], target_bytes: int) -> list[str]:
    """Inputs larger than a shard that one task must read whole (compressed or remote)."""
    return [f.path for f in files if estimated_bytes(f) > target_bytes and not splittable(f)]


def _piece_bytes(f: InputFile) -> int:
    return f.piece_bytes or estimated_bytes(f)


def split(f: InputFile, target_bytes: int) -> list[InputFile]:
    """A file larger than a shard as pieces, where its format allows."""
    if f.format == "parquet" and splittable(f):
        from winnow.io.parquet import split_row_groups

        return split_row_groups(f, target_bytes)
    return split_lines(f, target_bytes)


def group_shards(files: list[InputFile], target_bytes: int) -> list[list[InputFile]]:
    """Consecutive files grouped into shards of about ``target_bytes`` of uncompressed input;
    a large plain JSON Lines file is cut into several (``split_lines``). Depends only on the
    inputs, never on the number of workers, so output is identical (a Parquet file is cut at
    row groups)."""
    shards: list[list[InputFile]] = []
    current: list[InputFile] = []
    size = 0
    pieces = [piece for f in files for piece in split(f, target_bytes)]
    for f in pieces:
        if current and size + _piece_bytes(f) > target_bytes:
            shards.append(current)
            current, size = [], 0
        current.append(f)
        size += _piece_bytes(f)
    if current:
        shards.append(current)
    return shards
