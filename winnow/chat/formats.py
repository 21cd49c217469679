"""Chat and agent record formats, read into one list of turns and written back.

The turns are OpenAI chat messages: ``role`` (``system``, ``developer``, ``user``,
``assistant``, ``tool``, ``function``), ``content`` (a string, null, or a list of content
parts), ``tool_calls`` (``[{id, type, function: {name, arguments}}]``, arguments a JSON
string), ``tool_call_id``, ``name``, and any other key the input turn had, kept as it was.
Keys that start with ``_`` are winnow's own: what a format needs to be written back exactly
(``_from``: the input's role label or field; ``_raw``: a verbatim value, dropped as soon as a
stage edits the turn). They are never written.

Mapping onto the roles (README, "Fine-tuning and agent data"):

- OpenAI ``messages``: as they are. Trajectory turns with roles ``thought`` and ``action``
  become ``assistant`` turns, ``observation`` a ``tool`` turn.
- ShareGPT ``conversations: [{from, value}]``: ``human``/``user`` → user, ``gpt``/``assistant``
  → assistant, ``system``, ``tool``/``observation``/``function_response`` → tool,
  ``function_call`` (value ``{"name", "arguments"}`` as JSON) → an assistant tool call,
  ``thought``/``action`` → assistant.
- Alpaca ``instruction`` (+ ``input``) / ``output``: a user turn whose content parts are the
  instruction and the input, an assistant turn; ``system`` a system turn.
- ``prompt`` / ``response``: a user and an assistant turn (``system`` likewise).
- ReAct ``steps: [{thought, action, action_input, observation}]``: thought and action are an
  assistant turn with a tool call (``action`` its name, ``action_input`` its JSON
  arguments), observation the tool turn answering it; a ``question``/``task``/``query``/
  ``goal``/``instruction``/``input``/``prompt`` field is a user turn before the steps, and
  ``final_answer``/``answer`` an assistant turn after them.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from winnow.chat.view import turn_text
from winnow.schema import InvalidRecord

FORMATS = ("openai", "sharegpt", "alpaca", "prompt_response", "react")
OPENAI_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
TRAJECTORY_ROLES = {"thought": "assistant", "action": "assistant", "observation": "tool"}
SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "system": "system",
    "tool": "tool",
    "observation": "tool",
    "function_response": "tool",
    "function_call": "assistant",
    **TRAJECTORY_ROLES,
}
CHAT_KEYS = frozenset({"messages", "conversations", "steps", "prompt", "instruction"})
"""A record without any of these fields is a plain document."""
REACT_PROMPT_KEYS = ("question", "task", "query", "goal", "instruction", "input", "prompt")
REACT_ANSWER_KEYS = ("final_answer", "answer")
STEP_KEYS = ("thought", "action", "action_input", "observation")

Turn = dict[str, Any]


def _bad(where: str, what: str) -> InvalidRecord:
    return InvalidRecord("bad_messages", f"{where}: {what}")


def _maybe_json(value: Any) -> Any:
    """A chat field written as JSON text (Parquet, CSV) parsed; anything else as it is."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _check_arguments(arguments: Any, where: str) -> None:
    """Arguments are a JSON string (``""``: none)."""
    if not isinstance(arguments, str):
        raise _bad(where, "arguments must be a JSON string")
    try:
        orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        raise _bad(where, "arguments are not JSON") from None


