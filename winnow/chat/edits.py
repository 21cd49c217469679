"""One way for every edit to reach the turns: the turns are the data, the view follows.

A stage edits the ``text`` view as it does for any document. ``follow`` (run by the engine
and by ``apply_stage`` after every stage, so no stage can forget it) finds, for each chat row
whose view changed, the new text of every slot, and writes it into the turns:

- when every fixed run of the view (role labels, separators, JSON punctuation) survived the
  edit, the new view is cut at those runs (the new turns then render to exactly the view the
  stage produced);
- otherwise (the edit cut into fixed text) a diff decides: rapidfuzz's Indel opcodes
  (insertions and deletions over the longest common subsequence), in bounded memory (the
  common prefix and suffix cut off, the rest diffed by lines, each changed run of lines by
  characters, a run too large for that replaced whole). Deleted fixed text stays (role labels
  are never cut), a span crossing a turn boundary is cut in each turn, text inserted in fixed
  text goes to the nearest slot.

Tool-call arguments are re-serialised from their edited keys and string values (valid JSON),
and the view is rendered again from the turns. A stage that edits the turns itself
(``normalize``, through ``map_slots``) gets its view rendered from them.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz.distance import Indel

from winnow.chat.view import Slot, Turn, pieces, render


@dataclass
class _Layout:
    """A view's slots: where each starts and ends, where its text lives, its text, and the
    fixed text before each slot (``runs[k]``) and after the last (``runs[-1]``)."""

    starts: list[int]
    ends: list[int]
    where: list[Slot]
    texts: list[str]
    runs: list[str]
    view: str


def _slots(turns: list[Turn]) -> _Layout:
    layout = _Layout([], [], [], [], [""], "")
    view, at = [], 0
    for text, slot in pieces(turns):
        if slot is None:
            layout.runs[-1] += text
        else:
            layout.starts.append(at)
            layout.ends.append(at + len(text))
            layout.where.append(slot)
            layout.texts.append(text)
            layout.runs.append("")
        view.append(text)
        at += len(text)
    layout.view = "".join(view)
    return layout


def _split(runs: list[str], view: str) -> list[str] | None:
    """The slot texts of ``view``, cut at the fixed runs found in order (each the first
    occurrence after the previous); None when a run is missing or the cut is ambiguous."""
    if not view.startswith(runs[0]) or not view.endswith(runs[-1]):
        return None
    at, end, out = len(runs[0]), len(view) - len(runs[-1]), []
    for run in runs[1:-1]:
        j = view.find(run, at, end) if run else -1
        if j < 0:
            return None
        out.append(view[at:j])
        at = j + len(run)
    if at > end:
        return None
    return [*out, view[at:end]]


def _owner(starts: list[int], ends: list[int], at: int) -> int:
    """The slot that text inserted at view position ``at`` goes to: the slot holding it or
    ending there, else the next slot, else the last."""
    k = bisect.bisect_right(starts, at) - 1
    if k >= 0 and at <= ends[k]:
        return k
    return min(k + 1, len(starts) - 1)


def _rename(args: object, path: tuple, new: str) -> object:
    """The arguments with the key at ``path`` renamed (order kept)."""
    if len(path) == 1:
        return {(new if k == path[0] else k): v for k, v in args.items()}
    args[path[0]] = _rename(args[path[0]], path[1:], new)
    return args


def set_slots(turns: list[Turn], where: list[Slot], values: list[str]) -> list[Turn]:
    """A copy of the turns with each slot given its new text (only changed turns copied)."""
    out = list(turns)
    args: dict[tuple[int, int], object] = {}
    renames: list[tuple[tuple[int, int], tuple, str]] = []
    for slot, value in zip(where, values):
        i, kind = slot[0], slot[1]
        if out[i] is turns[i]:
            out[i] = orjson.loads(orjson.dumps(turns[i]))  # a deep copy, several times faster
            out[i].pop("_raw", None)
        turn = out[i]
        if kind == "content":
            turn["content"] = value
        elif kind == "part":
            turn["content"][slot[2]]["text"] = value
        elif kind == "name":
            turn["tool_calls"][slot[2]]["function"]["name"] = value
        else:
            call = (i, slot[2])
            if call not in args:
                args[call] = orjson.loads(turn["tool_calls"][slot[2]]["function"]["arguments"])
            path = slot[3]
            if kind == "key":
                renames.append((call, path, value))
            elif not path:
                args[call] = value
            else:
                target = args[call]
                for step in path[:-1]:
                    target = target[step]
                target[path[-1]] = value
    for call, path, value in sorted(renames, key=lambda r: -len(r[1])):  # inner keys first
        args[call] = _rename(args[call], path, value)
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


def _slide(view: str, layout: _Layout, at: int, text: str) -> tuple[int, str]:
    """An insertion at a fixed-text position moved, along characters it repeats, onto the
    end of the slot before it or the start of the slot after (the same edit: a diff may put
    ``hello`` + ``\n[cut]`` as ``hello\n`` + ``[cut]\n``)."""
    k = bisect.bisect_right(layout.starts, at) - 1
    if k >= 0 and at <= layout.ends[k]:
        return at, text  # inside or at the end of a slot already
    left, moved = at, text
    while moved and left > 0 and view[left - 1] == moved[-1]:
        left, moved = left - 1, view[left - 1] + moved[:-1]
        if k >= 0 and left == layout.ends[k]:
            return left, moved
    right, moved = at, text
    nxt = layout.starts[k + 1] if k + 1 < len(layout.starts) else None
    while moved and right < len(view) and view[right] == moved[0]:
        right, moved = right + 1, moved[1:] + view[right]
        if right == nxt:
            return right, moved
    return at, text


def _diffed(layout: _Layout, new_view: str) -> list[str]:
    """The slot texts of ``new_view`` by a character diff against the old view."""
    old_view = layout.view
    starts, ends = layout.starts, layout.ends
    out: list[list[str]] = [[] for _ in starts]
    for tag, i1, i2, j1, j2 in opcodes(old_view, new_view):
        if tag == "equal":
            k = max(bisect.bisect_right(starts, i1) - 1, 0)
            while k < len(starts) and starts[k] < i2:
                lo, hi = max(starts[k], i1), min(ends[k], i2)
                if lo < hi:
                    out[k].append(old_view[lo:hi])
                k += 1
        elif j2 > j1:  # insert or replace: the new text goes to the slot at i1
            at, text = i1, new_view[j1:j2]
            if i1 == i2:
                at, text = _slide(old_view, layout, i1, text)
            out[_owner(starts, ends, at)].append(text)
    return ["".join(parts) for parts in out]


def project(turns: list[Turn], new_view: str) -> list[Turn]:
    """The turns with the edit that turned their view into ``new_view`` applied inside them.

    Where every fixed run of the view survived the edit, and cutting the old view at those
    runs gives back its own slots (no slot text holds the run after it), the new slot texts
    are the new view cut at the same runs: the view rendered from the new turns is exactly
    ``new_view``. Otherwise (the edit cut into role labels or other fixed text) the diff
    decides where each change lands."""
    layout = _slots(turns)
    if not layout.where or new_view == layout.view:
        return turns
    values = None
    if _split(layout.runs, layout.view) == layout.texts:
        values = _split(layout.runs, new_view)
    if values is None:
        values = _diffed(layout, new_view)
    changed = [k for k, (a, b) in enumerate(zip(layout.texts, values)) if a != b]
    if not changed:
        return turns
    return set_slots(turns, [layout.where[k] for k in changed], [values[k] for k in changed])


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
        layout = _slots(turns)
        where, slot_texts = layout.where, layout.texts
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
