"""``regex_filter``: documents by regular expressions on a view (Python's ``regex`` module,
compiled once; a bad pattern is a recipe error). ``drop:`` removes the documents any pattern
matches (reason ``regex_filter:<i>``, the first pattern that matches, counted from 0),
``keep:`` keeps only those one pattern matches (``regex_filter:no_match``), ``cut:`` removes
the matching spans from the text (on a chat record the edit reaches its turns). Adds
``regex_matches``: the matches (or spans cut) of every pattern in the document."""

from __future__ import annotations

from functools import cached_property

import pyarrow as pa
import regex
from pydantic import field_validator, model_validator

from winnow.chat.view import View, text_view
from winnow.stages.base import Params, RowResult, RowStage, register, with_text


class RegexFilterParams(Params):
    drop: list[str] | None = None
    keep: list[str] | None = None
    cut: list[str] | None = None
    view: View = "text"
    """What to search: ``text``, or a view of chat records (``cut`` works on ``text``)."""

    @field_validator("drop", "keep", "cut")
    @classmethod
    def _compile(cls, patterns: list[str] | None) -> list[str] | None:
        for pattern in patterns or []:
            try:
                regex.compile(pattern)
            except regex.error as err:
                raise ValueError(f"bad regex {pattern!r}: {err}") from None
        return patterns

    @model_validator(mode="after")
    def _one_rule(self) -> RegexFilterParams:
        given = [n for n in ("drop", "keep", "cut") if getattr(self, n)]
        if len(given) != 1:
            raise ValueError("give one of drop:, keep: or cut: (a list of patterns)")
        if self.cut and self.view != "text":
            raise ValueError("cut: edits the text: use it with view: text")
        return self


@register
class RegexFilter(RowStage):
    """Drop, keep or cut by regular expressions."""

    name = "regex_filter"
    ParamsModel = RegexFilterParams
    summary = "drop:/keep: documents matching patterns, or cut: the matching spans"
    origin = "datatrove RegexFilter; data-juicer remove_specific_chars / clean mappers"

    @classmethod
    def examples(cls, files) -> list[dict]:
        return [{"cut": [r"(?i)\bbenchmark\b"]}, {"drop": [r"(?i)lorem ipsum"]}]

    @cached_property
    def _patterns(self) -> list[regex.Pattern]:
        p = self.params
        return [regex.compile(x) for x in (p.drop or p.keep or p.cut)]

    def process(self, batch: pa.RecordBatch) -> RowResult:
        p = self.params
        texts = text_view(batch, p.view)
        counts = [0] * len(texts)
        reasons: list[str | None] = [None] * len(texts)
        if p.cut:
            for i, text in enumerate(texts):
                for pattern in self._patterns:
                    text, n = pattern.subn("", text)
                    counts[i] += n
                texts[i] = text
            batch = with_text(batch, texts)
        else:
            for i, text in enumerate(texts):
                hits = [sum(1 for _ in pattern.finditer(text)) for pattern in self._patterns]
                counts[i] = sum(hits)
                first = next((k for k, h in enumerate(hits) if h), None)
                if p.drop and first is not None:
                    reasons[i] = f"regex_filter:{first}"
                elif p.keep and first is None:
                    reasons[i] = "regex_filter:no_match"
        batch = batch.append_column("regex_matches", pa.array(counts, pa.int64()))
        return RowResult(batch=batch, reason=pa.array(reasons, pa.string()))
