"""Run by tests/test_export.py with a Python that has ``mosaicml-streaming`` (its pins clash
with winnow's, so it lives in a venv of its own): for each MDS folder given, every sample as
``streaming.StreamingDataset`` reads it, and whether ``streaming.MDSWriter``, handed those
samples with the folder's columns and shard size, writes the same bytes (every file).
Prints one JSON object: ``{folder: {"samples": [...], "encodings": {...}, "same": bool,
"files": [...]}}``."""

from __future__ import annotations

import json
import sys
import tempfile
import types
from pathlib import Path


def check(folder: Path) -> dict:
    import numpy as np

    # streaming's vision datasets need torchvision (no CPU wheel here); MDS does not use them
    sys.modules.setdefault("streaming.vision", types.ModuleType("streaming.vision"))
    from streaming import MDSWriter, StreamingDataset

    index = json.loads((folder / "index.json").read_text())
    first = index["shards"][0]
    columns = dict(zip(first["column_names"], first["column_encodings"]))
    dataset = StreamingDataset(local=str(folder), shuffle=False, batch_size=1)
    rows = [dataset[i] for i in range(dataset.num_samples)]
    samples = []
    for row in rows:
        sample = {"id": row["id"]}
        for name in ("input_ids", "loss_mask"):
            if name in row:
                assert isinstance(row[name], np.ndarray)
                sample[name] = row[name].tolist()
                sample[f"{name}_dtype"] = row[name].dtype.name
        samples.append(sample)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "mds"
        with MDSWriter(columns=columns, out=str(out), size_limit=first["size_limit"]) as writer:
            for row in rows:
                writer.write({name: row[name] for name in columns})
        theirs = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
    ours = {name: (folder / name).read_bytes() for name in theirs}
    mine = sorted(p.name for p in folder.iterdir() if p.name == "index.json" or p.suffix == ".mds")
    return {"samples": samples, "encodings": columns, "files": sorted(theirs),
            "same": ours == theirs and mine == sorted(theirs)}  # fmt: skip


if __name__ == "__main__":
    print(json.dumps({f: check(Path(f)) for f in sys.argv[1:]}))
