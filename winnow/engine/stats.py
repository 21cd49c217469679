"""Per-stage counters, merged across shards into ``stats.json``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc


def text_bytes(batch: pa.RecordBatch) -> int:
    """UTF-8 bytes of the ``text`` column."""
    if batch.num_rows == 0:
        return 0
    return int(pc.sum(pc.binary_length(batch.column("text"))).as_py() or 0)


@dataclass
class StageStats:
    name: str
    docs_in: int = 0
    docs_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    seconds: float = 0.0
    removed: Counter = field(default_factory=Counter)

    def merge(self, other: StageStats) -> None:
        self.docs_in += other.docs_in
        self.docs_out += other.docs_out
        self.bytes_in += other.bytes_in
        self.bytes_out += other.bytes_out
        self.seconds += other.seconds
        self.removed.update(other.removed)

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "docs_in": self.docs_in,
            "docs_out": self.docs_out,
            "removed": dict(sorted(self.removed.items())),
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "seconds": round(self.seconds, 4),
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
        )


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
