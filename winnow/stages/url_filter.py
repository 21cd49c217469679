"""``url_filter``: drop documents by their URL, as RefinedWeb (Penedo et al. 2023) and
datatrove's ``URLFilter``: a blocked domain (a listed domain covers its subdomains; files of
one entry a line, ``#`` comments, the UT1 blacklists' format), a blocked URL (compared in
``key_dedup``'s normal form), one word of ``banned_words_hard`` among the URL's words (runs of
letters and digits), or ``soft_threshold`` words of ``banned_words_soft``. A domain of
``allow_domains`` is never blocked. The default hard list is the English LDNOOBW list shipped
in ``winnow/data`` (its one-word entries). Reasons: ``url_filter:<rule>`` and
``missing_field:<field>``.
"""

from __future__ import annotations

import glob
import re
from functools import cached_property
from pathlib import Path

import pyarrow as pa
from pydantic import Field, model_validator

from winnow.fields import MISSING, field_values
from winnow.stages.base import Params, RowResult, RowStage, register
from winnow.text.urls import domains_of, host_of, normalize_url
from winnow.text.words import data_text

_WORDS = re.compile(r"[^a-z0-9]+")

Files = str | list[str] | None


class UrlFilterParams(Params):
    field: str = "meta.url"
    """Where the URL is (a field path; WARC records carry ``meta.url``)."""
    block_domains: Files = None
    block_urls: Files = None
    allow_domains: Files = None
    """Files (paths or globs) of one entry a line."""
    banned_words_hard: list[str] | None = None
    """One of these words in the URL blocks it (default: LDNOOBW English, one-word entries)."""
    banned_words_soft: list[str] = Field(default_factory=list)
    soft_threshold: int = Field(2, ge=1)
    """This many soft words in the URL block it (datatrove's default: 2)."""

    @model_validator(mode="after")
    def _lists_exist(self) -> UrlFilterParams:
        for name in ("block_domains", "block_urls", "allow_domains"):
            for path in _names(getattr(self, name)):
                if not _matches(path):
                    raise ValueError(f"{name}: no file at {path!r}")
        return self


def _names(value: Files) -> list[str]:
    return [] if value is None else [value] if isinstance(value, str) else list(value)


def _matches(path: str) -> list[str]:
    return [path] if Path(path).is_file() else sorted(glob.glob(path, recursive=True))


def _entries(value: Files) -> list[str]:
    """The entries of list files: one a line, blank lines and ``#`` comments skipped."""
    out = []
    for name in _names(value):
        for path in _matches(name):
            for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    out.append(line)
    return out


def _domain(entry: str) -> str:
    return host_of(entry.removeprefix("*.").removeprefix("."))


@register
class UrlFilter(RowStage):
    """Drop documents whose URL is on a block list or holds banned words."""

    name = "url_filter"
    ParamsModel = UrlFilterParams
    summary = "block_domains (with subdomains), block_urls, banned URL words (hard/soft); allow"
    origin = "RefinedWeb URL filtering (Penedo et al. 2023); datatrove URLFilter"
    reads = ("block_domains", "block_urls", "allow_domains")

    @classmethod
    def examples(cls, files) -> list[dict]:
        return [{"field": "chat_format", "banned_words_soft": ["openai", "sharegpt"],
                 "soft_threshold": 1}]  # fmt: skip

    @cached_property
    def _lists(self) -> tuple[set, set, set, set, set]:
        p = self.params
        hard = p.banned_words_hard
        if hard is None:
            hard = [w for w in data_text("ldnoobw/en.txt").splitlines() if w and " " not in w]
        return (
            {_domain(e) for e in _entries(p.block_domains)} - {""},
            {normalize_url(e) for e in _entries(p.block_urls)},
            {_domain(e) for e in _entries(p.allow_domains)} - {""},
            {w.lower() for w in hard},
            {w.lower() for w in p.banned_words_soft},
        )

    def judge(self, url: str) -> str | None:
        """The rule that blocks ``url``, or None."""
        blocked, urls, allowed, hard, soft = self._lists
        domains = domains_of(host_of(url))
        if allowed and any(d in allowed for d in domains):
            return None
        if blocked and any(d in blocked for d in domains):
            return "url_filter:block_domains"
        if urls and normalize_url(url) in urls:
            return "url_filter:block_urls"
        words = set(_WORDS.split(url.lower()))
        if hard and not hard.isdisjoint(words):
            return "url_filter:banned_words_hard"
        if soft and len(soft & words) >= self.params.soft_threshold:
            return "url_filter:banned_words_soft"
        return None

    def process(self, batch: pa.RecordBatch) -> RowResult:
        missing = f"missing_field:{self.params.field}"
        reasons = [
            missing if v is MISSING else self.judge(str(v))
            for v in field_values(batch, self.params.field)
        ]
        return RowResult(batch=batch, reason=pa.array(reasons, pa.string()))
