"""Per-stage counters, merged across shards into ``stats.json``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def two_digits(values: np.ndarray) -> np.ndarray:
    """Values rounded to two significant digits (mergeable histogram keys)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(values == 0, 0, np.floor(np.log10(np.abs(values))))
    factor = 10.0 ** (1 - scale)
    return np.round(values * factor) / factor


def text_bytes(batch: pa.RecordBatch) -> int:
    """UTF-8 bytes of the ``text`` column."""
    if batch.num_rows == 0:
        return 0
    return int(pc.sum(pc.binary_length(batch.column("text"))).as_py() or 0)


EXAMPLES = 3
"""Kept and removed example documents remembered per stage (the first, in input order)."""
EXAMPLE_CHARS = 400
MAX_CATEGORIES = 64


@dataclass
class StageStats:
    """Counters of one stage, and the aggregates the report draws: histograms (a Counter
    per column of values rounded to two significant digits, for kept and removed documents
    apart; ``length`` = UTF-8 bytes in and out), counts of short string columns the stage
    added (``lang``), documents per input file, and a few examples."""

    name: str
    docs_in: int = 0
    docs_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    seconds: float = 0.0
    removed: Counter = field(default_factory=Counter)
    histograms: dict = field(default_factory=dict)  # column -> {"kept"|"removed"|"in": Counter}
    categories: dict = field(default_factory=dict)  # column -> Counter
    sources: Counter = field(default_factory=Counter)  # kept documents per input file
    examples: dict = field(default_factory=lambda: {"kept": [], "removed": []})
    skipped: Counter = field(default_factory=Counter)
    """Input records that are no documents by design, by kind (the read stage: WARC
    ``request``, ``warcinfo``, ``metadata`` records); neither in ``docs_in`` nor the ledger."""
    generated: int = 0
    """Documents the stage made (rewrites, generated records): docs_in + generated = docs_out
    + removed."""
    _tallies: dict = field(default_factory=dict, repr=False, compare=False)
    """Histogram parts of small non-negative integers (lengths) as counts of each value,
    batch after batch, rounded into ``histograms`` when read (``_flush``)."""

    def merge(self, other: StageStats) -> None:
        self._flush()
        other._flush()
        self.docs_in += other.docs_in
        self.docs_out += other.docs_out
        self.bytes_in += other.bytes_in
        self.bytes_out += other.bytes_out
        self.seconds += other.seconds
        self.removed.update(other.removed)
        for column, parts in other.histograms.items():
            mine = self.histograms.setdefault(column, {})
            for part, counts in parts.items():
                mine.setdefault(part, Counter()).update(counts)
        for column, counts in other.categories.items():
            mine = self.categories.setdefault(column, Counter())
            if mine is None or counts is None or len(mine | counts) > MAX_CATEGORIES:
                self.categories[column] = None
            else:
                mine.update(counts)
        self.sources.update(other.sources)
        self.skipped.update(other.skipped)
        self.generated += other.generated
        for part in ("kept", "removed"):
            room = EXAMPLES - len(self.examples[part])
            self.examples[part] += other.examples[part][: max(room, 0)]

    def to_json(self) -> dict:
        self._flush()
        return {
            "name": self.name,
            "docs_in": self.docs_in,
            "docs_out": self.docs_out,
            "removed": dict(sorted(self.removed.items())),
            **({"skipped": dict(sorted(self.skipped.items()))} if self.skipped else {}),
            **({"generated": self.generated} if self.generated else {}),
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "seconds": round(self.seconds, 4),
            "histograms": {
                c: {part: sorted(counts.items()) for part, counts in sorted(parts.items())}
                for c, parts in sorted(self.histograms.items())
            },
            "categories": {
                c: dict(v.most_common()) if v is not None else None
                for c, v in sorted(self.categories.items())
            },
            "sources": dict(self.sources.most_common()),
            "examples": self.examples,
        }

    @classmethod
    def from_json(cls, d: dict) -> StageStats:
        return cls(
            d["name"],
            d["docs_in"],
            d["docs_out"],
            d["bytes_in"],
            d["bytes_out"],
            d["seconds"],
            Counter(d["removed"]),
            {
                c: {part: Counter({float(v): n for v, n in pairs}) for part, pairs in parts.items()}
                for c, parts in d.get("histograms", {}).items()
            },
            {c: Counter(v) if v is not None else None for c, v in d.get("categories", {}).items()},
            Counter(d.get("sources", {})),
            d.get("examples", {"kept": [], "removed": []}),
            Counter(d.get("skipped", {})),
            d.get("generated", 0),
        )

    def observe(self, before: pa.RecordBatch, after: pa.RecordBatch, reason) -> tuple[int, int]:
        """Histograms, categories, sources and examples of one batch: ``after`` is the
        stage's output batch (all rows), ``reason`` the drop reasons (None: all kept).
        Returns the UTF-8 bytes of text in and kept."""
        kept = np.ones(after.num_rows, bool)
        if reason is not None:
            kept = reason.is_null().to_numpy(zero_copy_only=False)
        lengths = _lengths(after.column("text"))
        same = _same_buffers(before.column("text"), after.column("text"))
        lengths_in = lengths if same else _lengths(before.column("text"))
        lengths_out = lengths[kept]
        self._count("length", "in", lengths_in)
        self._count("length", "out", lengths_out)
        new = [f for f in after.schema if f.name not in before.schema.names]
        for f in new:
            if f.name.startswith("_"):
                continue
            column = after.column(f.name)
            if pa.types.is_integer(f.type) or pa.types.is_floating(f.type):
                values = column.to_numpy(zero_copy_only=False).astype(np.float64)
                self._count(f.name, "kept", values[kept])
                self._count(f.name, "removed", values[~kept])
            elif pa.types.is_string(f.type) or pa.types.is_large_string(f.type):
                self._categorise(f.name, column)
        files = pc.replace_substring_regex(pc.filter(after.column("source"), pa.array(kept)),
                                           r":[0-9]+$", "")  # fmt: skip
        for row in pc.value_counts(files).to_pylist():
            self.sources[row["values"]] += row["counts"]
        for part, mask in (("kept", kept), ("removed", ~kept)):
            room = EXAMPLES - len(self.examples[part])
            if room > 0 and mask.any():
                rows = np.nonzero(mask)[0][:room].tolist()
                texts = after.column("text").take(pa.array(rows)).to_pylist()
                ids = after.column("id").take(pa.array(rows)).to_pylist()
                why = reason.take(pa.array(rows)).to_pylist() if part == "removed" else ids
                self.examples[part] += [
                    {"id": i, "text": (t or "")[:EXAMPLE_CHARS]}
                    | ({"reason": r} if part == "removed" else {})
                    for i, t, r in zip(ids, texts, why)
                ]
        return int(lengths_in.sum()), int(lengths_out.sum())

    def _categorise(self, name: str, column: pa.Array) -> None:
        """Count the values of a short string column; one with too many distinct values is
        marked None (an identifier or text, not a category), which merging keeps."""
        if name in self.categories and self.categories[name] is None:
            return
        counts = self.categories.setdefault(name, Counter())
        for row in pc.value_counts(column).to_pylist():
            if row["values"] is not None:
                counts[row["values"]] += row["counts"]
        if len(counts) > MAX_CATEGORIES:
            self.categories[name] = None

    def _count(self, column: str, part: str, values: np.ndarray) -> None:
        if values.dtype.kind == "i":
            if len(values) and values.min() >= 0 and values.max() < _BINCOUNT_LIMIT:
                tally = np.bincount(values)
                held = self._tallies.get((column, part), np.zeros(0, np.int64))
                if len(held) < len(tally):
                    held = self._tallies[column, part] = np.concatenate(
                        [held, np.zeros(len(tally) - len(held), np.int64)]
                    )
                held[: len(tally)] += tally
                return
        else:
            values = values[np.isfinite(values)]
        if not len(values):
            return
        unique, n = np.unique(two_digits(values.astype(np.float64)), return_counts=True)
        self._add(column, part, unique, n)

    def _add(self, column: str, part: str, unique: np.ndarray, n: np.ndarray) -> None:
        counts = self.histograms.setdefault(column, {}).setdefault(part, Counter())
        counts.update(dict(zip(unique.tolist(), n.tolist())))

    def _flush(self) -> None:
        """Round the integers counted so far (``_tallies``) into the histograms."""
        for (column, part), tally in self._tallies.items():
            present = np.flatnonzero(tally)
            values = two_digits(present.astype(np.float64))
            rounded, inverse = np.unique(values, return_inverse=True)
            n = np.bincount(inverse, weights=tally[present]).astype(np.int64)
            self._add(column, part, rounded, n)
        self._tallies.clear()


