"""``prox``: a language model writes a small cleaning program per document, executed here
deterministically (ProX, Zhou et al. 2024, "Programming Every Example"; the grammar is in
``winnow.llm.programs``). The program is kept with the document (``prox_program``) and what
it did (``prox_effect``); ``drop_doc()`` is ledger reason ``prox_drop_doc`` with the program
in ``detail``, an invalid program ``prox_invalid_program`` with the error in ``detail``."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from winnow.llm.programs import InvalidProgram, execute, numbered
from winnow.llm.prompts import Template, failure_of, shipped
from winnow.stages.base import ExampleFiles, RowResult, put_column, register
from winnow.stages.llm.requests import RequestParams, RequestStage, Target, example_llm

PROX_DECISIONS = pa.schema(
    [
        ("program", pa.string()),
        ("effect", pa.string()),
        ("text", pa.large_string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
    ]
)


class ProxParams(RequestParams):
    pass


@register
class Prox(RequestStage):
    """Clean documents with programs a language model writes for each."""

    name = "prox"
    ParamsModel = ProxParams
    decision_schema = PROX_DECISIONS
    summary = "a language model writes a cleaning program per document; winnow runs it"
    origin = "ProX (Zhou et al. 2024)"

    @classmethod
    def examples(cls, files: ExampleFiles) -> list[dict]:
        return [{"llm": example_llm(files), "max_requests": 1, "on_failure": "flag"}]

    def template(self) -> Template:
        return shipped("prox")

    def prompt_text(self, text: str) -> str:
        return numbered(text)

    def decide(self, target: Target, docs: pa.Table, answers: list) -> pa.Table:
        n = target.shard_rows
        columns: dict[str, list] = {f.name: [None] * n for f in PROX_DECISIONS}
        ((_, rows),) = target.pieces
        texts = docs.column("text").to_pylist()
        flag = self.params.on_failure == "flag"
        for row, text, got in zip(rows.tolist(), texts, answers):
            if got is None:
                continue
            failure, detail = failure_of(got, needs_text=False), got.get("failure")
            if failure is None:
                columns["program"][row] = got["content"].strip()
                try:
                    outcome = execute(got["content"], text or "")
                except InvalidProgram as err:
                    failure, detail = "prox_invalid_program", str(err)
                else:
                    columns["effect"][row] = outcome.effect
                    if outcome.text is None:
                        failure, detail = "prox_drop_doc", columns["program"][row]
                    elif outcome.text != text:
                        columns["text"][row] = outcome.text
            if failure is not None and failure != "prox_drop_doc" and flag:
                columns["effect"][row] = f"error: {failure}" + (f" ({detail})" if detail else "")
            elif failure is not None:
                columns["reason"][row], columns["detail"][row] = failure, detail
        return pa.table([pa.array(columns[f.name], f.type) for f in PROX_DECISIONS],
                        schema=PROX_DECISIONS)  # fmt: skip

    def apply(self, batch: pa.RecordBatch, offset: int, decisions: pa.Table) -> RowResult:
        mine = decisions.slice(offset, batch.num_rows).combine_chunks()
        edited = mine.column("text").combine_chunks()
        i = batch.schema.get_field_index("text")
        text = pc.if_else(
            edited.is_null(), batch.column(i), edited.cast(batch.schema.field(i).type)
        )
        batch = batch.set_column(i, "text", text)
        batch = put_column(batch, "prox_program", mine.column("program").combine_chunks())
        batch = put_column(batch, "prox_effect", mine.column("effect").combine_chunks())
        return RowResult(
            batch,
            reason=mine.column("reason").combine_chunks(),
            detail=mine.column("detail").combine_chunks(),
        )
