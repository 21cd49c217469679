"""What a proxy model trains on for one ``evaluate`` candidate, and in what order.

A candidate is a winnow run's output folder, a recipe (run first) or documents. A run folder
is read in its training order when it has one: the ``mix`` stream (``artifacts/NN-mix/
stream-*.parquet``, repeats and phases included) or the ``pack`` sequences (token ids decoded
with the run's tokenizer), else its ``data/``, shuffled per seed. ``order:`` picks one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow.parquet as pq
import yaml

from winnow.stages.select.targets import target_texts
from winnow.stages.tokenize import saved_tokenizer

Order = Literal["auto", "shuffled", "stream", "pack"]


@dataclass
class Candidate:
    texts: list[str]
    ordered: bool
    """True: train in this order (a stream or sequences); False: shuffle per seed."""
    phases: list[int] = field(default_factory=list)
    """Index in ``texts`` where each later phase of a mix stream starts."""
    kind: str = "shuffled"


def load_candidate(name: str, where: str, order: Order, output: Path) -> Candidate:
    path = Path(where)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        import winnow

        out = output / "candidates" / name
        winnow.run(str(path), output=str(out), overwrite=True)
        path = out
    streams = sorted(path.glob("artifacts/*-mix")) if path.is_dir() else []
    packs = sorted(path.glob("artifacts/*-pack")) if path.is_dir() else []
    if order == "stream" or (order == "auto" and streams):
        if not streams:
            raise ValueError(f"candidate {name}: {where} has no mix stream (artifacts/*-mix)")
        return mix_stream(streams[-1])
    if order == "pack" or (order == "auto" and packs):
        if not packs:
            raise ValueError(f"candidate {name}: {where} has no pack sequences")
        return pack_sequences(packs[-1], path)
    if path.is_dir() and (path / "data").is_dir():
        path = path / "data"
    return Candidate(list(target_texts(str(path))), ordered=False)


def mix_stream(folder: Path) -> Candidate:
    """The stream's documents in position order (chat records as their OpenAI messages)."""
    table = pq.read_table(sorted(folder.glob("stream-*.parquet")),
                          columns=["text", "messages", "phase"])  # fmt: skip
    text, messages = table.column("text").to_pylist(), table.column("messages").to_pylist()
    texts = [t if t is not None else (m or "") for t, m in zip(text, messages)]
    phase = table.column("phase").to_numpy()
    starts = (np.flatnonzero(np.diff(phase)) + 1).tolist() if len(phase) else []
    return Candidate(texts, ordered=True, phases=starts, kind="stream")


def pack_sequences(folder: Path, run: Path) -> Candidate:
    """Every packed sequence in order, its pieces decoded with the run's tokenizer (one text
    per piece: the proxy reads bytes, so a piece ends where its document does)."""
    from tokenizers import Tokenizer

    index = json.loads((folder / "index.json").read_text())
    dtype = np.dtype(index["dtype"])
    pieces = pq.read_table(folder / "pieces.parquet").to_pydict()
    tokenizer = Tokenizer.from_file(str(run_tokenizer(run)))
    arrays = {}
    for width, rows in index["sequences"].items():
        arrays[int(width)] = np.memmap(folder / f"tokens-{width}.bin", dtype=dtype,
                                       mode="r", shape=(rows, int(width)))  # fmt: skip
    width, seq, start, length = (np.asarray(pieces[k]) for k in
                                 ("width", "sequence", "offset", "length"))  # fmt: skip
    order = np.lexsort((start, seq, width)).tolist()  # sequence by sequence, as trained
    ids = [arrays[int(width[i])][seq[i], start[i] : start[i] + length[i]].tolist() for i in order]
    return Candidate(tokenizer.decode_batch(ids), ordered=True, kind="pack")


def run_tokenizer(run: Path) -> Path:
    """The tokenizer.json a run's ``tokenize`` trained, or the file its recipe names."""
    trained = saved_tokenizer(run)
    if trained is not None:
        return trained
    recipe = yaml.safe_load((run / "recipe.yaml").read_text())
    for stage in recipe.get("stages", []):
        params = stage.get("tokenize")
        if isinstance(params, dict) and params.get("tokenizer"):
            return Path(params["tokenizer"])
    raise ValueError(f"{run}: its pack sequences need the run's tokenizer, and none is named")
