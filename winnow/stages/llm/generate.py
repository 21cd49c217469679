"""``generate``: instruction/response records made from documents by a language model, for
fine-tuning data (after Bonito, Nayak et al. 2024, and self-instruct, Wang et al. 2023).
Each answer ``Instruction: ... Response: ...`` becomes a chat record (OpenAI messages) beside
its source document; an answer without both parts is ``llm_unparseable``."""

from __future__ import annotations

import orjson
import pyarrow as pa
import regex

from winnow.chat.view import render
from winnow.llm.prompts import Template, failure_of, pick_template
from winnow.stages.base import ExampleFiles, register
from winnow.stages.llm.made import Made, MakingStage
from winnow.stages.llm.requests import RequestParams, Target, example_llm

PAIR = regex.compile(r"(?is)instruction:\s*(?P<instruction>.+?)\s*response:\s*(?P<response>.+)")


class GenerateParams(RequestParams):
    prompt: str = "instruction_response"
    """The shipped ``instruction_response`` or a template file whose answers have the same
    ``Instruction:``/``Response:`` form."""


def parse_pair(answer: str) -> list[dict] | None:
    """The conversation an answer describes, or None."""
    found = PAIR.search(answer)
    if found is None:
        return None
    instruction, response = found["instruction"].strip(), found["response"].strip()
    if not instruction or not response:
        return None
    return [{"role": "user", "content": instruction}, {"role": "assistant", "content": response}]


@register
class Generate(MakingStage):
    """Make instruction/response records from documents with a language model."""

    name = "generate"
    ParamsModel = GenerateParams
    summary = "a language model makes instruction/response chat records from documents"
    origin = "Bonito (Nayak et al. 2024); self-instruct (Wang et al. 2023)"

    @classmethod
    def examples(cls, files: ExampleFiles) -> list[dict]:
        return [{"llm": example_llm(files), "max_requests": 1}]

    def template(self) -> Template:
        return pick_template(self.params.prompt, ("instruction_response",))

    def decide(self, target: Target, docs: pa.Table, answers: list) -> pa.Table:
        made = Made(self.name, self.generator())
        for source, got in zip(docs.to_pylist(), answers):
            if got is None:
                continue
            failure = failure_of(got)
            turns = parse_pair(got["content"]) if failure is None else None
            if failure is None and turns is None:
                failure = "llm_unparseable"
            if failure is not None:
                made.add(source, 0, got.get("content") or "", reason=failure,
                         detail=got.get("failure"))  # fmt: skip
                continue
            made.add(source, 0, render(turns), messages=orjson.dumps(turns).decode())
        return made.table()
