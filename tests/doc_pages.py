"""Real documentation HTML as a web crawl: Debian's ``rust-doc`` package (the Rust book and the
other mdBook books, and the standard library's API pages by rustdoc) written as WARC records,
and the token overlap of extracted text with each page's main-content element.

The reference of a page is the text of its main-content element: ``<main>`` in an mdBook page,
``<section id="main-content">`` in a rustdoc page (read with lxml, block elements on lines of
their own, scripts and styles left out; alt texts are attributes, not text). Precision and
recall are the multiset overlap of lowercased word tokens (``\\w+``) of the extracted text
with the reference's, over its tokens and over the reference's.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

RUST_DOC = Path("/usr/share/doc/rust-doc/html")
MDBOOKS = ("book", "edition-guide", "embedded-book", "nomicon", "reference", "rust-by-example",
           "rustc", "rustdoc", "unstable-book")  # fmt: skip
API_DOCS = ("std", "alloc", "proc_macro", "test")
SITE = "https://doc.rust-lang.org/stable"


def html_root() -> Path:
    """The package's HTML folder; an AssertionError saying how to install it if absent."""
    if not (RUST_DOC / "book").is_dir() or not (RUST_DOC / "std").is_dir():
        raise AssertionError(
            f"{RUST_DOC} not found: install Debian's rust-doc package "
            "(apt-get install rust-doc; .ci/run does)"
        )
    return RUST_DOC


@dataclass
class Page:
    rel: str  # path under the package's HTML folder
    kind: str  # "mdbook" or "rustdoc"
    html: bytes

    @property
    def url(self) -> str:
        return f"{SITE}/{self.rel}"


def _kind(head: bytes) -> str | None:
    if b"Book generated using mdBook" in head:
        return "mdbook"
    if b'content="rustdoc"' in head and b'http-equiv="refresh"' not in head:
        return "rustdoc"
    return None


def _candidates(root: Path, folders: tuple[str, ...], kind: str) -> list[Path]:
    found = []
    for folder in folders:
        for path in sorted((root / folder).rglob("*.html")):
            with open(path, "rb") as fh:
                if _kind(fh.read(4096)) == kind:
                    found.append(path)
    return found


