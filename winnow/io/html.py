"""HTML pages as text: the page's charset, its main content, and a pass over a window of pages
that removes the lines one site repeats at the top and bottom of its pages.

**Charset.** A byte-order mark, then the HTTP ``Content-Type`` charset, then the page's own
``<meta charset>`` or ``http-equiv`` declaration (in its first 8 KiB), then a guess: valid UTF-8
is UTF-8, anything else is what Resiliparse's ``detect_encoding`` guesses (labels mapped as the
WHATWG encoding standard maps them: ``iso-8859-1`` is windows-1252). A declared encoding that
cannot decode the bytes is passed over; one exception to the order is the classic server
default: a page declared as Latin-1/ASCII/windows-1252 whose bytes are valid, non-ASCII UTF-8
is read as UTF-8.

**Main content (``resiliparse``).** A page that marks its main content (one visible ``<main>``
element or ``role="main"``, the HTML landmark) is read from that element only: everything
outside it (site navigation, sidebars, menu bars, search, help pop-ups, footers) is gone, and
inside it all text is kept but ``<nav>`` and hidden elements. A page without the landmark goes
through Resiliparse's main-content heuristics, with two repairs: a shallow ``<ul>`` that is
mostly text rather than links is kept (the heuristics drop every list near ``<body>`` as global
navigation), and :class:`RepeatedLines` later trims its boilerplate lines. Image alt texts are
left out (the icons' "logo", "Copy item path", "Change settings").

**Main content (``trafilatura``).** Trafilatura's ``extract`` (precision first, no comments,
its cross-document dedup off: that cache would make the text depend on which pages a worker
read before); the ``trafilatura`` extra.
"""

from __future__ import annotations

import codecs
import re
from collections import Counter
from collections.abc import Callable
from urllib.parse import urlsplit

from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.encoding import detect_encoding, map_encoding_to_html5
from resiliparse.parse.html import HTMLTree

from winnow.extras import require

_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([\w.:+-]+)""", re.I)
_META_CHARSET = re.compile(rb"""<meta\b[^>]*?charset\s*=\s*["']?\s*([\w.:+-]+)""", re.I)
META_SCAN = 8192
_LATIN = {"cp1252", "iso8859-1", "latin-1", "ascii"}
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
         (codecs.BOM_UTF16_BE, "utf-16-be"))  # fmt: skip


def _codec(label: str | None) -> str | None:
    """The Python codec for an encoding label (WHATWG mapping), None if unknown."""
    if not label:
        return None
    name = map_encoding_to_html5(label.strip(), fallback_utf8=False)
    if name is None:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _decodes(body: bytes, codec: str) -> str | None:
    try:
        return body.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def decode(body: bytes, content_type: str = "") -> tuple[str, str]:
    """``(text, codec)``: the page's bytes decoded by the order in the module docstring."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(codec, errors="replace"), codec
    match = _META_CHARSET.search(body, 0, META_SCAN)
    meta = _codec(match.group(1).decode("ascii", "replace")) if match else None
    if meta is not None and meta.startswith("utf-16"):
        meta = "utf-8"  # a page that can declare itself in ASCII is not UTF-16 (WHATWG)
    header = _HEADER_CHARSET.search(content_type or "")
    for codec in (_codec(header.group(1)) if header else None, meta):
        if codec is None:
            continue
        if codec in _LATIN and not body.isascii():
            text = _decodes(body, "utf-8")
            if text is not None:
                return text, "utf-8"
        text = _decodes(body, codec)
        if text is not None:
            return text, codec
    text = _decodes(body, "utf-8")
    if text is not None:
        return text, "utf-8"
    codec = _codec(detect_encoding(body)) or "cp1252"
    return body.decode(codec, errors="replace"), codec


# Inside the main landmark: everything but navigation and what is hidden.
LANDMARK_SKIP = ["nav", '[role="navigation"]', "[hidden]", '[aria-hidden="true"]']


def _landmark(tree: HTMLTree):
    """The page's one visible main landmark (``<main>`` or ``role="main"``), or None."""
    body = tree.body
    if body is None:
        return None
    found = [n for n in body.query_selector_all('main, [role="main"]') if not n.hasattr("hidden")]
    outer = [n for n in found if not any(o != n and o.contains(n) for o in found)]
    return outer[0] if len(outer) == 1 else None


def _keep_only(node) -> None:
    """Remove everything but ``node`` and its ancestors up to ``<body>``."""
    while node.parent is not None and node.tag != "body":
        parent = node.parent
        for child in list(parent.child_nodes):
            if child != node:
                parent.remove_child(child)
        node = parent