def _json_text(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # integers beyond 64 bits
        return json.dumps(value, ensure_ascii=False)


def _check_openai_turn(turn: Any, i: int) -> Turn:
    where = f"turn {i}"
    if not isinstance(turn, dict):
        raise _bad(where, "not an object")
    role = turn.get("role")
    if role in TRAJECTORY_ROLES:
        turn = {**turn, "role": TRAJECTORY_ROLES[role], "_from": role}
    elif role not in OPENAI_ROLES:
        raise _bad(where, f"unknown role {role!r}")
    content = turn.get("content")
    calls = turn.get("tool_calls")
    if calls is not None:
        if not isinstance(calls, list):
            raise _bad(where, "tool_calls must be a list")
        objects = []
        for c, call in enumerate(calls):
            fn = call.get("function") if isinstance(call, dict) else None
            if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
                raise _bad(f"{where} tool call {c}", "needs function.name")
            if isinstance(fn.get("arguments"), (dict, list)):  # Arrow structs, some datasets
                objects.append(c)
            else:
                _check_arguments(fn.get("arguments"), f"{where} tool call {c}")
        if objects:  # kept as JSON text like any other, written back as objects
            turn = orjson.loads(orjson.dumps(turn))
            for c in objects:
                fn = turn["tool_calls"][c]["function"]
                fn["arguments"] = _json_text(fn["arguments"])
            turn["_object_args"] = objects
    if isinstance(content, list):
        for k, part in enumerate(content):
            if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                raise _bad(f"{where} content part {k}", "needs a type")
            if part["type"] == "text" and not isinstance(part.get("text"), str):
                raise _bad(f"{where} content part {k}", "text part without text")
    elif content is None:
        if not calls:
            raise _bad(where, "no content")
    elif not isinstance(content, str):
        raise _bad(where, "content must be a string, null or a list of parts")
    return turn


def _from_openai(messages: Any) -> list[Turn]:
    if not isinstance(messages, list) or not messages:
        raise _bad("messages", "must be a non-empty list")
    return [_check_openai_turn(t, i) for i, t in enumerate(messages)]


def _function_call(value: str, where: str) -> Turn:
    try:
        call = orjson.loads(value)
    except orjson.JSONDecodeError:
        call = None
    if not isinstance(call, dict) or not isinstance(call.get("name"), str):
        raise _bad(where, 'function_call value must be JSON {"name", "arguments"}')
    args = call.get("arguments", {})
    arguments = args if isinstance(args, str) else _json_text(args)
    _check_arguments(arguments, where)
    fn = {"name": call["name"], "arguments": arguments}
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"type": "function", "function": fn}],
    }


def _from_sharegpt(conversations: Any) -> list[Turn]:
    if not isinstance(conversations, list) or not conversations:
        raise _bad("conversations", "must be a non-empty list")
    turns = []
    for i, turn in enumerate(conversations):
        where = f"turn {i}"
        if not isinstance(turn, dict):
            raise _bad(where, "not an object")
        label, value = turn.get("from"), turn.get("value")
        if label not in SHAREGPT_ROLES:
            raise _bad(where, f"unknown role {label!r}")
        if not isinstance(value, str):
            raise _bad(where, "value must be a string")
        if label == "function_call":
            out = {**_function_call(value, where), "_raw": value}
        else:
            out = {"role": SHAREGPT_ROLES[label], "content": value}
        extra = {k: v for k, v in turn.items() if k not in ("from", "value")}
        if extra:  # kept as they are, outside the view
            out["_extra"] = extra
        turns.append({**out, "_from": label})
    return turns


def _text_field(record: dict, key: str) -> str:
    value = record[key]
    if not isinstance(value, str):
        raise InvalidRecord("text_not_string", f"'{key}' is not a string")
    return value


def _system(record: dict) -> list[Turn]:
    system = record.get("system")
    if system is None:
        return []
    return [{"role": "system", "content": _text_field(record, "system"), "_from": "system"}]


def _from_pair(record: dict, prompt_key: str, response_key: str) -> list[Turn]:
    prompt = _text_field(record, prompt_key)
    if prompt_key == "instruction" and "input" in record and record["input"] is not None:
        parts = [
            {"type": "text", "text": prompt},
            {"type": "text", "text": _text_field(record, "input")},
        ]
        user = {"role": "user", "content": parts, "_from": "instruction+input"}
    else:
        user = {"role": "user", "content": prompt, "_from": prompt_key}
    answer = {
        "role": "assistant",
        "content": _text_field(record, response_key),
        "_from": response_key,
    }
    return [*_system(record), user, answer]


