"""Inputs and outputs at fsspec URLs (``s3://``, ``gs://``, ``az://``, ``hf://``, ...).

Inputs are listed and read through the URL's fsspec filesystem. An output URL is staged:
the run works in a local folder (checkpoints, resume) and, once finished and checked, its
files are uploaded, ``stats.json`` last, so a URL holding ``stats.json`` holds a whole run.
S3 needs ``pip install 'winnow[s3]'`` (s3fs); credentials and endpoint come from the usual
environment (``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL``, ...).
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import xxhash

PACKAGES = {
    "s3": "'winnow[s3]'",
    "s3a": "'winnow[s3]'",
    "gs": "gcsfs",
    "gcs": "gcsfs",
    "az": "adlfs",
    "abfs": "adlfs",
}
"""What to install for a URL scheme whose fsspec filesystem is missing."""


class RemoteError(Exception):
    """A URL that cannot be used: names the URL and the problem."""


def is_url(path: str | os.PathLike) -> bool:
    """True for ``scheme://...`` paths other than ``file://``."""
    text = str(path)
    return "://" in text and not text.startswith("file://")


def filesystem(url: str):
    """``(fsspec filesystem, path within it)`` for a URL, without stale listings cached
    from earlier calls; a clear message when the filesystem's package is missing."""
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(url)
        fs.invalidate_cache(path)
        return fs, path
    except (ImportError, ValueError) as err:
        scheme = url.split("://", 1)[0]
        package = PACKAGES.get(scheme)
        hint = f": pip install {package}" if package else f" ({err})"
        raise RemoteError(f"{url}: cannot open {scheme}:// URLs{hint}") from err


def open_url(url: str) -> BinaryIO:
    fs, path = filesystem(url)
    return fs.open(path, "rb", block_size=1 << 22)


def modified_ns(info: dict) -> int:
    """A listing entry's modification time (or content tag) as an integer, for resume."""
    for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(key)
        if isinstance(value, datetime):
            return int(value.timestamp() * 1e9)
        if isinstance(value, (int, float)):
            return int(value * 1e9)
        if isinstance(value, str) and value:
            return xxhash.xxh3_64_intdigest(value.encode()) >> 1
    tag = info.get("ETag") or info.get("etag") or ""
    return xxhash.xxh3_64_intdigest(str(tag).encode()) >> 1


def staging_folder(url: str) -> Path:
    """The local folder where a run for an output URL works (``WINNOW_CACHE``)."""
    cache = Path(os.environ.get("WINNOW_CACHE", Path.home() / ".cache" / "winnow"))
    return cache / "runs" / xxhash.xxh3_64_hexdigest(url.rstrip("/").encode())


def holds_files(url: str) -> bool:
    fs, path = filesystem(url)
    return fs.exists(path) and bool(fs.find(path))


def holds_run(url: str) -> bool:
    """Whether the URL holds (part of) a winnow run's output."""
    fs, path = filesystem(url)
    return any(fs.exists(f"{path.rstrip('/')}/{name}") for name in ("recipe.yaml", "stats.json"))


def remove(url: str) -> None:
    fs, path = filesystem(url)
    if fs.exists(path):
        fs.rm(path, recursive=True)


def upload(folder: Path, url: str) -> None:
    """Copy the finished run in ``folder`` to ``url``; ``stats.json`` goes last."""
    fs, root = filesystem(url)
    root = root.rstrip("/")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and "_work" not in p.parts)
    files.sort(key=lambda p: p.name == "stats.json")
    for path in files:
        fs.put_file(str(path), f"{root}/{path.relative_to(folder).as_posix()}")
