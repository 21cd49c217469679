"""CSV and TSV (optionally compressed): a header row, every column read as a string."""

from __future__ import annotations

import csv as pycsv
import io
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.csv as pcsv

from winnow.io.compression import open_binary
from winnow.io.inputs import InputError, InputFile
from winnow.schema import InvalidRecord


def iter_records(f: InputFile) -> Iterator:
    delimiter = "\t" if f.format == "tsv" else ","
    try:
        with open_binary(f.path) as raw:
            header = next(pycsv.reader(io.TextIOWrapper(raw, "utf-8"), delimiter=delimiter), None)
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise InputError(f"{f.path}: cannot read the CSV header ({exc})") from exc
    if not header:
        yield InvalidRecord("empty_file", "no header row"), f"{f.path}:0"
        return
    bad_rows: list[tuple[int | None, int]] = []

    def on_invalid(row: pcsv.InvalidRow) -> str:
        bad_rows.append((row.number, row.actual_columns))
        return "skip"

    try:
        reader = pcsv.open_csv(
            f.path,
            read_options=pcsv.ReadOptions(use_threads=False, block_size=8 << 20),
            parse_options=pcsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=True, invalid_row_handler=on_invalid
            ),
            convert_options=pcsv.ConvertOptions(
                column_types={name: pa.string() for name in header}, strings_can_be_null=False
            ),
        )
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError(f"{f.path}: not a readable CSV file ({exc})") from exc
    row = 0
    for batch in reader:
        for record in batch.to_pylist():
            yield record, f"{f.path}:{row}"
            row += 1
        while bad_rows:
            number, got = bad_rows.pop(0)
            where = number if number is not None else f"row~{row}"
            yield (
                InvalidRecord("csv_row", f"{got} columns, expected {len(header)}"),
                f"{f.path}:{where}",
            )
