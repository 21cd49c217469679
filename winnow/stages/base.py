"""The stage contract and the registry.

A **row stage** is a pure function of one Arrow batch: it may replace or add columns
(data-juicer style stats, kept in the output as non-destructive attributes, after dolma) and
may return a keep mask with a named reason for every dropped row (after datatrove's
``(False, "reason")`` filters).

A **corpus stage** (a global decision) needs the whole corpus and runs in three phases:
``map`` (per batch: small signature columns), ``reduce`` (global, over the signatures of
every shard: which rows to drop; a reduce that fits a model hands the model file to tasks
that score every shard on the workers) and ``apply`` (per batch: keep mask, reason and
``duplicate_of``).

A **sink** consumes the stream at its place without stopping it: ``map`` keeps the columns it
needs per batch (written beside the segment, not into it) and ``finish`` builds its artifact
from them once every shard has passed (packed sequences, a sketch). It removes nothing.
"""

from __future__ import annotations

import importlib
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict

DROPS_SCHEMA = pa.schema(
    [
        ("row", pa.int64()),
        ("reason", pa.string()),
        ("duplicate_of", pa.string()),
        ("cluster_size", pa.int64()),
        ("reference_source", pa.string()),
    ]
)
"""What a corpus stage's reduce decides for one shard: the rows to drop and why (and, for a
duplicate of a reference corpus's document, the reference run or file that holds it)."""


