"""Nothing a stage removes from a chat record's text view survives in the written output.

Every registered stage runs, with each parameter set it declares (``Stage.examples``), on chat
and agent records of every format with planted personal data, boilerplate, repeated
paragraphs and benchmark text. What the stage itself cut from a record's view (its own
``text`` output, before the engine carries the edit into the turns) must be absent from every
field of that record in the run's output: turns, tool calls and their arguments, meta.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import winnow
from tests.chat_records import ChatCorpus, strings
from tests.conftest import read_ledger
from winnow.api import make_stage
from winnow.chat.edits import follow, project
from winnow.chat.view import pieces, render
from winnow.io.documents import DocumentBuilder
from winnow.stages import REGISTRY
from winnow.stages.base import (
    CorpusStage,
    ExampleFiles,
    RowResult,
    RunContext,
    SinkStage,
    TableShard,
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[ChatCorpus, dict[str, Path]]:
    chat = ChatCorpus()
    return chat, chat.write(tmp_path_factory.mktemp("chat"))


def _documents(corpus: ChatCorpus, path: Path) -> pa.RecordBatch:
    builder = DocumentBuilder()
    for i, record in enumerate(corpus.records):
        builder.add(record, f"{path}:{i + 1}")
    return builder.flush()


def _stage_pass(stage, batch: pa.RecordBatch) -> tuple[list[str], list[bool], pa.RecordBatch]:
    """The stage's own text output, its keep mask and the surviving batch (edits followed)."""
    if isinstance(stage, CorpusStage):
        signed = batch
        for name, column in stage.map(batch).items():
            signed = signed.append_column(name, column)
        (decisions,) = stage.reduce([TableShard(pa.Table.from_batches([signed]))], RunContext())
        result = stage.apply(signed, 0, decisions)  # the stage's own text, before follow
        private = [c for c in result.batch.schema.names if c.startswith("_")]
        result.batch = result.batch.drop_columns(private)
    elif isinstance(stage, SinkStage):  # it reads the stream and passes it on unchanged
        result = RowResult(batch)
    else:
        result = stage.process(batch)
    raw = [t or "" for t in result.batch.column("text").to_pylist()]
    keep = [True] * batch.num_rows if result.keep is None else result.keep.to_pylist()
    kept = follow(batch, result.batch).filter(pa.array(keep))
    return raw, keep, kept


def _removed(corpus: ChatCorpus, before: list[str], after: list[str], keep: list[bool]):
    """Per kept row: the planted markers its view held before the stage and not after."""
    markers = [m for group in corpus.markers.values() for m in group]
    return [
        [m for m in markers if m in b and m not in a] if k else []
        for b, a, k in zip(before, after, keep)
    ]


def _cases(files: ExampleFiles):
    for name in sorted(REGISTRY):
        for n in range(len(REGISTRY[name].examples(files))):
            yield pytest.param(name, n, id=f"{name}-{n}")


_FILES = ExampleFiles(benchmark="BENCH", target="TARGET")


def _resolve(params: dict, files: dict[str, Path]) -> dict:
    swap = {"BENCH": str(files["benchmark"]), "TARGET": str(files["target"])}

    def fix(v):
        if isinstance(v, list):
            return [fix(x) for x in v]
        return swap.get(v, v) if isinstance(v, str) else v

    return {k: fix(v) for k, v in params.items()}


