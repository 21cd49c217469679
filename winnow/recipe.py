"""Recipes: YAML (safe-loaded) or a dict → a validated, fully resolved recipe.

Validation happens before any work: every problem is reported with the field path, the
YAML line where known, and the allowed values.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from winnow.extras import missing
from winnow.io.inputs import EXTRACTORS, FORMATS, InputError, InputFile, expand
from winnow.io.remote import is_url
from winnow.plugins import PluginError, import_plugins, load_entry_points
from winnow.stages import REGISTRY
from winnow.stages.base import Params

WRITE_FORMATS = ("jsonl", "jsonl.gz", "jsonl.zst", "parquet")


class RecipeError(Exception):
    """A recipe that cannot run; the message lists every problem found."""

    def __init__(self, problems: list[str], origin: str = "recipe") -> None:
        self.problems = problems
        super().__init__(f"{origin}: invalid recipe\n" + "\n".join(f"  - {p}" for p in problems))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputEntry(_Model):
    path: str
    format: Literal[FORMATS] | None = None  # type: ignore[valid-type]
    text_field: str = "text"
    id_field: str = "id"
    text_split: Literal["file", "line"] = "file"
    extractor: Literal[EXTRACTORS] = "resiliparse"  # type: ignore[valid-type]
    """WARC/WET: how HTML pages become text: ``resiliparse`` (the page's main landmark, or
    Resiliparse's main-content heuristics and a pass removing lines a site repeats) or
    ``trafilatura`` (the ``trafilatura`` extra). Other formats ignore it."""


class WriteConfig(_Model):
    format: Literal[WRITE_FORMATS] = "jsonl.gz"  # type: ignore[valid-type]
    shard_docs: int | None = Field(100_000, ge=1)
    shard_bytes: int | None = Field(None, ge=1024)
    chat_format: Literal["same", "openai"] = "same"
    """Chat records: each in its input format (JSON Lines), or all as OpenAI ``messages``."""
    drop_columns: list[str] = Field(default_factory=list)
    """Columns left out of ``data/``: ``[tokens, loss_mask]`` once ``pack`` has written the
    token sequences (``id`` always stays)."""

    @field_validator("drop_columns")
    @classmethod
    def _keep_id(cls, names: list[str]) -> list[str]:
        if "id" in names:
            raise ValueError("'id' cannot be dropped: every document is named by it")
        return names


class ReadConfig(_Model):
    shard_mb: float = Field(32, gt=0)
    """Input files are grouped into shards of about this many MB uncompressed (one task each);
    a larger plain JSON Lines file is cut into several at line ends, a Parquet file at row
    groups. A compressed (gzip,
    zstd) or remote file cannot be cut: it is one task (the run summary says so)."""
    batch_docs: int = Field(2048, ge=1)
    batch_mb: float = Field(32, gt=0)


class Recipe(_Model):
    inputs: list[str | InputEntry] = Field(min_length=1)
    output: str | None = None
    work_dir: str | None = None
    """Scratch (checkpoints between stages) on another disk instead of ``OUT/_work``."""
    scratch_compression: Literal["none", "lz4"] = "none"
    """How the documents checkpointed between stages are stored: ``none`` (the fastest:
    nothing to compress, and a later step maps only the rows it reads) or ``lz4`` (a fifth
    to a half of the text's size on scratch, for a small or slow scratch disk)."""
    plugins: list[str] = Field(default_factory=list)
    """Importable modules that register more stages (``mypackage.stages``)."""
    seed: int = 0
    stages: list[Any] = Field(default_factory=list)
    write: WriteConfig = WriteConfig()
    read: ReadConfig = ReadConfig()


@dataclass(frozen=True)
class StageSpec:
    """One recipe stage: its registered name and validated parameters."""

    name: str
    params: Params

    def to_dict(self) -> dict:
        return {self.name: self.params.model_dump(mode="json")}


@dataclass(frozen=True)
class ResolvedRecipe:
    """A validated recipe with every default filled in and its input files expanded: what
    the engine runs. ``to_dict`` is its plain form (``recipe.yaml`` and the resume
    fingerprint, which also covers the input files and the plugins' versions)."""

    inputs: tuple[InputEntry, ...]
    output: str
    stages: tuple[StageSpec, ...]
    files: tuple[InputFile, ...]
    write: WriteConfig
    read: ReadConfig
    work_dir: str | None = None
    scratch_compression: str = "none"
    plugins: tuple[str, ...] = ()
    seed: int = 0
    plugin_versions: dict[str, str] = field(default_factory=dict)
    stage_files: dict[str, list] = field(default_factory=dict)
    """Per stage (its place in the recipe), every file it reads: path, size, mtime."""

    def to_dict(self) -> dict:
        return {
            "inputs": [e.model_dump(mode="json") for e in self.inputs],
            "output": self.output,
            "work_dir": self.work_dir,
            "scratch_compression": self.scratch_compression,
            "plugins": list(self.plugins),
            "seed": self.seed,
            "stages": [s.to_dict() for s in self.stages],
            "write": self.write.model_dump(mode="json"),
            "read": self.read.model_dump(mode="json"),
            "files": [f.__dict__ for f in self.files],
            "plugin_versions": self.plugin_versions,
            "stage_files": self.stage_files,
        }


def _yaml_lines(text: str) -> dict[tuple, int]:
    """Map each value's path (keys and list indexes) to its 1-based line in the YAML text."""
    lines: dict[tuple, int] = {}

    def walk(node, path):
        lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                walk(v, (*path, k.value))
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                walk(v, (*path, i))

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return lines
    if root is not None:
        walk(root, ())
    return lines


def _where(path: tuple, lines: dict[tuple, int]) -> str:
    dotted = ""
    for p in path:
        dotted += f"[{p}]" if isinstance(p, int) else (f".{p}" if dotted else str(p))
    for cut in range(len(path), -1, -1):
        if path[:cut] in lines:
            return f"{dotted or '(top)'} (line {lines[path[:cut]]})"
    return dotted or "(top)"


def _stage_problems(
    stages: list, lines: dict, seed: int = 0
) -> tuple[list[StageSpec], list[str]]:
    """Each stage validated (the recipe's ``seed`` is the default of every seeded stage), and
    each column a stage needs made by an earlier one."""
    resolved, problems, made, names = [], [], set(), []
    for i, item in enumerate(stages):
        if isinstance(item, str):
            item = {item: {}}
        if not isinstance(item, dict) or len(item) != 1:
            problems.append(
                f"{_where(('stages', i), lines)}: write each stage as `- name: {{params}}`"
            )
            continue
        ((name, params),) = item.items()
        if name not in REGISTRY:
            known = ", ".join(sorted(REGISTRY))
            problems.append(
                f"{_where(('stages', i), lines)}: unknown stage '{name}' (known: {known})"
            )
            continue
        if params is not None and not isinstance(params, dict):
            problems.append(f"{_where(('stages', i, name), lines)}: parameters must be a mapping")
            continue
        cls = REGISTRY[name]
        params = dict(params or {})
        if "seed" in cls.ParamsModel.model_fields:
            params.setdefault("seed", seed)
        for column in cls.needs:
            if column not in made:
                makers = sorted(n for n, c in REGISTRY.items() if column in c.makes)
                problems.append(
                    f"{_where(('stages', i), lines)}: {name} needs the '{column}' column, which "
                    f"no earlier stage makes (add {' or '.join(makers)} before it)"
                )
        made |= set(cls.makes)
        try:
            model = cls.ParamsModel(**params)
        except ValidationError as exc:
            for err in exc.errors():
                path = ("stages", i, name, *err["loc"])
                problems.append(f"{_where(path, lines)}: {_explain(err)}")
            continue
        for module, extra in cls.extras(model):
            if missing(module):
                problems.append(
                    f"{_where(('stages', i), lines)}: {name} with these parameters needs "
                    f"{module}: pip install 'winnow[{extra}]'"
                )
        for earlier in cls(model).removed_by():
            if earlier not in names:
                problems.append(
                    f"{_where(('stages', i, name), lines)}: reads what '{earlier}' removed, but "
                    f"no earlier stage is '{earlier}' (earlier: {', '.join(names) or 'none'})"
                )
        names.append(name)
        resolved.append(StageSpec(name, model))
    return resolved, problems


def _explain(err: dict) -> str:
    got = err.get("input")
    if err["type"] == "extra_forbidden":
        return "unknown parameter"
    return f"{err['msg']} (got {got!r})"


def load_recipe(
    source: str | Path | dict, output: str | None = None, work_dir: str | None = None
) -> ResolvedRecipe:
    """Validate a recipe (a YAML file path or a dict) and return it fully resolved, with
    every default filled in and the input files expanded. Raises RecipeError."""
    origin, lines = "recipe", {}
    if isinstance(source, dict):
        data = source
    else:
        origin = str(source)
        try:
            text = Path(source).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RecipeError([f"cannot read the recipe file ({exc})"], origin) from exc
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise RecipeError([f"not valid YAML: {exc}".replace("\n", " ")], origin) from exc
        lines = _yaml_lines(text)
    if not isinstance(data, dict):
        raise RecipeError(["the recipe must be a mapping with 'inputs' and 'stages'"], origin)
    problems: list[str] = []
    recipe = None
    try:
        recipe = Recipe(**data)
    except ValidationError as exc:
        problems += [f"{_where(tuple(e['loc']), lines)}: {_explain(e)}" for e in exc.errors()]
    if recipe is None:
        # report stage problems too, so one edit fixes everything
        stages = data.get("stages")
        if isinstance(stages, list):
            problems += _stage_problems(stages, lines)[1]
        raise RecipeError(problems, origin)
    try:
        plugin_versions = dict(load_entry_points())
    except PluginError as exc:
        raise RecipeError([str(exc)], origin) from exc
    for i, name in enumerate(recipe.plugins):
        try:
            plugin_versions.update(import_plugins([name]))
        except PluginError as exc:
            raise RecipeError([f"{_where(('plugins', i), lines)}: {exc}"], origin) from exc
    stages, stage_problems = _stage_problems(recipe.stages, lines, recipe.seed)
    problems += stage_problems
    if output is not None:
        recipe.output = output
    if work_dir is not None:
        recipe.work_dir = work_dir
    if not recipe.output:
        problems.append("output: no output folder (set 'output' or pass -o/--output)")
    if not (recipe.write.shard_docs or recipe.write.shard_bytes):
        problems.append(f"{_where(('write',), lines)}: set shard_docs or shard_bytes")
    inputs = [InputEntry(path=e) if isinstance(e, str) else e for e in recipe.inputs]
    files: list[InputFile] = []
    for i, entry in enumerate(inputs):
        opts = entry.model_dump(exclude={"path", "format"})
        if entry.extractor == "trafilatura" and missing("trafilatura"):
            problems.append(
                f"{_where(('inputs', i), lines)}: extractor: trafilatura needs trafilatura: "
                "pip install 'winnow[trafilatura]'"
            )
        try:
            files += expand(entry.path, entry.format, **opts)
        except InputError as exc:
            problems.append(f"{_where(('inputs', i), lines)}: {exc}")
    if problems:
        raise RecipeError(problems, origin)
    return ResolvedRecipe(
        inputs=tuple(inputs),
        output=recipe.output,
        stages=tuple(stages),
        files=tuple(files),
        write=recipe.write,
        read=recipe.read,
        work_dir=recipe.work_dir,
        scratch_compression=recipe.scratch_compression,
        plugins=tuple(recipe.plugins),
        seed=recipe.seed,
        plugin_versions=plugin_versions,
        stage_files=_stage_files(stages),
    )


def _stage_files(stages: list[StageSpec]) -> dict[str, list]:
    """What each stage reads, stamped: a resume refuses files changed since the run began."""
    out = {}
    for i, spec in enumerate(stages, start=1):
        values = REGISTRY[spec.name].files_read(spec.params)
        names = [n for v in values for n in ([v] if isinstance(v, str) else v)]
        found = [_stamp(f) for name in names for f in _local_files(name)]
        if found:
            out[str(i)] = found
    return out


def _local_files(name: str) -> list[Path]:
    """The local files a path, folder or glob names (a URL is stamped by nothing)."""
    if is_url(name):
        return []
    path = Path(name)
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    if path.is_file():
        return [path]
    return sorted(Path(p) for p in glob.glob(name, recursive=True) if Path(p).is_file())


def _stamp(path: Path) -> list:
    st = path.stat()
    return [str(path.resolve()), st.st_size, st.st_mtime_ns]


def recipe_yaml(recipe: ResolvedRecipe) -> str:
    """The resolved recipe as YAML (without the expanded file list)."""
    hidden = ("files", "plugin_versions", "stage_files")
    shown = {k: v for k, v in recipe.to_dict().items() if k not in hidden}
    return yaml.safe_dump(shown, sort_keys=False, allow_unicode=True)
