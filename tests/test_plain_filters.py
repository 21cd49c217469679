"""field_filter, regex_filter, url_filter and key_dedup on real records, each against a
plain-Python reference of its rule: the same documents go, with the same reasons."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import regex
import yaml

import winnow
from tests.conftest import corpus_records, read_ledger, read_output, tree_digest, write_jsonl
from winnow.text.urls import normalize_url


def _run(tmp_path, records, stages, name="out", workers=2):
    src = write_jsonl(tmp_path / "in.jsonl", records)  # one name: sources compare equal
    out = tmp_path / name
    winnow.run({"inputs": [str(src)], "output": str(out), "stages": stages,
                "read": {"shard_mb": 0.2}}, workers=workers)  # fmt: skip
    return out, {r["id"]: r["reason"] for r in read_ledger(out)}


def test_field_filter_matches_a_plain_reference_on_udhr_and_man_pages(tmp_path):
    records = corpus_records("udhr", 300) + corpus_records("manpages", 300)
    languages = {"field": "iso639_3", "in": ["eng", "fra", "deu", "spa"]}
    tree = {"any": [
        {"all": [{"field": "meta.dir", "eq": "ltr"}, languages]},
        {"field": "meta.section", "in": ["1", "8"]},
    ]}  # fmt: skip
    _, removed = _run(tmp_path, records, [{"field_filter": {"keep": tree}}])

    def expected(meta):  # the first failing condition of the first branch (any: all failed)
        if "dir" not in meta:
            return "missing_field:meta.dir"
        if meta["dir"] != "ltr":
            return "field_filter:meta.dir"
        if "iso639_3" not in meta:
            return "missing_field:iso639_3"
        return None if meta["iso639_3"] in ("eng", "fra", "deu", "spa") else "field_filter:iso639_3"

    want = {}
    for r in records:
        meta = r["meta"]
        if meta.get("section") in ("1", "8"):
            continue
        reason = expected(meta)
        if reason is not None:
            want[r["id"]] = reason
    assert removed == want and 0 < len(want) < len(records)


def test_field_filter_drop_and_missing_fields_never_crash(tmp_path):
    records = corpus_records("manpages", 400)
    records[3]["meta"] = "not an object"
    tree = {"any": [{"field": "meta.name", "regex": "^[a-c]"},
                    {"field": "meta.nope.deep", "exists": True}]}  # fmt: skip
    stages = [{"field_filter": {"drop": tree}}]
    out, removed = _run(tmp_path, records, stages)
    want = {r["id"]: "field_filter:meta.name" for r in records
            if isinstance(r["meta"], dict) and re.match("^[a-c]", r["meta"]["name"])}  # fmt: skip
    assert removed == want and want
    assert len(read_output(out)) == len(records) - len(want)


def test_regex_filter_drop_keep_and_cut_against_the_regex_module(tmp_path):
    records = corpus_records("manpages", 400)
    pattern = r"(?i)\bcopyright\b"
    _, dropped = _run(tmp_path, records, [{"regex_filter": {"drop": [r"(?m)^BUGS$", pattern]}}],
                      "drop")  # fmt: skip
    want = {}
    for r in records:
        hit = [regex.search(p, r["text"]) for p in (r"(?m)^BUGS$", pattern)]
        first = next((k for k, h in enumerate(hit) if h), None)
        if first is not None:
            want[r["id"]] = f"regex_filter:{first}"
    assert dropped == want and 0 < len(want) < len(records)
    _, kept = _run(tmp_path, records, [{"regex_filter": {"keep": [pattern]}}], "keep")
    assert set(kept) == {r["id"] for r in records if not regex.search(pattern, r["text"])}
    out, none = _run(tmp_path, records, [{"regex_filter": {"cut": [pattern]}}], "cut")
    assert not none
    by_id = {r["id"]: r["text"] for r in records}
    for doc in read_output(out):
        assert doc["text"] == regex.sub(pattern, "", by_id[doc["id"]])
        assert doc["regex_matches"] == len(regex.findall(pattern, by_id[doc["id"]]))


def test_a_bad_pattern_is_a_recipe_error_with_its_line(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    src = write_jsonl(tmp_path / "in.jsonl", corpus_records("abstracts", 5))
    stages = [{"regex_filter": {"drop": ["(unclosed"]}}]
    recipe.write_text(yaml.safe_dump({"inputs": [str(src)], "output": str(tmp_path / "o"),
                                      "stages": stages}))  # fmt: skip
    proc = subprocess.run([sys.executable, "-m", "winnow.cli", "run", str(recipe)],
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 2 and "bad regex" in proc.stderr and "line" in proc.stderr
    assert "Traceback" not in proc.stderr


def _urls() -> list[dict]:
    """Debian copyright files, each with its upstream Source URL (when it names one)."""
    out = []
    for r in corpus_records("copyright", 600):
        found = re.search(r"^Source:\s*(https?://\S+)", r["text"], re.M)
        meta = {"url": found.group(1)} if found else {}
        out.append({"id": r["id"], "text": r["text"], "meta": meta})
    return out


def test_url_filter_lists_and_words_against_a_plain_reference(tmp_path):
    records = _urls()
    hosts = {_host(r["meta"]["url"]) for r in records if r["meta"]}
    blocked = [h for h in hosts if h.endswith("github.com") or h.endswith("sourceforge.net")]
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "blocked.txt").write_text("# UT1-style list\ngithub.com\n.sourceforge.net\n")
    (lists / "ok.txt").write_text("gitlab.com\n")
    soft = ["perl", "python", "lib"]
    stages = [{"url_filter": {
        "block_domains": str(lists / "blocked.txt"), "allow_domains": str(lists / "ok.txt"),
        "banned_words_hard": ["gnome"], "banned_words_soft": soft, "soft_threshold": 2,
    }}]  # fmt: skip
    _, removed = _run(tmp_path, records, stages)
    want = {}
    for r in records:
        url = r["meta"].get("url")
        if url is None:
            want[r["id"]] = "missing_field:meta.url"
            continue
        host = _host(url)
        words = set(re.split(r"[^a-z0-9]+", url.lower()))
        if host == "gitlab.com" or host.endswith(".gitlab.com"):
            continue
        if any(host == b or host.endswith("." + b) for b in ("github.com", "sourceforge.net")):
            want[r["id"]] = "url_filter:block_domains"
        elif "gnome" in words:
            want[r["id"]] = "url_filter:banned_words_hard"
        elif len(words & set(soft)) >= 2:
            want[r["id"]] = "url_filter:banned_words_soft"
    assert removed == want and blocked
    assert {"url_filter:block_domains", "missing_field:meta.url"} <= set(want.values())


def _host(url: str) -> str:
    return re.sub(r"^www\.", "", re.match(r"https?://([^/:?#]+)", url).group(1).lower())


def _url_variants() -> tuple[list[dict], dict[str, str]]:
    """Man pages under their URLs, a third of them crawled again under a variant of the same
    URL (and a few under a URL that only looks alike: another query)."""
    variants = [
        lambda u: u.replace("https://", "http://www.", 1) + "/",
        lambda u: u.replace("manpages.debian.org", "MANPAGES.Debian.org:443") + "#synopsis",
        lambda u: u + "?utm_source=feed&utm_medium=rss",
        lambda u: u + "?lang=fr",  # another page
    ]
    pages = corpus_records("manpages", 600)
    records = []
    for i, r in enumerate(pages):
        base = f"https://manpages.debian.org/{r['meta']['package']}/{r['meta']['name']}"
        records.append({"id": r["id"], "text": r["text"], "meta": {"url": base}})
        if i % 3 == 0:
            records.append({"id": r["id"] + "-again", "text": r["text"][::-1],
                            "meta": {"url": variants[(i // 3) % 4](base)}})  # fmt: skip
    first: dict[str, str] = {}
    for r in records:
        first.setdefault(normalize_url(r["meta"]["url"]), r["id"])
    return records, first


def test_key_dedup_of_url_variants_names_the_first(tmp_path):
    records, first = _url_variants()
    stages = [{"key_dedup": {"field": "meta.url", "normalize": "url"}}]
    out, removed = _run(tmp_path, records, stages, "two")
    want = {r["id"] for r in records if first[normalize_url(r["meta"]["url"])] != r["id"]}
    assert set(removed) == want and want and set(removed.values()) == {"key_duplicate"}
    for row in read_ledger(out):
        assert row["duplicate_of"] == first[normalize_url(
            next(r["meta"]["url"] for r in records if r["id"] == row["id"]))]  # fmt: skip
    one, _ = _run(tmp_path, records, stages, "one", workers=1)
    assert tree_digest(one) == tree_digest(out)  # the same decisions at 1 and 2 workers


@pytest.mark.parametrize("url,canonical", [
    ("https://www.Example.com:443/a/b/?utm_source=x&b=2&a=1#top", "example.com/a/b?a=1&b=2"),
    ("http://example.com/a/b?a=1&b=2", "example.com/a/b?a=1&b=2"),
    ("HTTPS://example.com:8080/", "example.com:8080"),
    ("https://bücher.de/x", "xn--bcher-kva.de/x"),
    ("https://example.com/A", "example.com/A"),  # the path keeps its case
])  # fmt: skip
def test_url_normal_form(url, canonical):
    assert normalize_url(url) == canonical


def test_field_paths_reach_columns_and_meta():
    import pyarrow as pa

    from winnow.fields import MISSING, field_values

    meta = json.dumps({"a": {"b": 1}, "lang": "xx"})
    batch = pa.RecordBatch.from_pydict({"lang": ["en", None], "meta": [meta, None]})
    assert field_values(batch, "lang") == ["en", MISSING]  # the column wins over meta
    assert field_values(batch, "meta.lang") == ["xx", MISSING]
    assert field_values(batch, "meta.a.b") == [1, MISSING]
    assert field_values(batch, "a") == [{"b": 1}, MISSING]  # no column: a key of meta
