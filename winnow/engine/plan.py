"""Split a stage list into segments separated by corpus stages.

Segment 0 reads the inputs; segment *j* > 0 first applies corpus stage *j*'s decisions. Each
segment then runs its row stages and sinks in recipe order and, if another corpus stage
follows, that stage's ``map``. Between segments the corpus stage's ``reduce`` runs once over
the whole corpus; a sink's ``finish`` runs once its segment is done on every shard.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from winnow.stages import REGISTRY
from winnow.stages.base import CorpusStage, RowStage, SinkStage, Stage


@dataclass
class Segment:
    index: int
    applies: tuple[int, CorpusStage] | None = None
    rows: list[tuple[int, RowStage | SinkStage]] = field(default_factory=list)
    maps: tuple[int, CorpusStage] | None = None

    def stages(self) -> list[tuple[int, Stage]]:
        """The stages whose verdicts this segment records, by plan index: its corpus stage
        (applied) and its row stages and sinks. Over all segments, each stage once (the
        stage it maps is the next segment's)."""
        return [*([self.applies] if self.applies else []), *self.rows]


def build_stages(stage_specs: list[dict]) -> list[Stage]:
    """Instantiate ``[{name: params}]`` (already validated) into stage objects."""
    out = []
    for spec in stage_specs:
        ((name, params),) = spec.items()
        cls = REGISTRY[name]
        out.append(cls(cls.ParamsModel(**(params or {}))))
    return out


def plan_segments(stages: list[Stage]) -> list[Segment]:
    segments = [Segment(0)]
    for index, stage in enumerate(stages):
        if stage.barrier:
            segments[-1].maps = (index, stage)
            segments.append(Segment(len(segments), applies=(index, stage)))
        else:
            segments[-1].rows.append((index, stage))  # type: ignore[arg-type]
    return segments


def sinks_of(seg: Segment) -> list[tuple[int, SinkStage]]:
    return [(i, s) for i, s in seg.rows if isinstance(s, SinkStage)]