def _depth(node) -> int:
    depth, parent = 0, node.parent
    while parent is not None and parent.tag != "body":
        depth, parent = depth + 1, parent.parent
    return depth


NAV_DEPTH = 3
"""Resiliparse takes a ``<ul>`` fewer than this many elements below ``<body>`` for the site's
navigation."""


def _protect_text_lists(tree: HTMLTree) -> None:
    """Move each shallow ``<ul>`` whose text is mostly not link text deep enough that the
    main-content heuristics keep it (wrapped in ``<div>`` elements)."""
    for ul in tree.body.query_selector_all("ul"):
        depth = _depth(ul)
        if depth >= NAV_DEPTH:
            continue
        total = len(ul.text.strip())
        links = sum(len(a.text.strip()) for a in ul.query_selector_all("a"))
        if not total or links * 2 > total:
            continue
        node = ul
        for _ in range(NAV_DEPTH - depth):
            wrapper = tree.create_element("div")
            node.parent.insert_before(wrapper, node)
            wrapper.append_child(node)


def resiliparse_text(html: str) -> tuple[str, bool]:
    """``(text, landmark)``: the main content, and whether the page's landmark gave it (no
    line pass then)."""
    tree = HTMLTree.parse(html)
    main = _landmark(tree)
    if main is not None:
        _keep_only(main)
        text = extract_plain_text(
            tree, main_content=False, alt_texts=False, skip_elements=LANDMARK_SKIP
        )
        if text.strip():
            return text, True
        tree = HTMLTree.parse(html)  # an empty landmark (filled by scripts): the whole page
    if tree.body is not None:
        _protect_text_lists(tree)
    return extract_plain_text(tree, main_content=True, alt_texts=False), False


def trafilatura_text(html: str) -> tuple[str, bool]:
    trafilatura = require("trafilatura", "trafilatura", "extractor: trafilatura")
    text = trafilatura.extract(
        html, favor_precision=True, include_comments=False, deduplicate=False
    )
    return text or "", True


EXTRACTORS: dict[str, Callable[[str], tuple[str, bool]]] = {
    "resiliparse": resiliparse_text,
    "trafilatura": trafilatura_text,
}


def host_of(url: str | None) -> str:
    try:
        return (urlsplit(url or "").hostname or "").lower()
    except ValueError:
        return ""


class RepeatedLines:
    """Boilerplate lines of a window of pages: a line that begins or ends a page (before or
    after its first or last line of content) and stands on at least ``share`` of the pages of
    the same host in the window, and on at least ``min_pages`` of them, is removed.

    Deterministic and bounded: the window is a run of consecutive records of one file (the
    reader's ``WINDOW_PAGES`` pages or ``WINDOW_BYTES`` of text), so the result depends on the
    file alone, never on shards or workers. Pages with equal text count once (a copy is not
    boilerplate: dedup stages decide about copies), lines are compared with white space
    collapsed, and a page whose repeated lines would be more than ``max_cut`` of its text
    stays whole (a stub that is all notice, "this edition moved", or a near-copy of another
    page: what is left of it is for the dedup and quality stages to judge)."""

    def __init__(self, share: float = 0.1, min_pages: int = 3, max_cut: float = 0.5) -> None:
        self.share, self.min_pages, self.max_cut = share, min_pages, max_cut

    def trim(self, pages: list[tuple[str, str]]) -> list[str]:
        """The texts of ``(host, text)`` pages, each without its boilerplate lines."""
        counts: dict[str, Counter] = {}
        seen: dict[str, set] = {}
        for host, text in pages:
            if text in seen.setdefault(host, set()):
                continue
            seen[host].add(text)
            counts.setdefault(host, Counter()).update(
                {_key(line) for line in text.split("\n") if line.strip()}
            )
        out = []
        for host, text in pages:
            need = max(self.min_pages, self.share * len(seen[host]))
            frequent = counts[host]
            lines = text.split("\n")
            first, last = 0, len(lines)
            while first < last and _skippable(lines[first], frequent, need):
                first += 1
            while last > first and _skippable(lines[last - 1], frequent, need):
                last -= 1
            kept = "\n".join(lines[first:last])
            cut = len(text.strip()) - len(kept.strip())
            out.append(kept if cut <= self.max_cut * len(text.strip()) else text)
        return out


def _key(line: str) -> str:
    return " ".join(line.split())


def _skippable(line: str, frequent: Counter, need: float) -> bool:
    return not line.strip() or frequent[_key(line)] >= need
