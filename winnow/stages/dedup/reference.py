"""Dedup against a reference corpus (``reference:``) and the index a run leaves for later
runs (``index: true``), for ``exact_dedup``, ``key_dedup`` and ``minhash_dedup``.

A reference is an earlier winnow run's output folder or input files (paths, folders, globs).
Its documents are numbered before the run's, so the first-occurrence and keep-order rules keep
them: a document of this run that repeats one is removed, ``duplicate_of`` naming the
reference document's id and ``reference_source`` its run folder or file. Reference documents
are never removed and never written.

Reference documents are hashed by the stage's own ``map`` (one task per ~64 MB of input) into
Arrow files holding ``id``, ``_ref_source``, the signature columns and, for ``minhash_dedup``'s
verification, the compared text. The key shuffle reads them like the run's shards, so memory
is bounded by a part, not by the reference. A run folder that holds an index of the same stage
with the same key parameters is read as it is, not hashed again; a run folder without one is
read from its ``data/``. Reference documents are compared as they were read (or, from an
index, as that run's stage saw them): this run's earlier stages do not apply to them.

With ``index: true`` the stage writes ``artifacts/NN-<stage>/index/``: ``index.json`` (format,
version, the key parameters, the parts) and Arrow parts holding every document the stage
kept plus its own reference's entries, so a chain of incremental runs dedups against all the
runs before it. An index of another version or other key parameters is refused.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
from pydantic import field_validator

from winnow.chat.view import view_array
from winnow.io.arrow_files import ShardFile, write_tables
from winnow.io.inputs import InputFile, expand, group_shards
from winnow.io.read import read_shard
from winnow.stages.base import CorpusStage, Params, RunContext, ShardColumns
from winnow.stages.dedup.drops import REFERENCE_SOURCE
from winnow.stages.select.targets import require_files

INDEX_FORMAT = "winnow-dedup-index"
INDEX_VERSION = 1
PART_BYTES = 64 << 20
"""Reference input hashed per task."""

Decide = Callable[[list[ShardColumns], int], list[pa.Table]]
"""A stage's decision over shards whose documents numbered below the int are a reference's."""


class ReferenceParams(Params):
    reference: str | list[str] | None = None
    """An earlier winnow run's output folder, or input files (paths, folders, globs): this
    run's documents that duplicate one of theirs are removed."""
    index: bool = False
    """Leave a reusable index of this stage's keys in the run's artifacts (``index/``)."""

    @field_validator("reference")
    @classmethod
    def _readable(cls, value: str | list[str] | None) -> str | list[str] | None:
        for entry in [value] if isinstance(value, str) else value or []:
            if not is_run_folder(entry):
                require_files("reference", entry)
        return value


def is_run_folder(path: str) -> bool:
    """A winnow run's output folder (its ``recipe.yaml`` and ``data/``)."""
    folder = Path(path)
    return (folder / "recipe.yaml").is_file() and (folder / "data").is_dir()


def index_key(stage: CorpusStage) -> dict:
    """What an index must have been built with to be reused by ``stage``."""
    return {name: getattr(stage.params, name) for name in stage.index_params}


def with_reference(stage: CorpusStage, shards: Sequence[ShardColumns], run: RunContext,
                   decide: Decide) -> list[pa.Table]:  # fmt: skip
    """``decide`` over the reference's parts and the run's shards; this run's tables, after
    writing the index if the stage keeps one."""
    p = stage.params
    if p.reference is None and not p.index:
        return decide(list(shards), 0)
    with _folder(run) as scratch:
        refs = reference_parts(stage, run, scratch) if p.reference is not None else []
        fixed = sum(r.rows for r in refs)
        tables = decide([*refs, *shards], fixed)[len(refs) :]
        if p.index and run.artifacts is not None:
            write_index(stage, run, refs, shards, tables)
    return tables


@contextmanager
def _folder(run: RunContext) -> Iterator[Path]:
    """Scratch beside the reduce's own (which the key shuffle removes when it is done)."""
    base = Path(run.scratch).parent if run.scratch else None
    if base is not None:
        base.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="reference-", dir=base))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def reference_parts(stage: CorpusStage, run: RunContext, scratch: Path) -> list[ShardFile]:
    """The reference's documents as shards, in the order of its entries."""
    p = stage.params
    entries = [p.reference] if isinstance(p.reference, str) else list(p.reference)
    slots: list[ShardFile | int] = []
    calls = []
    for entry in entries:
        if is_run_folder(entry):
            index = find_index(entry, stage)
            if index is not None:
                meta = orjson.loads((index / "index.json").read_bytes())
                slots += [ShardFile(str(index / name)) for name in meta["parts"]]
                continue
            files, label = expand(str(Path(entry) / "data")), entry
        else:
            files, label = expand(entry), None
        for group in group_shards(files, PART_BYTES):
            path = str(scratch / f"ref-{len(calls):05d}.arrow")
            slots.append(len(calls))
            calls.append((stage, tuple(group), label, path))
    built = run.workers.map("reference", hash_reference, calls)
    return [
        slot if isinstance(slot, ShardFile) else ShardFile(calls[slot][3])
        for slot in slots
        if isinstance(slot, ShardFile) or built[slot]
    ]


