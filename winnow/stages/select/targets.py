"""Target-domain documents named by a selector's ``target:`` parameter."""

from __future__ import annotations

from collections.abc import Iterator

from winnow.io.inputs import InputError, InputFile, expand
from winnow.io.read import read_shard


def target_files(target: str | list[str]) -> list[InputFile]:
    """Every file a path, folder or glob (or a list of them) names; InputError if none."""
    paths = [target] if isinstance(target, str) else list(target)
    return [f for path in paths for f in expand(path)]


def require_files(param: str, paths: str | list[str]) -> None:
    """A recipe check: ``paths`` name at least one readable file, else a ValueError that
    names the parameter (a missing file fails before any work)."""
    try:
        target_files(paths)
    except InputError as err:
        raise ValueError(f"{param}: {err}") from err


def target_texts(target: str | list[str]) -> Iterator[str]:
    """The text of every valid target document (invalid records are skipped)."""
    for batch, _ in read_shard(target_files(target)):
        if batch is not None:
            yield from (t or "" for t in batch.column("text").to_pylist())


def target_records(target: str | list[str]) -> Iterator[tuple[str, str]]:
    """(id, text) of every valid document."""
    for batch, _ in read_shard(target_files(target)):
        if batch is not None:
            ids, texts = batch.column("id").to_pylist(), batch.column("text").to_pylist()
            yield from zip(ids, (t or "" for t in texts))