@pytest.mark.parametrize(("name", "example"), list(_cases(_FILES)))
def test_what_a_stage_removes_is_gone_from_every_written_column(tmp_path, corpus, name, example):
    chat, files = corpus
    cls = REGISTRY[name]
    params = _resolve(cls.examples(_FILES)[example], files)
    before_stages = [(n, _resolve(p, files)) for n, p in cls.example_before]
    batch = _documents(chat, files["records"])
    for n, p in before_stages:
        _, _, batch = _stage_pass(make_stage(n, **p), batch)
    raw, keep, _ = _stage_pass(make_stage(name, **params), batch)
    removed = dict(
        zip(
            batch.column("id").to_pylist(),
            _removed(chat, batch.column("text").to_pylist(), raw, keep),
        )
    )

    for chat_format in ("same", "openai"):
        out = tmp_path / chat_format
        recipe = {
            "inputs": [str(files["records"])],
            "output": str(out),
            "stages": [*({n: p} for n, p in before_stages), {name: params}],
            "write": {"format": "jsonl", "chat_format": chat_format},
        }
        winnow.run(recipe, workers=1)
        written = {}
        for part in sorted((out / "data").glob("part-*")):
            for line in part.read_bytes().splitlines():
                record = orjson.loads(line)
                written[record["id"]] = record
        for table in (out / "artifacts").rglob("*.parquet"):  # the mix stream, pack pieces
            for row in pq.read_table(table).to_pylist():
                found = strings(row)
                gone = [m for m in removed.get(row.get("id"), []) if any(m in s for s in found)]
                assert not gone, f"{name}: {table.name} holds what the stage removed: {gone}"
        for doc_id, record in written.items():
            found = strings(record)
            gone = [m for m in removed.get(doc_id, []) if any(m in s for s in found)]
            assert not gone, f"{name}: {doc_id} still holds what the stage removed: {gone}"
            assert not any("INPUT TEXT FIELD" in s for s in found)  # the turns win over text
            for turn in record.get("messages", []):
                for call in turn.get("tool_calls") or []:
                    orjson.loads(call["function"]["arguments"])  # still valid JSON
        made = orjson.loads((out / "stats.json").read_bytes())["generated_docs"]
        assert len(written) + len(read_ledger(out)) == len(chat.records) + made


def test_the_planted_text_is_removed_by_the_registry(corpus):
    """The property above is not vacuous: each kind of planted text is cut from some record's
    view by some registered stage (without the stage list being written down here)."""
    chat, files = corpus
    cut = set()
    for name in sorted(REGISTRY):
        cls = REGISTRY[name]
        for params in cls.examples(_FILES):
            batch = _documents(chat, files["records"])
            for n, p in cls.example_before:
                _, _, batch = _stage_pass(make_stage(n, **_resolve(p, files)), batch)
            stage = make_stage(name, **_resolve(params, files))
            raw, keep, _ = _stage_pass(stage, batch)
            for gone in _removed(chat, batch.column("text").to_pylist(), raw, keep):
                cut |= set(gone)
    for kind, markers in chat.markers.items():
        assert cut & set(markers), f"no stage removed the planted {kind}"


# the mechanism itself ---------------------------------------------------------------------

TURNS = [
    {"role": "user", "content": "Find the paper. It is old."},
    {
        "role": "assistant",
        "content": "Searching now.",
        "tool_calls": [
            {
                "id": "c",
                "type": "function",
                "function": {"name": "search", "arguments": '{"q": "old paper", "limit": 5}'},
            }
        ],
    },
    {"role": "tool", "content": "One result.", "tool_call_id": "c"},
]


def test_the_view_is_rendered_from_the_turns():
    assert render(TURNS) == (
        "user: Find the paper. It is old.\n\nassistant: Searching now.\n"
        '[tool_call search] {"q": "old paper", "limit": 5}\n\ntool: One result.'
    )
    assert [text for text, slot in pieces(TURNS) if slot is not None] == [
        "Find the paper. It is old.",
        "Searching now.",
        "search",  # tool names, argument keys and string values are text too
        "q",
        "old paper",
        "limit",
        "One result.",
    ]


def test_a_span_across_a_turn_boundary_is_cut_in_each_turn():
    view = render(TURNS)
    cut = view.replace("It is old.\n\nassistant: Searching", "")
    turns = project(TURNS, cut)
    assert turns[0]["content"] == "Find the paper. "
    assert turns[1]["content"] == " now."
    assert turns[1]["role"] == "assistant" and render(turns).count("assistant: ") == 1