_BINCOUNT_LIMIT = 1 << 20
"""Largest integer counted value by value (``StageStats._tallies``), not rounded at once."""


def _lengths(text: pa.Array) -> np.ndarray:
    """UTF-8 bytes of each text (0 for a null)."""
    return pc.binary_length(pc.fill_null(text, "")).to_numpy(zero_copy_only=False).astype(np.int64)


def _same_buffers(a: pa.Array, b: pa.Array) -> bool:
    """Whether two arrays are views of the same memory (a stage that left ``text`` as it was)."""
    if a is b:
        return True
    if len(a) != len(b) or a.offset != b.offset or a.type != b.type:
        return False
    return _addresses(a) == _addresses(b)


def _addresses(array: pa.Array) -> list[int | None]:
    return [None if b is None else b.address for b in array.buffers()]


class StatsBook:
    """Stage statistics keyed by the stage's position in the plan (a stage may repeat)."""

    def __init__(self) -> None:
        self.stages: dict[int, StageStats] = {}

    def get(self, index: int, name: str) -> StageStats:
        if index not in self.stages:
            self.stages[index] = StageStats(name)
        return self.stages[index]

    def merge(self, other: StatsBook) -> None:
        for index, st in other.stages.items():
            self.get(index, st.name).merge(st)

    def to_json(self) -> dict:
        return {str(i): s.to_json() for i, s in sorted(self.stages.items())}

    @classmethod
    def from_json(cls, d: dict) -> StatsBook:
        book = cls()
        book.stages = {int(i): StageStats.from_json(s) for i, s in d.items()}
        return book
