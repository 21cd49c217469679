"""Chat and agent formats: read and written back with no field lost, OpenAI output for all,
malformed records in the ledger with the turn at fault, determinism and resume."""

from __future__ import annotations

import orjson
import pytest
import yaml

import winnow
from tests.chat_records import ChatCorpus
from tests.conftest import corpus_records, read_ledger, run_two_ways, tree_digest, write_jsonl
from tests.test_resume import _interrupt, _resume_matches_clean_run
from winnow.chat.formats import OPENAI_ROLES

UNUSUAL = [  # valid but unusual: kept, and written back as they came
    {
        "id": "trajectory-messages",
        "messages": [
            {"role": "user", "content": "List the files."},
            {"role": "thought", "content": "I need ls."},
            {"role": "action", "content": "ls -la"},
            {"role": "observation", "content": "a.txt b.txt"},
            {"role": "assistant", "content": "Two files.", "name": "agent-1"},
        ],
    },
    {
        "id": "trajectory-sharegpt",
        "conversations": [
            {"from": "human", "value": "Weather?"},
            {"from": "thought", "value": "Call the API."},
            {"from": "action", "value": "weather(city='Oslo')"},
            {"from": "observation", "value": "rain"},
            {"from": "gpt", "value": "Rain.", "weight": 0},
        ],
    },
    {
        "id": "openai-extras",
        "messages": [
            {"role": "developer", "content": [{"type": "text", "text": "Be terse."}]},
            {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "AAA"}}]},
            {"role": "assistant", "content": "", "refusal": None},
            {"role": "function", "name": "f", "content": "{}"},
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
    },
    {"id": "alpaca-no-input", "instruction": "Name a prime.", "output": "7", "system": "Math."},
    {
        "id": "sharegpt-extras",
        "system": "You are terse.",  # LLaMA-Factory's ShareGPT: a system field
        "conversations": [
            {"from": "human", "value": "hi", "name": "bob", "content": None},
            {"from": "gpt", "value": "hello", "tool_calls": [{"oops": 1}], "weight": 1.5},
        ],
        "tools": '[{"name": "f"}]',
    },
    {
        "id": "openai-object-arguments",  # as Arrow structs give them, and a call without any
        "messages": [
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "a",
                        "type": "function",
                        "function": {"name": "f", "arguments": {"x": 1}},
                    },
                    {"id": "b", "type": "function", "function": {"name": "g", "arguments": ""}},
                ],
            },
        ],
    },
    {
        "id": "react-nulls",  # Arrow structs fill absent fields with nulls
        "question": "Where?",
        "steps": [
            {"thought": "Look.", "action": "look", "action_input": None, "observation": "here"},
            {"thought": "Done.", "action": None, "action_input": {"a": 1}, "observation": None},
        ],
        "answer": None,
    },
    {
        "id": "ultrachat-like",
        "prompt": "Name three rivers.",
        "prompt_id": "p-1",
        "messages": [
            {"role": "user", "content": "Name three rivers."},
            {"role": "assistant", "content": "Nile, Amazon, Danube."},
        ],
    },
    {
        "id": "react-partial",
        "task": "Open the door.",
        "steps": [
            {"thought": "Find the key.", "action": "search", "action_input": "key", "t": 1},
            {"action": "open", "observation": "opened"},
            {"thought": "Done."},
        ],
    },
]


def _as_input(written: dict) -> dict:
    """A written record as its input looked: meta fields back at the top, winnow's own
    columns (source) aside."""
    out = {k: v for k, v in written.items() if k not in ("meta", "source")}
    return {**out, **written.get("meta", {})}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    chat = ChatCorpus()
    return chat, chat.write(tmp_path_factory.mktemp("chat"))


def _run(tmp_path, records: list[dict], chat_format: str = "same", stages=()) -> tuple:
    src = write_jsonl(tmp_path / "in.jsonl", records)
    out = tmp_path / f"out-{chat_format}"
    recipe = {
        "inputs": [str(src)],
        "output": str(out),
        "stages": list(stages),
        "write": {"format": "jsonl", "chat_format": chat_format},
    }
    winnow.run(recipe, workers=1)
    lines = [orjson.loads(x) for p in sorted((out / "data").iterdir()) for x in p.open("rb")]
    return lines, read_ledger(out)


@pytest.mark.parametrize("fmt", ["openai", "sharegpt", "alpaca", "react", "pair", "unusual"])
def test_each_format_comes_back_as_it_went_in(tmp_path, corpus, fmt):
    chat, _ = corpus
    records = UNUSUAL if fmt == "unusual" else [r for r in chat.records if r["id"].startswith(fmt)]
    written, ledger = _run(tmp_path, records)
    assert not ledger
    assert [_as_input(w) for w in written] == records  # field by field, turns in order


def test_a_field_repeating_a_turn_follows_its_edits(tmp_path):
    record = {
        "id": "u",
        "prompt": "Write to jane.doe@example.com",
        "messages": [
            {"role": "user", "content": "Write to jane.doe@example.com"},
            {"role": "assistant", "content": "Done."},
        ],
    }
    written, _ = _run(tmp_path, [record], stages=[{"pii": {}}])
    assert written[0]["prompt"] == written[0]["messages"][0]["content"] == "Write to <EMAIL>"
    assert "jane" not in orjson.dumps(written[0]).decode()