def test_role_labels_and_json_punctuation_are_never_cut():
    view = render(TURNS)
    gutted = view.replace("user: ", "").replace('": "old ', "").replace(', "limit"', "")
    turns = project(TURNS, gutted)
    assert [t["role"] for t in turns] == ["user", "assistant", "tool"]
    # the punctuation stays, the text cut goes: part of a value, a whole key
    assert orjson.loads(turns[1]["tool_calls"][0]["function"]["arguments"]) == {
        "q": "paper",
        "": 5,
    }
    assert TURNS[1]["tool_calls"][0]["function"]["arguments"] == '{"q": "old paper", "limit": 5}'


def test_text_added_at_the_end_of_a_turn_stays_in_that_turn():
    turns = [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "x"}]
    out = project(turns, "user: hello\n[truncated]\n\nassistant: x")
    assert [t["content"] for t in out] == ["hello\n[truncated]", "x"]


def test_keys_and_tool_names_are_edited_like_any_text():
    args = '{"bob@example.com": "profile", "n": 1}'
    turns = [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"function": {"name": "mail_bob@example.com", "arguments": args}}],
        }
    ]
    out = winnow.apply_stage("pii", pa.table({"messages": [turns]}))
    fn = out.column("messages").to_pylist()[0][0]["tool_calls"][0]["function"]
    assert fn["name"] == "<EMAIL>"  # (an underscore is part of an address)
    assert orjson.loads(fn["arguments"]) == {"<EMAIL>": "profile", "n": 1}


def test_long_views_keep_every_turn_in_its_place():
    lines = [f"line {k} of the manual" for k in range(12_000)]
    turns = [
        {"role": "user", "content": "\n".join(["mail a@example.com", *lines])},
        {"role": "assistant", "content": "\n".join([*lines, "or b@example.org"])},
    ]
    out = winnow.apply_stage("pii", pa.table({"messages": [turns]}))
    user, assistant = (t["content"] for t in out.column("messages").to_pylist()[0])
    assert user.startswith("mail <EMAIL>\nline 0") and "assistant: " not in user
    assert assistant.endswith("manual\nor <EMAIL>") and assistant.startswith("line 0")


def test_replacements_land_inside_tool_call_string_values():
    turns = [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "type": "function",
                    "function": {"name": "mail", "arguments": '{"to": ["a@example.com"], "n": 1}'},
                }
            ],
        }
    ]
    out = winnow.apply_stage("pii", pa.table({"messages": [turns]}))
    args = out.column("messages").to_pylist()[0][0]["tool_calls"][0]["function"]["arguments"]
    assert orjson.loads(args) == {"to": ["<EMAIL>"], "n": 1}


@pytest.mark.parametrize("cells", [1 << 27, 64, 1])
def test_the_diff_rebuilds_the_new_view_in_any_memory_bound(monkeypatch, cells):
    """Line-level and whole-hunk fallbacks (for views too long to diff by characters) still
    describe the edit exactly."""
    import random

    from winnow.chat import edits

    monkeypatch.setattr(edits, "MAX_CELLS", cells)
    rng = random.Random(cells)
    for _ in range(300):
        old = "".join(rng.choice("ab\nc ") for _ in range(rng.randint(0, 80)))
        new = list(old)
        for _ in range(rng.randint(0, 6)):
            if new and rng.random() < 0.5:
                del new[rng.randrange(len(new))]
            else:
                new.insert(rng.randint(0, len(new)), rng.choice("xy\n"))
        new = "".join(new)
        at, rebuilt = 0, []
        for tag, i1, i2, j1, j2 in edits.opcodes(old, new):
            assert i1 == at
            at = i2
            if tag == "equal":
                assert old[i1:i2] == new[j1:j2]
            rebuilt.append(new[j1:j2])
        assert at == len(old) and "".join(rebuilt) == new
