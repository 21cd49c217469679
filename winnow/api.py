"""The Python API: everything the CLI does.

>>> import winnow
>>> result = winnow.run({"inputs": ["docs/*.jsonl.gz"], "output": "out/",
...                      "stages": [{"normalize": {}}, {"exact_dedup": {}}]})
>>> table = winnow.apply_stage("length_filter", table, min_words=50)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from winnow.chat.edits import dumps
from winnow.chat.formats import CHAT_KEYS, read_chat, write_chat
from winnow.chat.view import render
from winnow.engine.local import RunResult, execute
from winnow.engine.passes import table_verdict
from winnow.plugins import load_entry_points
from winnow.recipe import load_recipe
from winnow.schema import DOC_SCHEMA, InvalidRecord, stable_id
from winnow.stages import REGISTRY
from winnow.stages.base import CorpusStage, Stage


def run(
    recipe: str | Path | dict,
    output: str | None = None,
    workers: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    strict: bool = False,
    progress: bool = False,
    executor: str = "local",
    address: str | None = None,
    work_dir: str | None = None,
) -> RunResult:
    """Validate and run a recipe (a YAML path or a dict). Raises ``RecipeError`` for an invalid
    recipe (nothing is written) and ``RunFailed`` for a run that stopped. ``work_dir`` puts the
    run's scratch on another disk."""
    resolved = load_recipe(recipe, output=output, work_dir=work_dir)
    return execute(resolved, workers, resume, overwrite, strict, progress, executor, address)


def estimate(recipe: str | Path | dict, output: str | None = None) -> dict:
    """What a recipe's language-model stages will ask for (``winnow run --dry-run``):
    requests, prompt tokens and completion tokens per stage, from the inputs, sending
    nothing."""
    from winnow.llm.estimate import estimate as _estimate

    return _estimate(load_recipe(recipe, output=output or "(dry run)"))


def make_stage(name: str, **params: Any) -> Stage:
    """A registered stage (built in, or from an installed plugin) with validated parameters."""
    load_entry_points()
    if name not in REGISTRY:
        raise KeyError(f"unknown stage '{name}' (known: {', '.join(sorted(REGISTRY))})")
    cls = REGISTRY[name]
    return cls(cls.ParamsModel(**params))


def _chat_columns(table: pa.Table) -> tuple[list, list[str]]:
    """Each row's ``(format, turns)`` (None for plain rows) and the columns they came from."""
    if not CHAT_KEYS & set(table.column_names):  # a plain table: no row to convert
        return [None] * table.num_rows, []
    chats, used = [], set()
    for row, record in enumerate(table.to_pylist()):
        try:
            chat = read_chat(record)
        except InvalidRecord as bad:
            raise ValueError(f"row {row}: invalid_input:{bad.reason} ({bad})") from None
        if chat is not None:
            used |= chat[2]
        chats.append(chat[:2] if chat is not None else None)
    return chats, [c for c in table.column_names if c in used]


def _as_documents(table: pa.Table) -> tuple[pa.Table, list[pa.Field]]:
    """The table as documents: the columns a plain table lacks filled in (ids, source, meta),
    chat columns (``messages``, ``conversations``, ...) read into turns (their text view in
    ``text``: the turns win) and removed. Returns the chat fields, to be written back."""
    n = table.num_rows
    chats, chat_names = _chat_columns(table)
    chat_fields = [table.schema.field(c) for c in chat_names]
    table = table.drop_columns(chat_names)
    cols = {}
    if chat_names:
        texts = table.column("text").to_pylist() if "text" in table.column_names else [None] * n
        cols["text"] = pa.array(
            [render(c[1]) if c else t for c, t in zip(chats, texts)], pa.large_string()
        )
        cols["messages"] = pa.array([dumps(c[1]) if c else None for c in chats], pa.large_string())
        cols["chat_format"] = pa.array([c[0] if c else None for c in chats], pa.string())
    elif "text" not in table.column_names:
        raise ValueError("the table needs a 'text' column or chat columns such as 'messages'")
    if "source" not in table.column_names:
        cols["source"] = pa.array([f"table:{i}" for i in range(n)], pa.string())
    if "id" not in table.column_names:
        src = cols.get("source", table.column("source") if "source" in table.column_names else None)
        cols["id"] = pa.array([stable_id(s) for s in src.to_pylist()], pa.string())
    if "meta" not in table.column_names:
        cols["meta"] = pa.array(["{}"] * n, pa.string())
    for name in ("messages", "chat_format"):
        if name not in cols:
            cols[name] = pa.nulls(n, DOC_SCHEMA.field(name).type)
    for name, col in cols.items():
        if name in table.column_names:
            table = table.drop_columns([name])
        table = table.append_column(name, col)
    schema = pa.schema(
        [
            DOC_SCHEMA.field(c) if c in DOC_SCHEMA.names else table.schema.field(c)
            for c in table.column_names
        ]
    )
    return table.cast(schema), chat_fields


