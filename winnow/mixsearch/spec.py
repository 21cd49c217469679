"""The ``winnow mixsearch`` spec (YAML or a dict)::

    inputs: [data/news.jsonl, data/code.jsonl, data/web/*.jsonl]   # one group per entry
    groups: {by: source}                 # or a field path: lang, meta.domain
    target: data/target.jsonl
    eval_sets: {general: data/general.jsonl}   # reported for every run, not optimised
    tokens: 300000                       # per proxy run (UTF-8 bytes)
    train_tokens: 2000000                # the real training length, for the epoch cap
    max_epochs: 4
    runs: 32
    method: regmix                       # or bayesopt
    seeds: [0]
    output: mix/
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from winnow.evaluate.run import ModelParams


class Groups(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: str = "source"
    """``source``: one group per ``inputs`` entry; else a field path (``lang``,
    ``meta.domain``) whose values are the groups."""


class MixSearchSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inputs: list[str] = Field(min_length=1)
    groups: Groups = Groups()
    target: str | list[str]
    eval_sets: dict[str, str | list[str]] = {}
    tokens: int = Field(300_000, ge=1000)
    """Training tokens (UTF-8 bytes) of each proxy run."""
    train_tokens: int = Field(2_000_000, ge=1000)
    """The real training length: no group may repeat more than ``max_epochs`` in it."""
    max_epochs: float = Field(4.0, gt=0)
    runs: int = Field(32, ge=4)
    """Proxy runs on sampled mixtures; a quarter of them (at least 2) held out to check the
    surrogate."""
    method: Literal["regmix", "bayesopt"] = "regmix"
    seeds: list[int] = Field([0], min_length=1)
    alpha: float = Field(1.0, gt=0)
    """Dirichlet concentration of the sampled mixtures (1: uniform over the simplex)."""
    model: ModelParams = ModelParams(kind="ngram")
    """The screening proxy (many runs): n-gram by default."""
    confirm: ModelParams = ModelParams(kind="transformer")
    """The proxy that verifies the proposal against the natural and uniform mixtures: the
    transformer (the ``evaluate`` extra), or ``{kind: ngram}``."""
    eval_tokens: int = Field(200_000, ge=1000)
    workers: int | None = Field(None, ge=1)
    """Proxy runs at once (default: every core)."""
    output: str

    @model_validator(mode="after")
    def _enough_runs(self) -> MixSearchSpec:
        if self.runs - self.held_out < 3:
            raise ValueError("runs: too few to fit the surrogate and hold some out")
        return self

    @property
    def held_out(self) -> int:
        return max(2, self.runs // 4)


def load_mixsearch_spec(spec: str | Path | dict) -> MixSearchSpec:
    if not isinstance(spec, dict):
        with open(spec, encoding="utf-8") as fh:
            spec = yaml.safe_load(fh)
    return MixSearchSpec.model_validate(spec)