def test_text_beside_turns_is_not_written(tmp_path, corpus):
    chat, _ = corpus
    records = [r for r in chat.records if r["id"].startswith("both")]
    written, _ = _run(tmp_path, records)
    assert [_as_input(w) for w in written] == [
        {k: v for k, v in r.items() if k != "text"} for r in records
    ]


def test_openai_output_for_every_format(tmp_path, corpus):
    chat, _ = corpus
    written, _ = _run(tmp_path, chat.records + UNUSUAL, chat_format="openai")
    assert len(written) == len(chat.records + UNUSUAL)
    for record in written:
        if record["id"].startswith("plain"):
            assert "messages" not in record and record["text"]
            continue
        other_formats = {"conversations", "steps", "instruction", "output", "response"}
        assert not other_formats & record.keys()
        calls = {}
        for turn in record["messages"]:
            assert turn["role"] in OPENAI_ROLES and not any(k.startswith("_") for k in turn)
            for call in turn.get("tool_calls") or []:
                orjson.loads(call["function"]["arguments"] or "{}")  # "": no arguments
                calls[call.get("id")] = call
            if turn["role"] == "tool" and "tool_call_id" in turn:
                assert turn["tool_call_id"] in calls  # answers a call made before it
    react = next(r for r in written if r["id"] == "react-0")
    assert [t["role"] for t in react["messages"]] == [
        "user",
        "assistant",
        "tool",
        "assistant",
        "assistant",
    ]
    assert react["messages"][1]["tool_calls"][0]["function"]["name"] == "search"


BAD = [
    ({"messages": [{"role": "bot", "content": "hi"}]}, "turn 0: unknown role 'bot'"),
    (
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant"}]},
        "turn 1: no content",
    ),
    (
        {
            "messages": [
                {"role": "user", "content": "hi"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"function": {"name": "f", "arguments": "{oops"}}],
                },
            ]
        },
        "turn 1 tool call 0: arguments are not JSON",
    ),
    (
        {
            "conversations": [
                {"from": "human", "value": "x"},
                {"from": "function_call", "value": "y"},
            ]
        },
        'turn 1: function_call value must be JSON {"name", "arguments"}',
    ),
    ({"conversations": [{"from": "human", "value": 3}]}, "turn 0: value must be a string"),
    ({"steps": [{"thought": 1}]}, "step 0: thought must be a string"),
]


def test_malformed_records_name_the_turn_at_fault(tmp_path):
    records = [{"id": f"bad-{i}", **r} for i, (r, _) in enumerate(BAD)]
    records.append({"id": "good", "messages": [{"role": "user", "content": "fine"}]})
    written, ledger = _run(tmp_path, records)
    assert [w["id"] for w in written] == ["good"]
    assert [(r["id"], r["reason"], r["detail"]) for r in ledger] == [
        (f"bad-{i}", "invalid_input:bad_messages", detail) for i, (_, detail) in enumerate(BAD)
    ]


def _manpage_chats(n: int) -> list[dict]:
    """Real man pages as chat records of alternating formats."""
    out = []
    for i, page in enumerate(corpus_records("manpages", limit=n)):
        body = page["text"]
        question = f"What does the manual page {page.get('id', i)} say?"
        if i % 3 == 0:
            rec = {
                "messages": [
                    {"role": "user", "content": question},
                    {"role": "assistant", "content": body},
                ]
            }
        elif i % 3 == 1:
            rec = {
                "conversations": [
                    {"from": "human", "value": question},
                    {"from": "gpt", "value": body},
                ]
            }
        else:
            rec = {"instruction": question, "output": body}
        out.append({"id": f"man-{i}", **rec})
    return out


CHAT_STAGES = [
    {"normalize": {}},
    {"pii": {}},
    {"line_clean": {}},
    {"length_filter": {"min_words": 20, "view": "response"}},
    {"paragraph_dedup": {}},
    {"exact_dedup": {"view": "prompt"}},
    {"minhash_dedup": {"view": "response"}},
]


def test_chat_output_does_not_depend_on_workers_or_shards(tmp_path, corpus):
    chat, _ = corpus
    records = chat.records + _manpage_chats(600)
    files = [write_jsonl(tmp_path / f"in{k}.jsonl", records[k::4]) for k in range(4)]
    one, two = run_two_ways(tmp_path, files, CHAT_STAGES)
    assert tree_digest(one) == tree_digest(two)  # data and ledger, byte for byte
    assert len(read_ledger(one)) > 0


def test_chat_run_killed_then_resumed_matches_a_clean_run(tmp_path):
    folder = tmp_path / "inputs"
    folder.mkdir()
    records = _manpage_chats(3000)
    for k in range(12):
        write_jsonl(folder / f"chat-{k:02d}.jsonl.gz", records[k::12])
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "inputs": [str(folder)],
                "stages": CHAT_STAGES,
                "write": {"format": "jsonl.gz", "shard_docs": 250},
                "read": {"shard_mb": 0.01, "batch_docs": 64},
            }
        )
    )
    out = tmp_path / "killed"
    _interrupt(recipe, out, 5)
    _resume_matches_clean_run(tmp_path, recipe, out, "1")
