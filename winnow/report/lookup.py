"""Finding documents of a finished run: in the ledger (removed), in ``data/`` (kept), and
their original text, re-read from the input record named by ``source`` (``file:record``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

from winnow.chat.formats import read_chat
from winnow.chat.view import render
from winnow.io.compression import open_binary
from winnow.io.inputs import InputError, expand
from winnow.io.read import READERS
from winnow.schema import InvalidRecord


def ledger(out: Path, **equal: str | None) -> pa.Table:
    """Ledger rows whose columns equal the given values (None: any)."""
    tables = []
    for part in sorted((out / "ledger").glob("*.parquet")):
        table = pq.read_table(part)
        for column, value in equal.items():
            if value is not None and table.num_rows:
                table = table.filter(pc.equal(table.column(column), value))
        if table.num_rows:
            tables.append(table)
    return pa.concat_tables(tables) if tables else pa.table({"id": pa.array([], pa.string())})


def _text_of(record: dict, text_field: str = "text") -> str | None:
    """A record's text: the view of its turns for a chat record, else its text field."""
    try:
        chat = read_chat(record, text_field)
    except InvalidRecord:
        chat = None
    if chat is not None:
        return render(chat[1])
    value = record.get(text_field)
    return value if value is None or isinstance(value, str) else str(value)


def kept_documents(out: Path) -> Iterator[dict]:
    """Every document of ``data/`` as a dict (meta decoded; ``text``, for a chat record the
    view of its turns)."""
    for part in sorted((out / "data").glob("part-*")):
        if part.suffix == ".parquet":
            rows = (
                {**row, "meta": orjson.loads(row["meta"]) if row.get("meta") else {}}
                for row in pq.read_table(part).to_pylist()
            )
        else:
            with open_binary(part) as fh:
                rows = [orjson.loads(line) for line in fh]
        for row in rows:
            yield {**row, "text": _text_of(row)}


def original_texts(out: Path, sources: list[str]) -> dict[str, str]:
    """The input text of each ``file:record`` source, re-read from the run's inputs."""
    recipe = yaml.safe_load((out / "recipe.yaml").read_text())
    wanted = set(sources)
    found: dict[str, str] = {}
    for entry in recipe.get("inputs", []):
        keys = ("text_field", "id_field", "text_split", "extractor")
        options = {k: entry[k] for k in keys if k in entry}
        try:
            files = expand(entry["path"], entry.get("format"), **options)
        except InputError:
            continue  # the input moved since the run
        for f in files:
            if not any(s.startswith(f.path + ":") for s in wanted):
                continue
            for record, source in READERS[f.format](f):
                if source in wanted and not isinstance(record, InvalidRecord):
                    text = _text_of(record, f.text_field) if isinstance(record, dict) else None
                    found[source] = text if text is not None else str(record)
    return found