def _with_chat_fields(table: pa.Table, fields: list[pa.Field]) -> pa.Table:
    """Write the (edited) turns back into the chat columns the input had, in their format."""
    if not fields:
        return table
    rows = [
        write_chat(orjson.loads(m), f) if m is not None else {}
        for m, f in zip(
            table.column("messages").to_pylist(), table.column("chat_format").to_pylist()
        )
    ]
    table = table.drop_columns(["messages", "chat_format"])
    for f in fields:
        values = [row.get(f.name) for row in rows]
        try:
            column = pa.array(values, f.type)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            column = pa.array([None if v is None else orjson.dumps(v).decode() for v in values])
        table = table.append_column(f.name, column)
    return table


def apply_stage(stage: str | Stage, data, drop: bool = False, **params: Any):
    """Apply one stage to a ``pyarrow.Table`` or a ``datasets.Dataset``, in memory.

    Returns the same kind of object with the stage's columns added plus ``keep`` (bool) and
    ``drop_reason`` (null where kept; ``duplicate_of`` too for corpus stages, and
    ``reference_source`` for a dedup against a ``reference:``). With
    ``drop=True`` the dropped rows are removed instead. Chat columns (``messages``,
    ``conversations``, ``instruction``/``output``, ...) come back in their format with every
    edit of the stage applied inside the turns."""
    stage = make_stage(stage, **params) if isinstance(stage, str) else stage
    dataset_type = None
    if not isinstance(data, pa.Table):
        dataset_type = type(data)
        data = data.data.table if hasattr(data, "data") else pa.table(data)
    table, chat_fields = _as_documents(data)
    table = table.combine_chunks()
    batch = (
        table.to_batches()[0] if table.num_rows else pa.RecordBatch.from_pylist([], table.schema)
    )
    result = table_verdict(stage, batch)
    dup = size = None
    if isinstance(stage, CorpusStage) and stage.barrier:  # duplicate_of, even if all null
        dup, size = result.duplicate_of, result.cluster_size
        if dup is None:
            dup = pa.nulls(batch.num_rows, pa.string())
            size = pa.nulls(batch.num_rows, pa.int64())
    out = _with_chat_fields(pa.Table.from_batches([result.batch]), chat_fields)
    n = out.num_rows
    keep = result.keep if result.keep is not None else pa.array([True] * n)
    reason = result.reason if result.reason is not None else pa.nulls(n, pa.string())
    out = out.append_column("keep", keep).append_column("drop_reason", reason)
    if dup is not None:
        out = out.append_column("duplicate_of", dup).append_column("cluster_size", size)
    if getattr(stage.params, "reference", None) is not None:  # from the reference, and where
        ref = result.reference_source
        out = out.append_column("reference_source", ref or pa.nulls(n, pa.string()))
    if drop:
        out = out.filter(keep).drop_columns(["keep", "drop_reason"])
    if dataset_type is not None:
        from datasets import Dataset

        return Dataset(out)
    return out
