"""The WARC reader on real documentation HTML (Debian's rust-doc package: mdBook books and
rustdoc API pages) crawled into a WARC: main content against each page's main-content element,
charsets, list items, and the accounting of every record. ``tests/doc_pages.py`` builds it."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from types import SimpleNamespace

import lxml.html
import orjson
import pytest

import winnow
from tests import doc_pages as dp
from tests.conftest import read_ledger, read_output
from winnow import cli
from winnow.io.html import resiliparse_text
from winnow.io.inputs import InputFile

MIRROR = "https://rust-lang.github.io/doc"
"""Copies of mdBook pages without their ``<main>`` landmark (as a site without one serves)."""


def _root() -> Path:
    try:
        return dp.html_root()
    except AssertionError as exc:  # CI installs it: a missing package is a failure, not a skip
        pytest.fail(str(exc))


def _non_ascii(text: str) -> set[str]:
    return {c for c in text if ord(c) > 127}


def _without_main(html: bytes) -> bytes:
    return re.sub(rb"<(/?)main>", rb"<\1div>", html)


@pytest.fixture(scope="module")
def crawl(tmp_path_factory):
    root = _root()
    tmp = tmp_path_factory.mktemp("crawl")
    pages = dp.pages(150, 150, root)
    responses = [dp.Response(p.url, p.html, dp.content_type(i)) for i, p in enumerate(pages)]
    mdbook = [p for p in pages if p.kind == "mdbook"]
    copies = mdbook[::2] + [p for p in pages if p.kind == "rustdoc"][::2]
    responses += [
        dp.Response(f"{MIRROR}/{p.rel}", _without_main(p.html), "text/html") for p in copies
    ]
    # one page three more times: windows-1252 bytes declared in the HTTP header only (its
    # <meta> still says UTF-8: the header wins), declared in <meta> only, and UTF-8 bytes
    # under the classic mislabel of a server default (charset=ISO-8859-1)
    plain = max((p for p in mdbook if "print.html" not in p.rel),
                key=lambda p: len(_non_ascii(p.html.decode())))  # fmt: skip
    cp1252 = plain.html.decode().encode("cp1252", "xmlcharrefreplace")
    declared = re.sub(rb"charset=[\"']?utf-8", b"charset=windows-1252", cp1252, flags=re.I)
    encodings = {
        f"{plain.url}?as=header": (cp1252, "text/html; charset=windows-1252"),
        f"{plain.url}?as=meta": (declared, "text/html"),
        f"{plain.url}?as=mislabel": (plain.html, "text/html; charset=ISO-8859-1"),
    }
    responses += [dp.Response(u, body, ct) for u, (body, ct) in encodings.items()]
    logo = next(root.glob("rust-logo*.png"))
    script = next(root.glob("main*.js"))
    others = {
        f"{dp.SITE}/{logo.name}": ("image/png", logo),
        f"{dp.SITE}/{script.name}": ("application/javascript", script),
    }
    responses += [
        dp.Response(u, path.read_bytes(), ct, payload_type=ct) for u, (ct, path) in others.items()
    ]
    warc = tmp / "crawl.warc.gz"
    ids = dp.write_warc(warc, responses, metadata_every=100)
    out = tmp / "out"
    result = winnow.run({"inputs": [str(warc)], "output": str(out), "stages": []}, workers=1)
    docs = {d["meta"]["url"]: d for d in read_output(out)}
    return SimpleNamespace(
        pages=pages, copies=copies, plain=plain, encodings=encodings, others=others, ids=ids,
        docs=docs, ledger=read_ledger(out), stats=result.stats, out=out, warc=warc,
        responses=responses,
    )  # fmt: skip


@pytest.mark.parametrize("kind", ["mdbook", "rustdoc"])
def test_main_content_matches_the_pages_main_element(crawl, kind):
    chosen = [p for p in crawl.pages if p.kind == kind]
    assert len(chosen) >= 140
    s = dp.scores([(crawl.docs[p.url]["text"], dp.reference_text(p)) for p in chosen])
    assert min(s.values()) >= 0.95, s
    # the furniture around the landmark is gone: menu bars, search, sidebars, alt texts
    for p in chosen:
        text = crawl.docs[p.url]["text"]
        assert "Copy item path" not in text and "Change settings" not in text
        assert "Search this book" not in text and "Print this book" not in text


@pytest.mark.parametrize("kind", ["mdbook", "rustdoc"])
def test_pages_without_a_landmark_lose_the_lines_their_site_repeats(crawl, kind):
    copies = [p for p in crawl.copies if p.kind == kind]
    refs = [dp.reference_text(p) for p in copies]
    texts = [crawl.docs[f"{MIRROR}/{p.rel}"]["text"] for p in copies]
    s = dp.scores(list(zip(texts, refs)))
    # Resiliparse's heuristics and the line pass instead of the landmark: rustdoc's pages end
    # with the same blanket implementations (Any, Borrow, From, Into...), lines the pass takes
    # for the site's own (they are, but the main-content element holds them)
    floor = {"precision": 0.95, "page_precision": 0.95, "recall": 0.95, "page_recall": 0.95}
    if kind == "rustdoc":
        floor.update(recall=0.85, page_recall=0.85)
    assert all(s[k] >= v for k, v in floor.items()), s
    if kind == "mdbook":  # the book's title in the menu bar of every page
        titles = {"The Rust Programming Language", "The Rust Unstable Book", "The Rust Reference",
                  "Rust By Example", "The Rustonomicon", "The Embedded Rust Book"}  # fmt: skip
        before = [resiliparse_text(_without_main(p.html).decode())[0] for p in copies]

        def titled(pages):
            return sum(x.strip().split("\n", 1)[0] in titles for x in pages) / len(pages)

        assert titled(before) > 0.8 and titled(texts) < 0.3, (titled(before), titled(texts))


def test_utf8_pages_are_read_as_utf8(crawl):
    for p in crawl.pages:
        doc = crawl.docs[p.url]
        source = lxml.html.fromstring(p.html.decode("utf-8")).text_content()  # refs resolved
        assert doc["meta"]["charset"] == "utf-8"
        extra = _non_ascii(doc["text"]) - _non_ascii(source) - {"•"}  # the list bullets
        assert not extra, (p.rel, sorted(extra)[:10])
        for mojibake in ("Ã", "â€", "ðŸ"):
            assert mojibake not in doc["text"] or mojibake in source, (p.rel, mojibake)
        thai = re.compile("[\u0e00-\u0e7f]")
        assert not thai.search(doc["text"]) or thai.search(source)


def test_declared_charsets_header_then_meta(crawl):
    want = crawl.docs[crawl.plain.url]["text"]
    assert len(_non_ascii(want)) >= 3  # curly quotes and dashes that cp1252 and UTF-8 differ on
    for url in crawl.encodings:
        doc = crawl.docs[url]
        assert doc["text"] == want, url
    assert crawl.docs[f"{crawl.plain.url}?as=header"]["meta"]["charset"] == "cp1252"
    assert crawl.docs[f"{crawl.plain.url}?as=meta"]["meta"]["charset"] == "cp1252"
    assert crawl.docs[f"{crawl.plain.url}?as=mislabel"]["meta"]["charset"] == "utf-8"


def test_list_items_inside_main_content_are_kept(crawl):
    found = total = 0
    for p in crawl.pages:
        if p.kind != "mdbook":
            continue
        text = "".join(crawl.docs[p.url]["text"].split())
        for li in dp.reference_element(p).iter("li"):
            item = "".join(li.text_content().split())
            if item and not li.xpath(".//ul|.//ol"):
                total += 1
                found += item in text
    assert total >= 300 and found == total, (found, total)
    # a list right under <main> or under <body>'s first <div>, which Resiliparse's heuristics
    # take for the site's navigation; the link list that is navigation still goes
    item = "<li>Download the archive from the releases page</li><li>Unpack it anywhere</li>"
    pages = [
        f"<html><body><main><h1>Install</h1><p>Steps:</p><ul>{item}</ul></main></body></html>",
        "<html><body><ul><li><a href='/'>Home</a></li><li><a href='/docs'>Docs</a></li></ul>"
        f"<div><h1>Install</h1><p>Steps to follow:</p><ul>{item}</ul></div></body></html>",
    ]
    for html in pages:
        text, _ = resiliparse_text(html)
        assert "Download the archive from the releases page" in text, text
        assert "Unpack it anywhere" in text and "Home" not in text


def test_every_record_is_accounted_for(crawl, capsys):
    n = len(crawl.responses)
    read = next(s for s in crawl.stats["stages"] if s["name"] == "read")
    metadata = len(range(0, n, 100))
    assert read["skipped"] == {"metadata": metadata, "request": n, "warcinfo": 1}
    assert read["docs_in"] == n and read["docs_out"] == n - 2
    assert read["removed"] == {"invalid_input:not_html": 2}
    stats = orjson.loads((crawl.out / "stats.json").read_bytes())
    assert next(s for s in stats["stages"] if s["name"] == "read")["skipped"] == read["skipped"]
    rows = {r["id"]: r for r in crawl.ledger}
    for url, (content_type, _) in crawl.others.items():
        row = rows[crawl.ids[url]]  # named by its WARC-Record-ID
        assert row["id"].startswith("<urn:uuid:")
        assert row["reason"] == "invalid_input:not_html"
        assert url in row["detail"] and content_type in row["detail"]
        assert row["source"].startswith(f"{crawl.warc}:")
    assert cli.main(["sample", str(crawl.out), "--stage", "read"]) == 0
    shown = capsys.readouterr().out
    assert "2 of 2 documents removed by read" in shown
    for url in crawl.others:
        assert crawl.ids[url] in shown and url in shown
    assert "invalid_input:not_html" in shown


def test_reading_is_deterministic_in_small_windows(crawl, monkeypatch):
    from winnow.io import warc

    f = InputFile(str(crawl.warc), "warc")
    whole = [(getattr(r, "kind", None) or getattr(r, "reason", None) or r["id"], s)
             for r, s in warc.iter_records(f)]  # fmt: skip
    monkeypatch.setattr(warc, "WINDOW_PAGES", 25)
    records = list(warc.iter_records(f))
    windowed = [(getattr(r, "kind", None) or getattr(r, "reason", None) or r["id"], s)
                for r, s in records]  # fmt: skip
    assert windowed == whole  # every record, in file order
    texts = {r["meta"]["url"]: r["text"] for r, _ in records if isinstance(r, dict)}
    assert all(texts[p.url] == crawl.docs[p.url]["text"] for p in crawl.pages)


def test_records_read_before_a_failure_still_come_out(crawl, tmp_path, monkeypatch):
    from winnow.io import warc

    data = crawl.warc.read_bytes()
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(data[: len(data) // 2])
    pages = [r for r, _ in warc.iter_records(InputFile(str(cut), "warc")) if isinstance(r, dict)]
    assert len(pages) > 100  # (FastWARC stops quietly at a cut record)
    records = warc._records

    def failing(f):
        for i, item in enumerate(records(f)):
            if i == 30:
                raise ValueError("bad record")
            yield item

    monkeypatch.setattr(warc, "_records", failing)
    got = []
    with pytest.raises(ValueError, match="bad record"):
        for item in warc.iter_records(InputFile(str(crawl.warc), "warc")):
            got.append(item)
    assert len(got) == 30  # a window not yet full is not lost with the error


def _small_warc(tmp_path, pages) -> Path:
    warc = tmp_path / "small.warc.gz"
    dp.write_warc(warc, [dp.Response(p.url, p.html, "text/html") for p in pages])
    return warc


def test_trafilatura_extractor(tmp_path):
    pytest.importorskip("trafilatura", reason="the trafilatura extra (in the test extra)")
    pages = dp.pages(3, 3, _root())
    warc = _small_warc(tmp_path, pages)
    recipe = {"inputs": [{"path": str(warc), "extractor": "trafilatura"}],
              "output": str(tmp_path / "out"), "stages": []}  # fmt: skip
    winnow.run(recipe, workers=1)
    docs = {d["meta"]["url"]: d for d in read_output(tmp_path / "out")}
    s = dp.scores([(docs[p.url]["text"], dp.reference_text(p)) for p in pages])
    assert s["precision"] >= 0.9, s
    assert "extractor: trafilatura" in (tmp_path / "out" / "recipe.yaml").read_text()


def test_trafilatura_missing_is_one_line(tmp_path):
    from tests.test_extras import _one_clear_line, _winnow
    from winnow.extras import MissingExtra
    from winnow.io.html import trafilatura_text

    warc = _small_warc(tmp_path, dp.pages(1, 0, _root()))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(orjson.dumps({"inputs": [{"path": str(warc), "extractor": "trafilatura"}],
                                    "output": str(tmp_path / "out")}).decode())  # fmt: skip
    proc = _winnow(["run", str(recipe)], "trafilatura", tmp_path)
    _one_clear_line(proc, "trafilatura")
    assert "inputs[0]" in proc.stderr and not (tmp_path / "out").exists()  # a recipe error
    with pytest.MonkeyPatch.context() as mp:  # and where a reader meets it (winnow.io.html)
        mp.setitem(sys.modules, "trafilatura", None)
        with pytest.raises(MissingExtra, match=r"^extractor: trafilatura needs trafilatura: pip"):
            trafilatura_text("<html><body><p>x</p></body></html>")
