"""The text views of a conversation, built from its turns.

The ``text`` view is what every text stage reads and edits: each turn as ``role: `` then its
text (string content, text content parts), then each tool call as ``[tool_call NAME] `` and
its arguments, turns separated by a blank line. The view is a sequence of *pieces*: fixed
text (role labels, separators, JSON punctuation, numbers, booleans and nulls) and *slots*
(the turn text, tool names, and every key and string value inside tool-call arguments).
Edits land in slots only (``winnow.chat.edits``), so role labels are never cut and arguments
stay valid JSON.

The other views, for selectors and filters: ``prompt`` (system, developer and user turns),
``response`` (assistant turns, not tool output), ``last_response`` (the last assistant turn
with text) and ``tool_calls`` (``NAME ARGUMENTS`` per call). Plain documents give their
``text`` in every view.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
import pyarrow as pa

Turn = dict[str, Any]
Slot = tuple
"""Where a slot's text lives: ``(turn, "content")``, ``(turn, "part", k)``, ``(turn, "name",
call)`` (a tool name), ``(turn, "args", call, path)`` (a string value inside the arguments) or
``(turn, "key", call, path)`` (a key inside them)."""
Piece = tuple[str, Slot | None]

View = Literal["text", "prompt", "response", "last_response", "tool_calls"]
VIEWS: tuple[str, ...] = View.__args__
PROMPT_ROLES = frozenset({"system", "developer", "user"})
RESPONSE_ROLES = frozenset({"assistant"})


def _json_pieces(value: Any, call: tuple, path: tuple) -> list[Piece]:
    """A tool call's arguments: keys and string values are slots, the rest fixed."""
    if isinstance(value, str):
        return [('"', None), (value, (*call[:1], "args", *call[1:], path)), ('"', None)]
    if isinstance(value, dict):
        out: list[Piece] = []
        for n, (key, item) in enumerate(value.items()):
            out.append((', "' if n else '{"', None))
            out.append((key, (*call[:1], "key", *call[1:], (*path, key))))
            out.append(('": ', None))
            out += _json_pieces(item, call, (*path, key))
        return [*out, ("}", None)] if out else [("{}", None)]
    if isinstance(value, list):
        out = [("[", None)]
        for n, item in enumerate(value):
            if n:
                out.append((", ", None))
            out += _json_pieces(item, call, (*path, n))
        return [*out, ("]", None)]
    return [(orjson.dumps(value).decode(), None)]


def text_parts(turn: Turn) -> list[tuple[str, Slot]]:
    """The turn's text and where each piece of it lives (empty text parts left out)."""
    content = turn.get("content")
    if isinstance(content, str):
        return [(content, ("content",))]
    if isinstance(content, list):
        return [
            (part["text"], ("part", k))
            for k, part in enumerate(content)
            if part.get("type") == "text" and part.get("text")
        ]
    return []


def pieces(turns: list[Turn]) -> list[Piece]:
    """The ``text`` view of a conversation as fixed pieces and slots."""
    out: list[Piece] = []
    for i, turn in enumerate(turns):
        out.append((("\n\n" if i else "") + f"{turn['role']}: ", None))
        body: list[Piece] = []
        for text, where in text_parts(turn):
            if body:
                body.append(("\n\n", None))
            body.append((text, (i, *where)))
        for c, call in enumerate(turn.get("tool_calls") or ()):
            fn = call["function"]
            body.append((("\n" if body else "") + "[tool_call ", None))
            body += [(fn["name"], (i, "name", c)), ("] ", None)]
            body += _json_pieces(orjson.loads(fn["arguments"] or "{}"), (i, c), ())
        out += body
    return out


def render(turns: list[Turn]) -> str:
    """The ``text`` view of a conversation."""
    return "".join(text for text, _ in pieces(turns))


def turn_text(turn: Turn) -> str:
    """A turn's text: its string content, or its text parts separated by blank lines."""
    return "\n\n".join(text for text, _ in text_parts(turn))


def view_of(turns: list[Turn], view: str) -> str:
    """One named view of a conversation."""
    if view == "text":
        return render(turns)
    if view == "prompt":
        chosen = [turn_text(t) for t in turns if t["role"] in PROMPT_ROLES]
    elif view == "response":
        chosen = [turn_text(t) for t in turns if t["role"] in RESPONSE_ROLES]
    elif view == "last_response":
        texts = [turn_text(t) for t in turns if t["role"] in RESPONSE_ROLES]
        chosen = [next((t for t in reversed(texts) if t), "")]
    elif view == "tool_calls":
        chosen = [
            f"{call['function']['name']} {call['function']['arguments'] or '{}'}"
            for t in turns
            for call in t.get("tool_calls") or ()
        ]
        return "\n".join(chosen)
    else:
        raise ValueError(f"unknown view {view!r} (known: {', '.join(VIEWS)})")
    return "\n\n".join(t for t in chosen if t)


def text_view(batch, view: str) -> list[str]:
    """The chosen view of every document of an Arrow batch (plain documents: ``text``)."""
    texts = [t or "" for t in batch.column("text").to_pylist()]
    if view == "text" or "messages" not in batch.schema.names:
        return texts
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r} (known: {', '.join(VIEWS)})")
    out = []
    for text, raw in zip(texts, batch.column("messages").to_pylist()):
        out.append(text if raw is None else view_of(orjson.loads(raw), view))
    return out


def view_array(batch, view: str):
    """The chosen view as an Arrow string array (``text`` itself, uncopied, for ``text``)."""
    if view == "text" or "messages" not in batch.schema.names:
        column = batch.column("text")
        return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return pa.array(text_view(batch, view), pa.large_string())
