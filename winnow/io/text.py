"""Plain text: one document per file (``text_split: file``) or per line (``line``)."""

from __future__ import annotations

from collections.abc import Iterator

from winnow.io.compression import open_binary
from winnow.io.inputs import InputError, InputFile
from winnow.schema import InvalidRecord


def iter_records(f: InputFile) -> Iterator:
    with open_binary(f.path) as stream:
        if f.text_split == "file":
            try:
                data = stream.read()
            except EOFError as exc:
                yield InvalidRecord("truncated_file", str(exc)), f"{f.path}:1"
                return
            if not data:
                yield InvalidRecord("empty_file", "file is empty"), f"{f.path}:0"
                return
            try:
                yield {"text": data.decode("utf-8")}, f"{f.path}:1"
            except UnicodeDecodeError:
                yield InvalidRecord("utf8", "file is not valid UTF-8"), f"{f.path}:1"
            return
        lineno = 0
        try:
            for lineno, line in enumerate(stream, 1):  # noqa: B007 - lineno used after the loop
                if not line.strip():
                    continue
                try:
                    yield {"text": line.rstrip(b"\r\n").decode("utf-8")}, f"{f.path}:{lineno}"
                except UnicodeDecodeError:
                    yield InvalidRecord("utf8", "line is not valid UTF-8"), f"{f.path}:{lineno}"
        except EOFError as exc:
            if lineno == 0:
                raise InputError(f"{f.path}: truncated before the first record ({exc})") from exc
            yield InvalidRecord("truncated_file", str(exc)), f"{f.path}:{lineno + 1}"
