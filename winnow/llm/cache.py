"""Completions cached on disk by a content hash of everything that decides them (model,
prompt template and its version, the messages with the document, sampling parameters), one
JSON file each: a rerun, ``--resume`` or ``--overwrite`` sends no request twice."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import xxhash


def request_key(model: str, template: str, messages: list[dict], params: dict) -> str:
    """The cache key of one request (a 128-bit hex digest)."""
    body = {"model": model, "template": template, "messages": messages, "params": params}
    return xxhash.xxh3_128_hexdigest(orjson.dumps(body, option=orjson.OPT_SORT_KEYS))


class RequestCache:
    """``folder/ab/cd/KEY.json``; written under a temporary name and renamed into place, so
    concurrent workers and a killed run leave only complete entries."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / key[2:4] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        try:
            return orjson.loads(self._path(key).read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            return None

    def put(self, key: str, value: dict) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{id(value)}")
        tmp.write_bytes(orjson.dumps(value, option=orjson.OPT_SORT_KEYS))
        os.replace(tmp, path)