def pages(n_mdbook: int, n_rustdoc: int, root: Path | None = None) -> list[Page]:
    """Pages spread evenly over the sorted paths of each kind, each with its reference
    element (a page without one is left out)."""
    root = root or html_root()
    chosen = []
    for kind, folders, n in (("mdbook", MDBOOKS, n_mdbook), ("rustdoc", API_DOCS, n_rustdoc)):
        paths = _candidates(root, folders, kind)
        assert len(paths) >= n, f"only {len(paths)} {kind} pages under {root}"
        chosen += [(kind, paths[i * len(paths) // n]) for i in range(n)]
    return _read(root, chosen)


def crawl_pages(n: int, root: Path | None = None) -> list[Page]:
    """``n`` pages: half mdBook (all there are, if fewer), the rest rustdoc."""
    root = root or html_root()
    books = _candidates(root, MDBOOKS, "mdbook")
    n_books = min(n // 2, len(books))
    api = _candidates(root, API_DOCS, "rustdoc")
    chosen = [("mdbook", books[i * len(books) // n_books]) for i in range(n_books)]
    chosen += [("rustdoc", api[i * len(api) // (n - n_books)]) for i in range(n - n_books)]
    return _read(root, chosen)


def _read(root: Path, chosen: list[tuple[str, Path]]) -> list[Page]:
    out = []
    for kind, path in chosen:
        page = Page(str(path.relative_to(root)), kind, path.read_bytes())
        if reference_element(page) is not None:
            out.append(page)
    return out


def reference_element(page: Page, html: bytes | None = None):
    import lxml.html

    tree = lxml.html.fromstring(html or page.html)
    found = tree.xpath("//main" if page.kind == "mdbook" else '//section[@id="main-content"]')
    return found[0] if found else None


BLOCK = {
    "address", "article", "aside", "blockquote", "br", "button", "dd", "details", "dialog",
    "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3",
    "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section",
    "summary", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
}  # fmt: skip
UNSEEN = {"script", "style", "noscript", "template"}


def element_text(element) -> str:
    """An element's text as a browser lays it out: block elements on lines of their own."""
    out: list[str] = []

    def walk(e) -> None:
        tag = e.tag if isinstance(e.tag, str) else ""
        if tag not in UNSEEN:
            block = tag in BLOCK
            out.append("\n" if block else "")
            if tag and e.text:
                out.append(e.text)
            for child in e:
                walk(child)
                if child.tail:
                    out.append(child.tail)
            out.append("\n" if block else "")

    walk(element)
    return "".join(out)


def reference_text(page: Page) -> str:
    return element_text(reference_element(page))


TOKEN = re.compile(r"\w+")


def tokens(text: str) -> Counter:
    return Counter(TOKEN.findall(text.lower()))


def overlap(extracted: str, reference: str) -> tuple[int, int, int]:
    """``(common, extracted, reference)`` token counts."""
    e, r = tokens(extracted), tokens(reference)
    return sum((e & r).values()), sum(e.values()), sum(r.values())


def scores(pairs: list[tuple[str, str]]) -> dict[str, float]:
    """Precision and recall of ``(extracted, reference)`` pairs over all their tokens, and
    the means over pages (``page_precision`` over the pages with some text extracted)."""
    counts = [overlap(x, r) for x, r in pairs]
    common = sum(c[0] for c in counts)
    some = [c for c in counts if c[1]]
    return {
        "precision": common / max(1, sum(c[1] for c in counts)),
        "recall": common / max(1, sum(c[2] for c in counts)),
        "page_precision": sum(c[0] / c[1] for c in some) / max(1, len(some)),
        "page_recall": sum(c[0] / max(1, c[2]) for c in counts) / max(1, len(counts)),
    }


@dataclass
class Response:
    url: str
    body: bytes
    content_type: str
    payload_type: str = "text/html"


def write_warc(path: Path, responses: list[Response], metadata_every: int = 0) -> dict:
    """A gzipped WARC as a crawler writes it: a ``warcinfo`` record, then for each response
    its ``request`` record and the ``response`` (and a ``metadata`` record every
    ``metadata_every`` responses). Returns the record ids of the responses by URL."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    ids = {}
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        writer.write_record(writer.create_warcinfo_record(
            path.name, {"software": "winnow tests", "format": "WARC File Format 1.1"}))  # fmt: skip
        for i, r in enumerate(responses):
            host = r.url.split("/")[2]
            path_part = "/" + r.url.split("/", 3)[3]
            request = StatusAndHeaders(
                f"GET {path_part} HTTP/1.1",
                [("Host", host), ("User-Agent", "winnow-tests/1.0"), ("Accept", "*/*")],
                is_http_request=True,
            )
            writer.write_record(writer.create_warc_record(
                r.url, "request", payload=io.BytesIO(b""), http_headers=request))  # fmt: skip
            headers = StatusAndHeaders("200 OK", [("Content-Type", r.content_type),
                                                  ("Content-Length", str(len(r.body)))],
                                       protocol="HTTP/1.1")  # fmt: skip
            record = writer.create_warc_record(
                r.url, "response", payload=io.BytesIO(r.body), http_headers=headers,
                warc_headers_dict={"WARC-Identified-Payload-Type": r.payload_type},
            )  # fmt: skip
            ids[r.url] = record.rec_headers.get_header("WARC-Record-ID")
            writer.write_record(record)
            if metadata_every and i % metadata_every == 0:
                writer.write_record(writer.create_warc_record(
                    r.url, "metadata", payload=io.BytesIO(b"fetchTimeMs: 12\n"),
                    warc_content_type="application/warc-fields"))  # fmt: skip
    return ids


def content_type(i: int) -> str:
    """Every other page declares its charset in the HTTP header; the rest only in ``<meta>``."""
    return "text/html; charset=utf-8" if i % 2 == 0 else "text/html"