def _from_react(record: dict) -> list[Turn]:
    steps = record["steps"]
    if not isinstance(steps, list) or not steps:
        raise _bad("steps", "must be a non-empty list")
    turns = _system(record)
    turns += [
        {"role": "user", "content": _text_field(record, key), "_from": key}
        for key in REACT_PROMPT_KEYS
        if record.get(key) is not None
    ]
    for k, step in enumerate(steps):
        where = f"step {k}"
        if not isinstance(step, dict):
            raise _bad(where, "not an object")
        used = {key for key in ("thought", "action", "observation") if step.get(key) is not None}
        if not used:
            raise _bad(where, "needs a thought, an action or an observation")
        for key in used:
            if not isinstance(step[key], str):
                raise _bad(where, f"{key} must be a string")
        if "action" in used and "action_input" in step:
            used.add("action_input")
        call_id = f"step_{k}"
        turn: Turn = {"role": "assistant", "content": step.get("thought"), "_from": "step"}
        turn["_step"] = [key if key in used else [key, step[key]] for key in step]
        if "action" in used:
            args = _json_text(step.get("action_input", {}))
            fn = {"name": step["action"], "arguments": args}
            turn["tool_calls"] = [{"id": call_id, "type": "function", "function": fn}]
        if turn["content"] is None and "tool_calls" not in turn:
            turn["content"] = ""
        turns.append(turn)
        if "observation" in used:
            turns.append(
                {
                    "role": "tool",
                    "tool_call_id": call_id,
                    "content": step["observation"],
                    "_from": "step",
                }
            )
    turns += [
        {"role": "assistant", "content": _text_field(record, key), "_from": key}
        for key in REACT_ANSWER_KEYS
        if record.get(key) is not None
    ]
    return turns


def _mirror(record: dict, turns: list[Turn], used: set[str], text_field: str) -> set[str]:
    """Other string fields of the record that repeat a turn's text exactly (UltraChat's
    ``prompt`` beside its ``messages``) follow that turn: noted in the first turn's
    ``_mirrors`` and written from the turn, so an edit of the turn reaches them too. Returns
    the record's keys the turns account for."""
    texts = [turn_text(t) for t in turns]
    mirrors = {}
    for key, value in record.items():
        if key in used or key in (text_field, "id", "meta") or not isinstance(value, str):
            continue
        if value in texts:
            mirrors[key] = texts.index(value)
    if mirrors:
        turns[0] = {**turns[0], "_mirrors": mirrors}
    return used | mirrors.keys()


def read_chat(record: dict, text_field: str = "text") -> tuple[str, list[Turn], set[str]] | None:
    """``(format, turns, the record's keys they came from)`` for a chat or agent record,
    None for a plain document. Raises ``InvalidRecord("bad_messages")`` naming the turn."""
    has_text = record.get(text_field) is not None
    if record.get("messages") is not None:
        turns = _from_openai(_maybe_json(record["messages"]))
        return "openai", turns, _mirror(record, turns, {"messages"}, text_field)
    if record.get("conversations") is not None:
        system = []
        if isinstance(record.get("system"), str):  # LLaMA-Factory's ShareGPT: a system field
            system = [{"role": "system", "content": record["system"], "_from": "@system"}]
        turns = system + _from_sharegpt(_maybe_json(record["conversations"]))
        used = {"conversations", *(["system"] if system else [])}
        return "sharegpt", turns, _mirror(record, turns, used, text_field)
    if has_text:
        return None
    if record.get("steps") is not None:
        record = {**record, "steps": _maybe_json(record["steps"])}
        fields = ("system", *REACT_PROMPT_KEYS, *REACT_ANSWER_KEYS)
        keys = {"steps"} | {k for k in fields if record.get(k) is not None}
        return "react", _from_react(record), keys
    for fmt, prompt_key, response_key in (
        ("prompt_response", "prompt", "response"),
        ("alpaca", "instruction", "output"),
    ):
        if prompt_key in record and response_key in record:
            optional = ("system", "input") if fmt == "alpaca" else ("system",)
            keys = {prompt_key, response_key} | {k for k in optional if record.get(k) is not None}
            return fmt, _from_pair(record, prompt_key, response_key), keys
    return None