class Params(BaseModel):
    """Base for stage parameters: unknown keys are errors, values are validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class RowResult:
    """A stage's verdict on a batch: ``reason`` names why each dropped row goes and is null
    where the row stays (None: every row stays); ``duplicate_of``, ``cluster_size`` (of the
    duplicate's group), ``reference_source`` (where the document it duplicates is, when
    that is a reference corpus) and ``detail`` (what exactly went wrong, for the ledger) are
    optional."""

    batch: pa.RecordBatch
    reason: pa.Array | None = None
    duplicate_of: pa.Array | None = None
    cluster_size: pa.Array | None = None
    reference_source: pa.Array | None = None
    detail: pa.Array | None = None

    @property
    def keep(self) -> pa.BooleanArray | None:
        return None if self.reason is None else self.reason.is_null()


def put_column(batch: pa.RecordBatch, name: str, column: pa.Array) -> pa.RecordBatch:
    """The batch with column ``name`` added, or replaced when an earlier use of the same
    stage wrote it (the later value wins)."""
    i = batch.schema.get_field_index(name)
    return batch.append_column(name, column) if i < 0 else batch.set_column(i, name, column)


def with_text(batch: pa.RecordBatch, texts: list[str]) -> pa.RecordBatch:
    """The batch with its ``text`` column replaced (stages that edit documents)."""
    i = batch.schema.get_field_index("text")
    return batch.set_column(i, "text", pa.array(texts, batch.schema.field(i).type))


@dataclass(frozen=True)
class ExampleFiles:
    """Files a stage's example parameters may name; the tests over every stage write them.
    ``benchmark``: JSON Lines benchmark items (``question``); ``target``: JSON Lines documents
    of a target domain (``text``)."""

    benchmark: str
    target: str


class Stage:
    name: ClassVar[str]
    kind: ClassVar[str]
    ParamsModel: ClassVar[type[Params]] = Params
    summary: ClassVar[str] = ""
    origin: ClassVar[str] = ""
    needs: ClassVar[tuple[str, ...]] = ()
    """Columns an earlier stage must make (checked when the recipe is validated)."""
    makes: ClassVar[tuple[str, ...]] = ()
    """Columns this stage adds that later stages may need."""
    reads: ClassVar[tuple[str, ...]] = ()
    """Parameters naming files the stage reads (a path, folder or glob, or a list of them):
    their sizes and modification times are part of the resume fingerprint."""
    example_before: ClassVar[tuple[tuple[str, dict], ...]] = ()
    """Stages (name, parameters) that must run before this one in its examples (``pack``
    needs ``tokenize``'s tokens)."""

    def __init__(self, params: Params | None = None) -> None:
        self.params = params if params is not None else self.ParamsModel()

    @property
    def barrier(self) -> bool:
        """Whether the stage needs the whole corpus (map → reduce → apply) with these
        parameters; otherwise the engine runs it per batch (``process``), like a row stage."""
        return isinstance(self, CorpusStage)

    @classmethod
    def extras(cls, params: Params) -> list[tuple[str, str]]:
        """Optional modules the stage needs with these parameters, each with the winnow
        extra that installs it (checked when the recipe is validated)."""
        return []

    @classmethod
    def files_read(cls, params: Params) -> list[str | list[str]]:
        """What the stage reads with these parameters (``reads``, where set)."""
        values = (getattr(params, name) for name in cls.reads)
        return [v for v in values if v is not None]

    def removed_by(self) -> tuple[str, ...]:
        """Earlier stages whose removed documents this stage reads (``RunContext.removed``):
        the engine keeps their text for it."""
        return ()

    @classmethod
    def examples(cls, files: ExampleFiles) -> list[dict]:
        """Parameter sets the tests over every registered stage run this stage with (on chat
        records with planted PII, boilerplate, repeats and benchmark text). A stage whose
        parameters have no defaults must override this."""
        return [{}]


class RowStage(Stage):
    kind = "row"

    def process(self, batch: pa.RecordBatch) -> RowResult:
        raise NotImplementedError


class ShardColumns(Protocol):
    """One shard's documents, in row order: ``shard(columns)`` loads the named columns (all
    of them for None), ``shard.batches(columns)`` streams them; ``rows`` and ``schema``
    read nothing else. The engine's shards are picklable, so a reduce may hand them to its
    tasks."""

    @property
    def rows(self) -> int: ...

    @property
    def schema(self) -> pa.Schema: ...

    def __call__(self, columns: Sequence[str] | None) -> pa.Table: ...

    def batches(self, columns: Sequence[str]) -> Iterator[pa.RecordBatch]: ...


@dataclass(frozen=True)
class TableShard:
    """A table as a shard (a stage applied outside a run)."""

    table: pa.Table

    @property
    def rows(self) -> int:
        return self.table.num_rows

    @property
    def schema(self) -> pa.Schema:
        return self.table.schema

    def __call__(self, columns: Sequence[str] | None) -> pa.Table:
        return self.table if columns is None else self.table.select(list(columns))

    def batches(self, columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
        yield from self(columns).to_batches()


class Workers(Protocol):
    """Where a reduce runs its own tasks: the executor's process pool or Ray cluster.
    ``fn`` is a module-level function, ``calls`` its argument tuples; results in order."""

    count: int

    def map(self, label: str, fn: Callable, calls: Iterable[tuple]) -> list: ...


class InProcess:
    """Tasks run one after another in this process (a stage used outside a run)."""

    count = 1

    def map(self, label: str, fn: Callable, calls: Iterable[tuple]) -> list:
        return [fn(*args) for args in calls]


@dataclass
class RunContext:
    """What the engine hands a reduce or a sink's finish, explicitly: the run's
    ``artifacts/NN-stage/`` folder for what it makes besides decisions (a trained model, a
    sketch, token sequences; None outside a run), the workers that run its tasks, and a
    private scratch folder (None: a temporary one). A reduce adds the bytes its key shuffle
    wrote to ``shuffled_bytes`` and what its language-model requests cost to ``llm``
    (``stats.json``). ``removed`` holds, per shard, the documents that the earlier stages
    named by the stage's ``removed_by()`` removed (their text, which the ledger lacks)."""

    artifacts: Path | None = None
    workers: Workers = field(default_factory=InProcess)
    scratch: Path | None = None
    shuffled_bytes: int = 0
    llm: dict = field(default_factory=dict)
    removed: list[list[ShardColumns]] | None = None


class CorpusStage(Stage):
    kind = "corpus"
    signature_columns: ClassVar[tuple[str, ...]] = ()
    decision_schema: ClassVar[pa.Schema] = DROPS_SCHEMA

    def map(self, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        """Signature columns for a batch (named as in ``signature_columns``)."""
        raise NotImplementedError

    def reduce(self, shards: Sequence[ShardColumns], run: RunContext) -> list[pa.Table]:
        """One decision table per shard, rows counted within the shard: by default
        ``DROPS_SCHEMA`` (the rows to drop and why)."""
        raise NotImplementedError

    def apply(self, batch: pa.RecordBatch, offset: int, decisions: pa.Table) -> RowResult:
        """This shard's decisions on one batch whose first row is shard row ``offset``."""
        return apply_drops(batch, offset, decisions)

    def generated(self, decisions: pa.Table) -> RowResult | None:
        """New documents this stage makes for the shard (rewrites, generated records),
        appended after its rows: every ``DOC_SCHEMA`` column, a reason where one failed
        (it goes to the ledger). None: the stage makes none."""
        return None


class SinkStage(Stage):
    kind = "sink"

    def map(self, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        """The columns of this batch that ``finish`` needs (one value per row)."""
        raise NotImplementedError

    def finish(self, shards: Sequence[ShardColumns], run: RunContext) -> dict:
        """Build the artifact from every shard's kept columns, in corpus order, into
        ``run.artifacts`` (None outside a run); returns a small JSON summary."""
        raise NotImplementedError


@contextmanager
def scratch_of(run: RunContext) -> Iterator[Path]:
    """The run's scratch folder for a stage (or a temporary one), removed afterwards."""
    folder = Path(run.scratch) if run.scratch else Path(tempfile.mkdtemp(prefix="winnow-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def decision_rows(rows: np.ndarray, offset: int, n: int) -> pa.Array | None:
    """For each of ``n`` batch rows starting at shard row ``offset``, the position of its
    entry in ``rows`` (sorted shard rows that have a decision), null where it has none;
    None when no row of the batch has one."""
    lo, hi = np.searchsorted(rows, [offset, offset + n])
    if hi == lo:
        return None
    positions = np.full(n, -1, dtype=np.int64)
    positions[rows[lo:hi] - offset] = np.arange(lo, hi)
    return pa.array(positions, mask=positions < 0)


def apply_drops(batch: pa.RecordBatch, offset: int, drops: pa.Table) -> RowResult:
    idx = decision_rows(drops.column("row").to_numpy(), offset, batch.num_rows)
    if idx is None:
        return RowResult(batch=batch)
    reason = drops.column("reason").take(idx)
    dup = drops.column("duplicate_of").take(idx)
    size = drops.column("cluster_size").take(idx)
    ref = drops.column("reference_source").take(idx)
    return RowResult(batch, reason, duplicate_of=dup, cluster_size=size, reference_source=ref)


class Registry(MutableMapping):
    """Stage classes by name. A built-in stage is known by its module until a recipe or a
    caller asks for it: its module is imported then, so a process imports only the stages
    it runs (a run's start-up, in the driver and in every worker)."""

    def __init__(self) -> None:
        self._classes: dict[str, type[Stage]] = {}
        self._modules: dict[str, str] = {}

    def known(self, modules: dict[str, str]) -> None:
        """Stage names and the modules that register them, imported on first use."""
        self._modules.update(modules)

    def __getitem__(self, name: str) -> type[Stage]:
        if name not in self._classes and name in self._modules:
            importlib.import_module(self._modules[name])
        return self._classes[name]

    def __setitem__(self, name: str, cls: type[Stage]) -> None:
        self._classes[name] = cls

    def __delitem__(self, name: str) -> None:
        del self._classes[name]

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*self._modules, *self._classes]))

    def __len__(self) -> int:
        return len(self._modules.keys() | self._classes.keys())

    def __contains__(self, name: object) -> bool:
        return name in self._classes or name in self._modules


REGISTRY = Registry()


def _where(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def register(cls: type[Stage]) -> type[Stage]:
    """Add a stage class to the registry under ``cls.name`` (built-in or plugin); a name
    registered twice by different classes is an error naming both."""
    old = REGISTRY.get(cls.name)
    if old is not None and _where(old) != _where(cls):
        raise ValueError(f"stage '{cls.name}' registered twice: by {_where(old)} and {_where(cls)}")
    REGISTRY[cls.name] = cls
    return cls
