"""``rewrite``: a language model rewrites documents in a style, each rewrite a new record
beside its source (a real/synthetic mix: ``mix by: source`` or ``meta.synthetic_of``).
Styles: WRAP's ``easy``, ``wikipedia``, ``hard``, ``qa`` (Maini et al. 2024, "Rephrasing
the Web"); Nemotron-CC's ``diverse_qa``, ``distill``, ``extract_knowledge``,
``knowledge_list`` (Su et al. 2024); REWIRE's ``rewire`` (Nguyen et al. 2025, "Recycling
the Web"), or a template file. With ``only_removed_by: [stage, ...]`` it rewrites only what
those earlier stages removed (REWIRE's recycling of discarded documents): the engine keeps
their text for it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from winnow.llm.prompts import STYLES, Template, failure_of, pick_template
from winnow.stages.base import ExampleFiles, RunContext, ShardColumns, register
from winnow.stages.llm.made import Made, MakingStage
from winnow.stages.llm.requests import RequestParams, Target, example_llm

IMPROVED = "Improved text:"


class RewriteParams(RequestParams):
    style: str = "wikipedia"
    """A shipped style (see the module) or a template file (``.yaml``)."""
    only_removed_by: list[str] = []
    """Rewrite only the documents these earlier stages removed (none: every document)."""
    replace: bool = False
    """Drop each source whose rewrite succeeded (ledger reason ``rewritten``, the rewrite's
    id in ``detail``) instead of keeping both; not with ``only_removed_by``."""


@register
class Rewrite(MakingStage):
    """Rewrite documents with a language model, as new records."""

    name = "rewrite"
    ParamsModel = RewriteParams
    summary = (
        "a language model rewrites documents (WRAP, Nemotron-CC, REWIRE styles) as new records"
    )
    origin = "WRAP (Maini et al. 2024); Nemotron-CC (Su et al. 2024); REWIRE (Nguyen et al. 2025)"

    @classmethod
    def examples(cls, files: ExampleFiles) -> list[dict]:
        return [{"llm": example_llm(files), "max_requests": 1}]

    def removed_by(self) -> tuple[str, ...]:
        return tuple(self.params.only_removed_by)

    def template(self) -> Template:
        return pick_template(self.params.style, STYLES, "rewrite_")

    def targets(self, shards: Sequence[ShardColumns], run: RunContext) -> list[Target]:
        if not self.params.only_removed_by:
            return super().targets(shards, run)
        if run.removed is None:
            raise ValueError("only_removed_by reads what earlier stages of a run removed")
        return [
            Target(load.rows, tuple((part, np.arange(part.rows)) for part in parts))
            for load, parts in zip(shards, run.removed)
        ]

    def decide(self, target: Target, docs: pa.Table, answers: list) -> pa.Table:
        made = Made(self.name, self.generator())
        own = not self.params.only_removed_by
        rows = target.pieces[0][1].tolist() if own else []
        for j, (source, got) in enumerate(zip(docs.to_pylist(), answers)):
            if got is None:
                continue
            failure = failure_of(got)
            text = (got.get("content") or "").strip()
            if failure is None and IMPROVED in text:
                text = text.split(IMPROVED, 1)[1].strip()
            made.add(source, 0, text, reason=failure, detail=got.get("failure"))
            if own and self.params.replace and failure is None:
                made.drop_source(rows[j], "rewritten", made.rows[-1]["id"])
        return made.table()