def find_index(folder: str, stage: CorpusStage) -> Path | None:
    """The run's index of this stage (the last one if it ran twice), None if it kept none;
    a ValueError if its version or key parameters differ from this stage's."""
    found = sorted(Path(folder, "artifacts").glob(f"*-{stage.name}/index/index.json"))
    problem = None
    for path in reversed(found):
        meta = orjson.loads(path.read_bytes())
        version = (meta.get("format"), meta.get("version"))
        if version != (INDEX_FORMAT, INDEX_VERSION):
            problem = (f"{path}: an index of version {version[1]!r}; this winnow reads "
                       f"version {INDEX_VERSION} (rerun that run with index: true)")  # fmt: skip
        elif meta.get("key") != _plain(index_key(stage)):
            problem = (f"{path}: built with {meta.get('key')}, this stage compares by "
                       f"{_plain(index_key(stage))}; give the same parameters or drop the "
                       "index to read that run's data/")  # fmt: skip
        else:
            return path.parent
    if problem:
        raise ValueError(f"reference: {problem}")
    return None


def _plain(key: dict) -> dict:
    return orjson.loads(orjson.dumps(key))


def hash_reference(
    stage: CorpusStage, files: tuple[InputFile, ...], label: str | None, path: str
) -> bool:
    """Hash one group of reference files into a part; False if it held no document."""
    parts = (
        _part(stage, batch.column("id"), label or f.path, stage.map(batch), batch)
        for f in files
        for batch, _ in read_shard([f])
        if batch is not None
    )
    return write_tables(path, parts) > 0


def _part(stage: CorpusStage, ids: pa.Array, label: str, signature: dict, docs) -> pa.Table:
    """An index part's rows: id, where the document is, its keys (and compared text)."""
    columns = {"id": ids, REFERENCE_SOURCE: pa.array([label] * len(ids), pa.string())}
    columns.update((name, signature[name]) for name in stage.signature_columns)
    if stage.index_text:
        columns["text"] = view_array(docs, stage.params.view).cast(pa.large_string())
    return pa.table(columns)


def write_index(stage: CorpusStage, run: RunContext, refs: Sequence[ShardFile],
                shards: Sequence[ShardColumns], tables: Sequence[pa.Table]) -> None:  # fmt: skip
    """The stage's index: its reference's parts, then every document it kept, by shard."""
    folder = Path(run.artifacts) / "index"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    parts = []
    for i, ref in enumerate(refs):
        parts.append(f"ref-{i:05d}.arrow")
        shutil.copyfile(ref.path, folder / parts[-1])
    label = str(Path(run.artifacts).parent.parent)
    calls = [
        (stage, shard, table.column("row").to_numpy(), label, str(folder / f"run-{s:05d}.arrow"))
        for s, (shard, table) in enumerate(zip(shards, tables))
    ]
    written = run.workers.map("index", index_shard, calls)
    parts += [Path(c[4]).name for c, rows in zip(calls, written) if rows]
    meta = {
        "format": INDEX_FORMAT,
        "version": INDEX_VERSION,
        "stage": stage.name,
        "key": _plain(index_key(stage)),
        "parts": parts,
        "documents": sum(r.rows for r in refs) + sum(written),
    }
    (folder / "index.json").write_bytes(orjson.dumps(meta, option=orjson.OPT_INDENT_2))


def index_shard(
    stage: CorpusStage, shard: ShardColumns, removed: np.ndarray, label: str, path: str
) -> int:
    """One shard's kept documents as an index part; how many."""
    names = ["id", *stage.signature_columns]
    if stage.index_text:
        names += ["text", "messages"] if "messages" in shard.schema.names else ["text"]
    table = shard(names)
    keep = np.ones(table.num_rows, dtype=bool)
    keep[removed] = False
    table = table.filter(pa.array(keep))
    if not table.num_rows:
        return 0
    signature = {n: table.column(n).combine_chunks() for n in stage.signature_columns}
    part = _part(stage, table.column("id").combine_chunks(), label, signature, table)
    return write_tables(path, [part])
