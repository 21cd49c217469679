"""portrait and ``winnow contains``: a Bloom-filter sketch of a run's output says yes for
every output document and for text copied out of one, and no for held-out text."""

from __future__ import annotations

import numpy as np
import pytest

import winnow
from tests.conftest import corpus_records, read_output, write_jsonl
from winnow.cli import main
from winnow.models.portrait import Portrait, chunk_hashes, find


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("portrait")
    pages = corpus_records("manpages", limit=1500)
    data = write_jsonl(folder / "in.jsonl", [{"id": r["id"], "text": r["text"]} for r in pages])
    out = folder / "out"
    winnow.run(
        {"inputs": [str(data)], "output": str(out),
         "stages": [{"exact_dedup": {}}, {"portrait": {}}]},
        workers=2,
    )  # fmt: skip
    held_out = [r["text"] for r in corpus_records("manpages", limit=2500)[1500:]]
    return out, held_out


def test_every_output_document_is_found_and_held_out_text_is_not(run):
    out, held_out = run
    portrait = Portrait.load(find(out))
    documents = [d["text"] for d in read_output(out)]
    scores = [portrait.score(t) for t in documents]
    assert all(s == 1.0 for s, n in scores if n)  # no false negatives
    assert sum(1 for _, n in scores if n) >= 0.99 * len(documents)
    # a stretch copied from the middle of a document, at any offset
    rng = np.random.default_rng(0)
    for text in rng.choice(documents, 50).tolist():
        start = int(rng.integers(0, max(1, len(text) - 600)))
        assert portrait.score(text[start : start + 500])[0] == 1.0
    # held-out man pages share boilerplate lines with the sketched ones: judge by chunks
    held = np.array([portrait.score(t)[0] for t in held_out])
    random_text = ["".join(rng.choice(list("abcdefghij klmnop"), 400)) for _ in range(200)]
    noise = np.array([portrait.score(t)[0] for t in random_text])
    assert noise.max() < 0.5  # every unseen text answers no (best of 50 alignments)
    # the measured false-positive rate per chunk, over every alignment of unseen text
    lookups = [portrait.has(chunk_hashes(t, 50, a)) for t in random_text for a in range(50)]
    measured = float(np.concatenate(lookups).mean())
    assert measured < 0.005 and portrait.false_positive_rate() < 0.005
    assert np.median(held) < 0.5  # most held-out pages are not "in" the data
    size = find(out).stat().st_size
    assert size <= 0.04 * portrait.chars  # about 3% of the sketched text


def test_contains_command(run, tmp_path, capsys):
    out, held_out = run
    document = read_output(out)[3]["text"]
    query = tmp_path / "query.txt"
    query.write_text(document[100:900])
    assert main(["contains", str(out), str(query)]) == 0
    assert capsys.readouterr().out.startswith("yes\t1.000")
    unseen = "".join(np.random.default_rng(1).choice(list("qwertyuiop asdf"), 600))
    assert main(["contains", str(out), unseen]) == 1
    assert capsys.readouterr().out.startswith("no\t")
    assert main(["contains", str(tmp_path), "x"]) == 2
