"""One way for every edit to reach the turns: the turns are the data, the view follows.

A stage edits the ``text`` view as it does for any document. ``follow`` (run by the engine
and by ``apply_stage`` after every stage, so no stage can forget it) diffs each chat row's
view before and after the stage and replays the edit inside the slots it touched. The diff
is rapidfuzz's Indel opcodes (insertions and deletions over the longest common subsequence)
in bounded memory: the common prefix and suffix are cut off, the rest is diffed by lines,
and each changed run of lines by characters (a run too large for that is replaced whole).
The edit lands as follows: a span
that crosses a turn boundary is cut in each turn, role labels and other fixed text stay, text
inserted in fixed text goes to the nearest slot, and tool-call arguments are re-serialised
from their edited string values (valid JSON). The view is then rendered again from the turns.
A stage that edits the turns itself (``normalize``, through ``map_slots``) gets its view
rendered from them.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz.distance import Indel

from winnow.chat.view import Slot, Turn, pieces, render


def _slots(turns: list[Turn]) -> tuple[list[int], list[int], list[Slot], list[str], str]:
    starts, ends, where, texts, view = [], [], [], [], []
    at = 0
    for text, slot in pieces(turns):
        if slot is not None:
            starts.append(at)
            ends.append(at + len(text))
            where.append(slot)
            texts.append(text)
        view.append(text)
        at += len(text)
    return starts, ends, where, texts, "".join(view)


def _owner(starts: list[int], ends: list[int], at: int) -> int:
    """The slot that text inserted at view position ``at`` goes to: the slot holding it or
    ending there, else the next slot, else the last."""
    k = bisect.bisect_right(starts, at) - 1
    if k >= 0 and at <= ends[k]:
        return k
    return min(k + 1, len(starts) - 1)


def set_slots(turns: list[Turn], where: list[Slot], values: list[str]) -> list[Turn]:
    """A copy of the turns with each slot given its new text (only changed turns copied)."""
    out = list(turns)
    args: dict[tuple[int, int], object] = {}
    for slot, value in zip(where, values):
        i = slot[0]
        if out[i] is turns[i]:
            out[i] = orjson.loads(orjson.dumps(turns[i]))  # a deep copy, several times faster
            out[i].pop("_raw", None)
        turn = out[i]
        if slot[1] == "content":
            turn["content"] = value
        elif slot[1] == "part":
            turn["content"][slot[2]]["text"] = value
        else:
            key = (i, slot[2])
            if key not in args:
                args[key] = orjson.loads(turn["tool_calls"][slot[2]]["function"]["arguments"])
            path = slot[3]
            if not path:
                args[key] = value
                continue
            target = args[key]
            for step in path[:-1]:
                target = target[step]
            target[path[-1]] = value
    for (i, c), value in args.items():
        out[i]["tool_calls"][c]["function"]["arguments"] = orjson.dumps(value).decode()
    return out


MAX_CELLS = 1 << 27
"""Largest ``len(a) * len(b)`` diffed at once (the LCS bit matrix: 16 MB)."""


def _line_starts(lines: list[str], base: int) -> list[int]:
    starts = [base]
    for line in lines:
        starts.append(starts[-1] + len(line))
    return starts


def _common(same: Callable[[int], bool], limit: int) -> int:
    """The largest ``k <= limit`` with ``same(k)`` (a common prefix or suffix length)."""
    lo, hi = 0, limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if same(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def opcodes(old: str, new: str) -> list[tuple[str, int, int, int, int]]:
    """``(tag, i1, i2, j1, j2)`` turning ``old`` into ``new``, in bounded memory."""
    n = min(len(old), len(new))
    pre = _common(lambda k: old[:k] == new[:k], n)
    post = _common(lambda k: old[len(old) - k :] == new[len(new) - k :], n - pre)
    a, b = old[pre : len(old) - post], new[pre : len(new) - post]
    out = [("equal", 0, pre, 0, pre)] if pre else []
    if len(a) * len(b) <= MAX_CELLS:
        hunks = [("replace", pre, pre + len(a), pre, pre + len(b))]
    else:
        la, lb = a.splitlines(keepends=True), b.splitlines(keepends=True)
        if len(la) * len(lb) > MAX_CELLS:
            la, lb = [a], [b]
        sa, sb = _line_starts(la, pre), _line_starts(lb, pre)
        hunks = [
            (tag, sa[i1], sa[i2], sb[j1], sb[j2]) for tag, i1, i2, j1, j2 in Indel.opcodes(la, lb)
        ]
    for tag, i1, i2, j1, j2 in hunks:
        if tag == "equal" or (i2 - i1) * (j2 - j1) > MAX_CELLS or i1 == i2 or j1 == j2:
            out.append((tag, i1, i2, j1, j2))
            continue
        for t, x1, x2, y1, y2 in Indel.opcodes(old[i1:i2], new[j1:j2]):
            out.append((t, i1 + x1, i1 + x2, j1 + y1, j1 + y2))
    if post:
        out.append(("equal", len(old) - post, len(old), len(new) - post, len(new)))
    return out


def project(turns: list[Turn], new_view: str) -> list[Turn]:
    """The turns with the edit that turned their view into ``new_view`` applied inside them."""
    starts, ends, where, old_texts, old_view = _slots(turns)
    if not where or new_view == old_view:
        return turns
    out: list[list[str]] = [[] for _ in where]
    for tag, i1, i2, j1, j2 in opcodes(old_view, new_view):
        if tag == "equal":
            k = max(bisect.bisect_right(starts, i1) - 1, 0)
            while k < len(starts) and starts[k] < i2:
                lo, hi = max(starts[k], i1), min(ends[k], i2)
                if lo < hi:
                    out[k].append(old_view[lo:hi])
                k += 1
        elif j2 > j1:  # insert or replace: the new text goes to the slot at i1
            out[_owner(starts, ends, i1)].append(new_view[j1:j2])
    values = ["".join(parts) for parts in out]
    changed = [k for k, (a, b) in enumerate(zip(old_texts, values)) if a != b]
    if not changed:
        return turns
    return set_slots(turns, [where[k] for k in changed], [values[k] for k in changed])


def loads(value: str | None) -> list[Turn] | None:
    return None if value is None else orjson.loads(value)


def dumps(turns: list[Turn]) -> str:
    return orjson.dumps(turns).decode()


def _differs(a: pa.Array, b: pa.Array) -> np.ndarray:
    same = pc.fill_null(pc.equal(a, b), False)
    both_null = pc.and_(a.is_null(), b.is_null())
    return ~pc.or_(same, both_null).to_numpy(zero_copy_only=False)


def _replace(column: pa.Array, rows: list[int], values: list[str]) -> pa.Array:
    mask = np.zeros(len(column), dtype=bool)
    mask[rows] = True
    return pc.replace_with_mask(column, pa.array(mask), pa.array(values, column.type))


def _set(batch: pa.RecordBatch, name: str, column: pa.Array) -> pa.RecordBatch:
    return batch.set_column(batch.schema.get_field_index(name), name, column)


def follow(before: pa.RecordBatch, after: pa.RecordBatch) -> pa.RecordBatch:
    """``after`` (a stage's output for the rows of ``before``) with every edit of a chat
    row's ``text`` carried into its turns, and its ``text`` rendered from the turns."""
    if "messages" not in after.schema.names or "text" not in after.schema.names:
        return after
    messages = after.column("messages")
    if messages.null_count == len(messages):
        return after
    chat = messages.is_valid().to_numpy(zero_copy_only=False)
    turns_changed = _differs(before.column("messages"), messages)
    text_changed = _differs(before.column("text"), after.column("text"))
    rows = np.flatnonzero(chat & (turns_changed | text_changed)).tolist()
    if not rows:
        return after
    old_messages = before.column("messages")
    new_texts = after.column("text")
    texts, dumped = [], []
    for row in rows:
        if turns_changed[row]:
            turns = loads(messages[row].as_py())
        else:
            turns = project(loads(old_messages[row].as_py()), new_texts[row].as_py() or "")
        texts.append(render(turns))
        dumped.append(dumps(turns))
    after = _set(after, "messages", _replace(messages, rows, dumped))
    return _set(after, "text", _replace(after.column("text"), rows, texts))


def map_slots(messages: pa.Array, fn: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """The turns with a vectorised ``str -> str`` function applied to every slot."""
    rows = pc.indices_nonzero(messages.is_valid()).to_pylist()
    if not rows:
        return messages
    parsed, slots, texts = [], [], []
    for row in rows:
        turns = loads(messages[row].as_py())
        _, _, where, slot_texts, _ = _slots(turns)
        parsed.append(turns)
        slots.append(where)
        texts += slot_texts
    new = fn(pa.array(texts, pa.large_string())).to_pylist()
    changed_rows, dumped, at = [], [], 0
    for row, turns, where in zip(rows, parsed, slots):
        old, values = texts[at : at + len(where)], new[at : at + len(where)]
        at += len(where)
        changed = [k for k in range(len(where)) if old[k] != values[k]]
        if changed:
            turns = set_slots(turns, [where[k] for k in changed], [values[k] for k in changed])
            changed_rows.append(row)
            dumped.append(dumps(turns))
    return _replace(messages, changed_rows, dumped) if changed_rows else messages