# writing ---------------------------------------------------------------------------------


def _public(turn: Turn) -> Turn:
    return {k: v for k, v in turn.items() if not k.startswith("_")}


def to_openai(turns: list[Turn]) -> list[Turn]:
    """The turns as OpenAI messages (winnow's own keys dropped)."""
    return [_public(t) for t in turns]


def _to_input_openai(turns: list[Turn]) -> dict:
    out = []
    for turn in turns:
        public = _public(turn)
        if turn.get("_from") in TRAJECTORY_ROLES:
            public["role"] = turn["_from"]
        for c in turn.get("_object_args", ()):
            public["tool_calls"] = [dict(call) for call in public["tool_calls"]]
            fn = dict(public["tool_calls"][c]["function"])
            fn["arguments"] = orjson.loads(fn["arguments"])
            public["tool_calls"][c] = {**public["tool_calls"][c], "function": fn}
        out.append(public)
    return {"messages": out}


def _to_sharegpt(turns: list[Turn]) -> dict:
    out, fields = [], {}
    for turn in turns:
        label = turn["_from"]
        if label == "@system":
            fields["system"] = turn_text(turn)
            continue
        extra = turn.get("_extra", {})
        if label == "function_call":
            value = turn.get("_raw")
            if value is None:
                fn = turn["tool_calls"][0]["function"]
                call = {"name": fn["name"], "arguments": orjson.loads(fn["arguments"])}
                value = orjson.dumps(call).decode()
        else:
            value = turn_text(turn)
        out.append({"from": label, "value": value, **extra})
    return {**fields, "conversations": out}


def _to_pair(turns: list[Turn]) -> dict:
    out: dict[str, Any] = {}
    for turn in turns:
        label = turn["_from"]
        if label == "instruction+input":
            out["instruction"], out["input"] = (p["text"] for p in turn["content"])
        else:
            out[label] = turn_text(turn)
    return out


def _to_react(turns: list[Turn]) -> dict:
    out: dict[str, Any] = {}
    steps: list[dict] = []
    for turn in turns:
        label = turn["_from"]
        if label != "step":
            out[label] = turn_text(turn)
        elif turn["role"] == "tool":
            steps[-1]["observation"] = turn_text(turn)
        else:
            call = (turn.get("tool_calls") or [{}])[0].get("function", {})
            values = {
                "thought": turn.get("content"),
                "action": call.get("name"),
                "action_input": orjson.loads(call["arguments"]) if call else None,
                "observation": None,
            }
            steps.append(
                {
                    (key if isinstance(key, str) else key[0]): (
                        values[key] if isinstance(key, str) else key[1]
                    )
                    for key in turn["_step"]
                }
            )
    out["steps"] = steps
    return out


_WRITERS = {
    "openai": _to_input_openai,
    "sharegpt": _to_sharegpt,
    "alpaca": _to_pair,
    "prompt_response": _to_pair,
    "react": _to_react,
}


def write_chat(turns: list[Turn], fmt: str, chat_format: str = "same") -> dict:
    """The record fields of a conversation: in its input format ``fmt`` (``chat_format:
    same``) or as OpenAI ``messages`` (``chat_format: openai``)."""
    fields = {"messages": to_openai(turns)} if chat_format == "openai" else _WRITERS[fmt](turns)
    for key, i in (turns[0].get("_mirrors") or {}).items() if turns else ():
        if i < len(turns):
            fields[key] = turn_text(turns[i])
    return fields
