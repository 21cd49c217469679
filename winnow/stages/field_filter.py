"""``field_filter``: keep or drop documents by their fields (a metadata or column filter, as
datatrove's and NeMo Curator's). A condition names a field path (``winnow.fields``) and one
test: ``eq``, ``in``, ``not_in``, ``min``, ``max`` (numbers), ``exists`` or ``regex`` (Python's
``regex`` module, searched in the value as text). ``all: [...]`` and ``any: [...]`` combine
conditions, to any depth.

``keep:`` keeps the documents the tree holds for; the first failing condition names the drop,
``field_filter:<field>``, or ``missing_field:<field>`` when the document lacks the field (a
missing field fails every test but ``exists: false``). ``drop:`` removes the documents the
tree holds for, named by the first condition that holds; a test on a missing field does not
hold there.
"""

from __future__ import annotations

import numbers
from typing import Any, Union

import numpy as np
import pyarrow as pa
import regex
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_serializer,
    model_validator,
)

from winnow.fields import MISSING, FieldReader
from winnow.stages.base import Params, RowResult, RowStage, register

OPERATORS = ("eq", "in_", "not_in", "min", "max", "exists", "regex")


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    field: str = Field(min_length=1)
    eq: Any = None
    in_: list | None = Field(None, alias="in")
    not_in: list | None = None
    min: float | None = None
    max: float | None = None
    exists: bool | None = None
    regex: str | None = None

    @model_validator(mode="after")
    def _one_test(self) -> Condition:
        given = [op for op in OPERATORS if op in self.model_fields_set]
        if len(given) != 1:
            raise ValueError(
                f"condition on {self.field!r}: give exactly one of eq, in, not_in, min, max, "
                f"exists, regex (got {', '.join(g.rstrip('_') for g in given) or 'none'})"
            )
        return self

    @model_serializer(mode="wrap")
    def _as_written(self, handler) -> dict:
        """The condition as a recipe writes it: its field and its one test (``in``, not
        ``in_``), so the resolved recipe validates again."""
        data = handler(self)
        return {("in" if k == "in_" else k): v for k, v in data.items()
                if k == "field" or k in self.model_fields_set}  # fmt: skip

    @field_validator("regex")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                regex.compile(pattern)
            except regex.error as err:
                raise ValueError(f"bad regex {pattern!r}: {err}") from None
        return pattern


class All(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    all: list[Union[Condition, All, AnyOf]] = Field(min_length=1)  # noqa: UP007


class AnyOf(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    any: list[Union[Condition, All, AnyOf]] = Field(min_length=1)  # noqa: UP007


Node = Union[Condition, All, AnyOf]  # noqa: UP007
All.model_rebuild()
AnyOf.model_rebuild()


class FieldFilterParams(Params):
    keep: Node | None = None
    drop: Node | None = None

    @model_validator(mode="after")
    def _keep_or_drop(self) -> FieldFilterParams:
        if (self.keep is None) == (self.drop is None):
            raise ValueError("give keep: or drop: (a condition, or all:/any: of conditions)")
        return self


class _Verdict:
    """Per row: whether a node holds, the reason if it fails, the reason if it holds."""

    def __init__(self, holds: np.ndarray, if_fails: np.ndarray, if_holds: np.ndarray) -> None:
        self.holds, self.if_fails, self.if_holds = holds, if_fails, if_holds


def _test(c: Condition, values: list) -> tuple[np.ndarray, np.ndarray]:
    """(holds, missing) of one condition over the rows' values."""
    missing = np.fromiter((v is MISSING for v in values), bool, len(values))
    if c.exists is not None:
        return (~missing if c.exists else missing), np.zeros(len(values), bool)
    if "eq" in c.model_fields_set:
        hit = [v == c.eq for v in values]
    elif c.in_ is not None:
        hit = [_member(v, c.in_) for v in values]
    elif c.not_in is not None:
        hit = [not _member(v, c.not_in) for v in values]
    elif c.regex is not None:
        pattern = regex.compile(c.regex)
        hit = [pattern.search(v if isinstance(v, str) else str(v)) is not None for v in values]
    else:
        hit = [_number(v) is not None and _in_range(_number(v), c.min, c.max) for v in values]
    holds = np.fromiter((h and not m for h, m in zip(hit, missing)), bool, len(values))
    return holds, missing


def _member(value, options: list) -> bool:
    try:
        return value in options
    except TypeError:  # an unhashable value compared with a list: no member
        return False


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return float(value)


def _in_range(value: float, low: float | None, high: float | None) -> bool:
    return (low is None or value >= low) and (high is None or value <= high)


def _judge(node: Node, fields: FieldReader) -> _Verdict:
    if isinstance(node, Condition):
        holds, missing = _test(node, fields.values(node.field))
        named = f"field_filter:{node.field}"
        fails = np.where(missing, f"missing_field:{node.field}", named).astype(object)
        return _Verdict(holds, fails, np.full(len(holds), named, object))
    members = node.all if isinstance(node, All) else node.any
    children = [_judge(child, fields) for child in members]
    if isinstance(node, All):
        holds = np.logical_and.reduce([c.holds for c in children])
        if_fails = children[-1].if_fails.copy()
        for c in reversed(children):  # the first failing child names the failure
            if_fails = np.where(c.holds, if_fails, c.if_fails)
        return _Verdict(holds, if_fails, children[0].if_holds)
    holds = np.logical_or.reduce([c.holds for c in children])
    if_holds = children[-1].if_holds.copy()
    for c in reversed(children):  # the first holding child names the match
        if_holds = np.where(c.holds, c.if_holds, if_holds)
    return _Verdict(holds, children[0].if_fails, if_holds)


@register
class FieldFilter(RowStage):
    """Keep or drop documents by conditions on their fields (metadata or columns)."""

    name = "field_filter"
    ParamsModel = FieldFilterParams
    summary = "keep:/drop: all/any of eq, in, not_in, min, max, exists, regex on field paths"
    origin = "datatrove / NeMo Curator metadata filters; dolma attribute filters"

    @classmethod
    def examples(cls, files) -> list[dict]:
        formats = {"field": "chat_format", "in": ["openai", "sharegpt"]}
        return [{"keep": {"any": [{"field": "chat_format", "exists": False}, formats]}}]

    def process(self, batch: pa.RecordBatch) -> RowResult:
        p = self.params
        if not batch.num_rows:
            return RowResult(batch=batch)
        verdict = _judge(p.keep if p.keep is not None else p.drop, FieldReader(batch))
        gone = ~verdict.holds if p.keep is not None else verdict.holds
        why = verdict.if_fails if p.keep is not None else verdict.if_holds
        reason = pa.array(np.where(gone, why, None).tolist(), pa.string())
        return RowResult(batch=batch, reason=reason)
