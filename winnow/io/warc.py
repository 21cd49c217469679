"""WARC and WET files (optionally gzipped), read with FastWARC.

HTML responses are turned into text with Resiliparse's main-content extractor (as used for
large web corpora); WET conversion records are already text. The record URL, date and WARC
record id go to ``meta``; ``source`` is the file and the record's byte offset.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastwarc.warc import ArchiveIterator, WarcRecordType
from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.encoding import bytes_to_str, detect_encoding

from winnow.io.inputs import InputFile
from winnow.io.remote import is_url, open_url
from winnow.schema import InvalidRecord


def iter_records(f: InputFile) -> Iterator:
    records = ArchiveIterator(
        open_url(f.path) if is_url(f.path) else f.path,
        record_types=WarcRecordType.response | WarcRecordType.conversion,
        parse_http=True,
        stream_detect=True,
        fsspec_args=False,
    )
    try:
        for record in records:
            source = f"{f.path}:{record.stream_pos}"
            headers = record.headers
            meta = {
                "url": headers.get("WARC-Target-URI"),
                "date": headers.get("WARC-Date"),
                "warc_record_id": headers.get("WARC-Record-ID"),
            }
            body = record.reader.read()
            if record.record_type == WarcRecordType.conversion:
                text = bytes_to_str(body, "utf-8")
            else:
                content_type = (
                    (record.http_headers.get("Content-Type") or "") if record.http_headers else ""
                )
                meta["content_type"] = content_type
                if "html" not in content_type.lower():
                    yield (
                        InvalidRecord("not_html", f"response is {content_type or 'untyped'}"),
                        source,
                    )
                    continue
                text = extract_plain_text(
                    bytes_to_str(body, detect_encoding(body)), main_content=True
                )
            yield {"id": meta.pop("warc_record_id"), "text": text, "meta": meta}, source
    except OSError as exc:
        yield InvalidRecord("corrupt_file", str(exc)), f"{f.path}:end"
