"""WARC and WET files (optionally gzipped), read with FastWARC.

HTML responses become text with the input's ``extractor`` (``winnow.io.html``: Resiliparse with
the page's main landmark, or Trafilatura); WET conversion records are already text. The record
URL, date, content type and the charset the page was read with go to ``meta``, the WARC record
id is the document's id; ``source`` is the file and the record's byte offset.

Every record is accounted for: a response that is not HTML is a ledger row
(``invalid_input:not_html``, named by its record id, its URL and content type in ``detail``);
``request``, ``warcinfo``, ``metadata``, ``revisit`` and other records that are not documents
by design are counted in the read stage's ``skipped`` (``stats.json``), by WARC-Type.

Pages are read in windows of consecutive records (``WINDOW_PAGES`` HTML pages, ``WINDOW_BYTES``
of their text or ``WINDOW_RECORDS`` records, whichever comes first) so that ``RepeatedLines``
can see the lines each host repeats; records leave the reader in file order, a window at a
time.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastwarc.warc import ArchiveIterator, WarcRecordType
from resiliparse.parse.encoding import bytes_to_str

from winnow.io.html import EXTRACTORS, RepeatedLines, decode, host_of
from winnow.io.inputs import InputFile, SkippedRecord
from winnow.io.remote import is_url, open_url
from winnow.schema import InvalidRecord

WINDOW_PAGES = 4096
WINDOW_BYTES = 64 << 20
WINDOW_RECORDS = 4 * WINDOW_PAGES
"""A window also ends after this many records of any kind (requests, not-HTML responses)."""


class NotHtml(InvalidRecord):
    """A response that is not an HTML page; ``record_id`` names its ledger row."""

    def __init__(self, record_id: str | None, url: str | None, content_type: str) -> None:
        super().__init__("not_html", f"{url}: {content_type or 'no Content-Type'}, not HTML")
        self.record_id = record_id


def _records(f: InputFile) -> Iterator[tuple]:
    """``(record, source, host, needs_line_pass)`` in file order."""
    extract = EXTRACTORS[f.extractor]
    records = ArchiveIterator(
        open_url(f.path) if is_url(f.path) else f.path,
        parse_http=True,
        stream_detect=True,
        fsspec_args=False,
    )
    try:
        for record in records:
            source = f"{f.path}:{record.stream_pos}"
            kind = record.record_type
            headers = record.headers
            if kind not in (WarcRecordType.response, WarcRecordType.conversion):
                name = headers.get("WARC-Type") or str(kind)
                yield SkippedRecord(name.lower()), source, None, False
                continue
            url = headers.get("WARC-Target-URI")
            meta = {"url": url, "date": headers.get("WARC-Date")}
            record_id = headers.get("WARC-Record-ID")
            body = record.reader.read()
            if kind == WarcRecordType.conversion:
                text = bytes_to_str(body, "utf-8")
                yield {"id": record_id, "text": text, "meta": meta}, source, None, False
                continue
            http = record.http_headers
            content_type = (http.get("Content-Type") or "") if http else ""
            meta["content_type"] = content_type
            if "html" not in content_type.lower():
                yield NotHtml(record_id, url, content_type), source, None, False
                continue
            html, meta["charset"] = decode(body, content_type)
            text, done = extract(html)
            doc = {"id": record_id, "text": text, "meta": meta}
            yield doc, source, host_of(url), not done
    except OSError as exc:
        yield InvalidRecord("corrupt_file", str(exc)), f"{f.path}:end", None, False


def iter_records(f: InputFile) -> Iterator:
    lines = RepeatedLines()
    window: list[tuple] = []
    pages = text_bytes = 0
    failure = None
    try:
        for item in _records(f):
            window.append(item)
            if item[2] is not None:
                pages += 1
                text_bytes += len(item[0]["text"])
            full = pages >= WINDOW_PAGES or text_bytes >= WINDOW_BYTES
            if full or len(window) >= WINDOW_RECORDS:
                yield from _flush(window, lines)
                window, pages, text_bytes = [], 0, 0
    except Exception as exc:  # the records read so far still come out, then the error
        failure = exc
    yield from _flush(window, lines)
    if failure is not None:
        raise failure


def _flush(window: list[tuple], lines: RepeatedLines) -> Iterator[tuple]:
    passed = [i for i, item in enumerate(window) if item[3]]
    trimmed = lines.trim([(window[i][2], window[i][0]["text"]) for i in passed])
    for i, text in zip(passed, trimmed):
        window[i][0]["text"] = text
    for record, source, _, _ in window:
        yield record, source
