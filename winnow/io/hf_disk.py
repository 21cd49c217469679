"""A folder written by Hugging Face ``datasets`` ``save_to_disk`` (Dataset or DatasetDict).

The folder holds Arrow stream files listed in ``state.json``; they are read with pyarrow
directly, so ``datasets`` itself is not needed to read them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pyarrow as pa

from winnow.io.inputs import InputError, InputFile
from winnow.io.tabular import iter_table_records


def _arrow_files(folder: str) -> list[tuple[str | None, str]]:
    """``(split, arrow file)`` pairs in the order the dataset lists them."""
    dict_file = os.path.join(folder, "dataset_dict.json")
    if os.path.exists(dict_file):
        with open(dict_file) as fh:
            splits = json.load(fh)["splits"]
        return [(s, f) for s in splits for _, f in _arrow_files(os.path.join(folder, s))]
    with open(os.path.join(folder, "state.json")) as fh:
        state = json.load(fh)
    return [(None, os.path.join(folder, d["filename"])) for d in state["_data_files"]]


def iter_records(f: InputFile) -> Iterator:
    try:
        files = _arrow_files(f.path)
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(f"{f.path}: not a datasets save_to_disk folder ({exc})") from exc
    for split, path in files:
        try:
            reader = pa.ipc.open_stream(pa.memory_map(path))
        except (OSError, pa.ArrowInvalid) as exc:
            raise InputError(f"{path}: unreadable Arrow file ({exc})") from exc
        for record, source in iter_table_records(path, reader):
            if split is not None:
                record.setdefault("split", split)
            yield record, source
