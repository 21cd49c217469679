"""mix: three real sources (paper abstracts, man pages, licences) mixed by token weights:
shares within 1% of the targets, the epoch cap respected, a final phase with its own
weights, and every document either in the stream or in the ledger."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

import winnow
from tests.conftest import corpus_records, read_ledger, read_output, write_jsonl


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mix")
    files = {
        "abstracts": [r["text"] for r in corpus_records("abstracts", 400)],
        "manpages": [r["text"][:4000] for r in corpus_records("manpages", 1500)],
        "licences": [r["text"][:4000] for r in corpus_records("copyright", 600)],
    }
    paths = [
        write_jsonl(
            folder / f"{name}.jsonl",
            [{"id": f"{name}-{i}", "text": t} for i, t in enumerate(texts)],
        )  # fmt: skip
        for name, texts in files.items()
    ]
    return folder, paths


def _run(folder, paths, name, params):
    out = folder / name
    winnow.run({"inputs": [str(p) for p in paths], "output": str(out),
                "stages": [{"mix": params}]}, workers=2)  # fmt: skip
    art = next((out / "artifacts").glob("*-mix"))
    stream = pq.read_table(sorted(art.glob("stream-*.parquet"))).to_pylist()
    return out, json.loads((art / "manifest.json").read_text()), stream


def _tokens(text: str) -> int:
    return max((len(text.encode("utf-8")) + 3) // 4, 1)


def test_target_shares_within_one_percent_and_epoch_cap(sources):
    folder, paths = sources
    weights = {"abstracts": 0.3, "manpages": 0.5, "licences": 0.2}
    out, manifest, stream = _run(folder, paths, "plain", {"weights": weights, "max_epochs": 4})
    total = sum(_tokens(s["text"]) for s in stream)
    for name, share in weights.items():
        got = sum(_tokens(s["text"]) for s in stream if s["source"] == name) / total
        assert abs(got - share) < 0.01, (name, got)
        assert manifest["sources"][name]["epochs"] <= 4
    # the scarcest source (abstracts) sets the length: it is used about 4 times
    assert manifest["sources"]["abstracts"]["epochs"] > 3.9
    repeats = {}
    for s in stream:
        repeats[s["id"]] = repeats.get(s["id"], 0) + 1
    assert max(repeats.values()) <= 4
    # conservation: used documents in the data once, the rest in the ledger as not_mixed
    kept = {d["id"] for d in read_output(out)}
    dropped = {r["id"]: r["reason"] for r in read_ledger(out)}
    assert kept == set(repeats) and set(dropped.values()) <= {"not_mixed"}
    assert len(kept) + len(dropped) == 400 + 1500 + 600
    # well mixed: every tenth of the stream holds every source
    tenths = np.array_split(np.array([s["source"] for s in stream]), 10)
    assert all(set(part) == set(weights) for part in tenths)


def test_final_phase_upsamples_and_runs_are_reproducible(sources):
    folder, paths = sources
    params = {
        "weights": {"abstracts": 0.1, "manpages": 0.6, "licences": 0.3},
        "final": {"fraction": 0.2, "weights": {"abstracts": 0.6, "manpages": 0.4}},
        "tokens": 600_000,
        "seed": 3,
    }
    _, manifest, stream = _run(folder, paths, "final", params)
    for name, (main, last) in {"abstracts": (0.1, 0.6), "manpages": (0.6, 0.4),
                               "licences": (0.3, 0.0)}.items():  # fmt: skip
        shares = manifest["sources"][name]["actual_share"]
        assert abs(shares[0] - main) < 0.01 and abs(shares[1] - last) < 0.01
    phases = [s["phase"] for s in stream]
    assert phases == sorted(phases)  # the final phase comes last
    total = sum(_tokens(s["text"]) for s in stream)
    assert abs(total - 600_000) < 0.01 * 600_000
    assert _run(folder, paths, "again", params)[2] == stream


def test_mixing_by_a_metadata_field(tmp_path):
    papers = [r["text"] for r in corpus_records("abstracts", 200)]
    manuals = [r["text"][:3000] for r in corpus_records("manpages", 300)]
    records = [{"id": f"a{i}", "text": t, "domain": "science"} for i, t in enumerate(papers)]
    records += [{"id": f"m{i}", "text": t, "domain": "manuals"} for i, t in enumerate(manuals)]
    data = write_jsonl(tmp_path / "all.jsonl", records)
    weights = {"science": 0.5, "manuals": 0.5}
    out, manifest, stream = _run(tmp_path, [data], "by-domain",
                                 {"by": "domain", "weights": weights, "max_epochs": 2})  # fmt: skip
    assert set(manifest["sources"]) == {"science", "manuals"}
    for name in weights:
        assert abs(manifest["sources"][name]["actual_share"][0] - 0.5) < 0.01
        assert manifest["sources"][name]["epochs"] <= 2



def test_several_later_phases_and_a_curriculum_within_each(sources, tmp_path):
    _, paths = sources
    sized = []
    for path in paths:  # the same sources, each record with its length as a field
        records = [json.loads(line) for line in path.read_text().splitlines()]
        rows = [dict(r, n_chars=len(r["text"])) for r in records]
        sized.append(write_jsonl(tmp_path / path.name, rows))
    params = {
        "weights": {"abstracts": 0.2, "manpages": 0.5, "licences": 0.3},
        "phases": [{"fraction": 0.2, "weights": {"manpages": 1.0}},
                   {"fraction": 0.1, "weights": {"abstracts": 0.5, "licences": 0.5}}],
        "order_by": "n_chars", "tokens": 500_000,
    }  # fmt: skip
    _, manifest, stream = _run(tmp_path, sized, "phases", params)
    assert [round(p["fraction"], 6) for p in manifest["schedule"]] == [0.7, 0.2, 0.1]
    shares = {name: manifest["sources"][name]["actual_share"] for name in params["weights"]}
    assert abs(shares["manpages"][1] - 1.0) < 0.01
    assert abs(shares["abstracts"][2] - 0.5) < 0.02 and shares["manpages"][2] == 0
    phases = [s["phase"] for s in stream]
    assert phases == sorted(phases) and set(phases) == {0, 1, 2}
    for k in range(3):  # short to long within each phase
        lengths = [len(s["text"]) for s in stream if s["phase"] == k]
        assert lengths == sorted(lengths)
    _, _, reverse = _run(tmp_path, sized, "reverse", {**params, "descending": True})
    lengths = [len(s["text"]) for s in reverse if s["phase"] == 0]
    assert lengths == sorted(lengths, reverse=True)


def test_final_and_phases_together_are_a_recipe_error(sources, tmp_path):
    _, paths = sources
    phase = {"fraction": 0.1, "weights": {"manpages": 1.0}}
    with pytest.raises(winnow.RecipeError, match="either final"):
        winnow.run({"inputs": [str(paths[0])], "output": str(tmp_path / "x"),
                    "stages": [{"mix": {"final": phase, "phases": [phase]}}]})  # fmt: skip


def test_mixing_by_the_clusters_diversity_writes(sources):
    folder, paths = sources
    out = folder / "clusters"
    stages = [{"diversity": {"keep_fraction": 0.9, "clusters": 4}},
              {"mix": {"by": "diversity_cluster", "max_epochs": 1}}]  # fmt: skip
    winnow.run({"inputs": [str(p) for p in paths], "output": str(out), "stages": stages},
               workers=2)  # fmt: skip
    kept = read_output(out)
    manifest = json.loads(next((out / "artifacts").glob("*-mix/manifest.json")).read_text())
    assert set(manifest["sources"]) == {str(c) for c in range(4)}
    sizes = {str(c): sum(d["diversity_cluster"] == c for d in kept) for c in range(4)}
    assert {c: s["documents"] for c, s in manifest["sources"].items()} == sizes
