"""Where a run keeps its output and its checkpoints. Every file is written under a
temporary name and renamed into place, so a file that exists is complete."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import orjson


class Layout:
    """``OUT/data``, ``OUT/ledger`` and the scratch folder ``work`` (``OUT/_work``, or a
    folder on another disk); ``OUT/_work`` always holds the run's fingerprint and where its
    scratch is (``location``)."""

    def __init__(self, out: str | Path, work: str | Path | None = None) -> None:
        self.out = Path(out)
        self.data = self.out / "data"
        self.ledger = self.out / "ledger"
        self.meta = self.out / "_work"
        self.work = Path(work) if work else self.meta

    def segment_docs(self, seg: int, shard: int) -> Path:
        return self.work / f"seg{seg:02d}" / f"shard-{shard:05d}.arrow"

    def segment_done(self, seg: int, shard: int) -> Path:
        return self.work / f"seg{seg:02d}" / f"shard-{shard:05d}.stats.json"

    def drops(self, seg: int, shard: int) -> Path:
        return self.work / f"reduce{seg:02d}" / f"shard-{shard:05d}.arrow"

    def reduce_done(self, seg: int) -> Path:
        return self.work / f"reduce{seg:02d}" / "done.json"

    def sink_part(self, index: int, shard: int) -> Path:
        """The columns sink stage ``index`` kept from one shard."""
        return self.work / f"sink{index:02d}" / f"shard-{shard:05d}.arrow"

    def removed_docs(self, index: int, shard: int) -> Path:
        """The documents stage ``index`` removed from one shard, for a later stage."""
        return self.work / f"removed{index:02d}" / f"shard-{shard:05d}.arrow"

    def sink_done(self, index: int) -> Path:
        return self.work / f"sink{index:02d}" / "done.json"

    def artifacts(self, index: int, name: str) -> Path:
        """What stage ``index`` (its place in the recipe, 1 = first) makes besides documents."""
        return self.out / "artifacts" / f"{index:02d}-{name}"

    def ledger_piece(self, seg: int, shard: int) -> Path:
        """One segment's ledger rows for one shard (scratch, merged into ``ledger_part``s)."""
        return self.work / "ledger" / f"seg{seg:02d}-shard-{shard:05d}.parquet"

    def ledger_part(self, n: int) -> Path:
        return self.ledger / f"part-{n:05d}.parquet"

    def part(self, n: int, fmt: str) -> Path:
        return self.data / f"part-{n:05d}.{fmt}"

    def prepare(self) -> None:
        for d in (self.data, self.ledger, self.work, self.meta):
            d.mkdir(parents=True, exist_ok=True)
        if self.work != self.meta:
            (self.meta / "location").write_text(str(self.work.resolve()))

    def remove_scratch(self) -> None:
        """The scratch folder, wherever it is, and ``OUT/_work``. A folder on another disk
        goes only if it is this run's (``winnow-*`` holding the same fingerprint)."""
        location = self.meta / "location"
        if location.exists():
            other = Path(location.read_text())
            marker, mine = other / "fingerprint", self.meta / "fingerprint"
            if (
                other.name.startswith("winnow-")
                and marker.exists()
                and mine.exists()
                and marker.read_text() == mine.read_text()
            ):
                shutil.rmtree(other, ignore_errors=True)
        if self.work != self.meta:
            shutil.rmtree(self.work, ignore_errors=True)
        shutil.rmtree(self.meta, ignore_errors=True)


def tmp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def write_json_atomic(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path(path)
    tmp.write_bytes(orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    os.replace(tmp, path)


def read_json(path: Path):
    return orjson.loads(path.read_bytes())
