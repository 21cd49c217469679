"""ProX programs (Zhou et al. 2024, "Programming Every Example"): the model writes a small
program per document, executed here deterministically. The grammar, one call per line:

- ``drop_doc()``: drop the document (ledger reason ``prox_drop_doc``);
- ``keep_doc()``: keep it as it is;
- ``remove_lines(start, end)``: remove lines ``start`` to ``end`` inclusive, numbered from 0
  as the prompt shows them;
- ``normalize("source", "target")``: replace every occurrence of ``source`` with ``target``
  (Python string literals; ``source`` non-empty).

Line numbers refer to the document as it was shown: every ``remove_lines`` applies first,
then the ``normalize`` calls in program order. Parsed with ``ast``, never evaluated; any other
statement, name, argument or a line out of range makes the program invalid (ledger reason
``prox_invalid_program``, the error in ``detail``). Code fences around the answer are allowed.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

_ARITY = {"drop_doc": (), "keep_doc": (), "remove_lines": (int, int), "normalize": (str, str)}


class InvalidProgram(ValueError):
    pass


@dataclass(frozen=True)
class Outcome:
    text: str | None
    """The edited document, or None when the program drops it."""
    effect: str
    """What the program did: ``dropped``, ``unchanged`` or ``removed N lines; M
    replacements``."""


def numbered(text: str) -> str:
    """The document as the prompt shows it: ``[n] `` before each line."""
    return "\n".join(f"[{n}] {line}" for n, line in enumerate(text.split("\n")))


def parse(program: str) -> list[tuple[str, tuple]]:
    """The calls of a program, checked against the grammar."""
    body = program.strip()
    if body.startswith("```"):
        body = body.split("\n", 1)[1] if "\n" in body else ""
        body = body.rsplit("```", 1)[0]
    try:
        tree = ast.parse(body, mode="exec")
    except SyntaxError as err:
        raise InvalidProgram(f"syntax error on line {err.lineno}") from None
    calls = []
    for node in tree.body:
        call = node.value if isinstance(node, ast.Expr) else None
        if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
            raise InvalidProgram(f"line {node.lineno}: not an operation call")
        name = call.func.id
        if name not in _ARITY or call.keywords:
            raise InvalidProgram(f"line {node.lineno}: unknown operation {name!r}")
        types = _ARITY[name]
        args = call.args
        if len(args) != len(types) or not all(
            isinstance(a, ast.Constant) and type(a.value) is t for a, t in zip(args, types)
        ):
            shown = ", ".join(t.__name__ for t in types)
            raise InvalidProgram(f"line {node.lineno}: {name} takes ({shown})")
        calls.append((name, tuple(a.value for a in args)))
    if not calls:
        raise InvalidProgram("empty program")
    return calls


def execute(program: str, text: str) -> Outcome:
    """Run a program on a document (raises ``InvalidProgram``)."""
    calls = parse(program)
    lines = text.split("\n")
    removed: set[int] = set()
    for name, args in calls:
        if name == "remove_lines":
            start, end = args
            if not 0 <= start <= end < len(lines):
                raise InvalidProgram(
                    f"remove_lines({start}, {end}): the document has lines 0 to {len(lines) - 1}"
                )
            removed.update(range(start, end + 1))
        elif name == "normalize" and not args[0]:
            raise InvalidProgram("normalize: the source string is empty")
    if any(name == "drop_doc" for name, _ in calls):
        return Outcome(None, "dropped")
    out = "\n".join(line for n, line in enumerate(lines) if n not in removed)
    replaced = 0
    for source, target in (args for name, args in calls if name == "normalize"):
        replaced += out.count(source)
        out = out.replace(source, target)
    if not removed and not replaced:
        return Outcome(out, "unchanged")
    return Outcome(out, f"removed {len(removed)} lines; {replaced} replacements")
