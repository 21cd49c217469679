"""decontaminate: benchmark items (questions and answers cut from paper abstracts) planted
into real man pages are found and removed, with no false positives on the rest."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import winnow
from tests.conftest import corpus_records, write_jsonl


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("decontam")
    items = []
    for r in corpus_records("abstracts", 400)[:300]:
        words = r["text"].split()
        items.append({"question": " ".join(words[:30]), "answer": " ".join(words[30:39])})
    bench = write_jsonl(folder / "paperqa.jsonl", items)
    pages = [r["text"][:3000] for r in corpus_records("manpages", limit=2000)]
    rng = np.random.default_rng(0)
    chosen = sorted(rng.choice(len(pages), 40, replace=False).tolist())
    texts = list(pages)
    for k, row in enumerate(chosen):
        page = pages[row]
        middle = len(page) // 2
        # half get a 20-word stretch of a question, half a whole 9-word answer
        words = items[k]["question"].split()[5:25] if k % 2 == 0 else items[k]["answer"].split()
        texts[row] = page[:middle] + " " + " ".join(words) + " " + page[middle:]
    monkey = pytest.MonkeyPatch()
    monkey.setenv("WINNOW_CACHE", str(folder / "cache"))
    yield pa.table({"text": texts}), chosen, str(bench), pages, folder
    monkey.undo()


def test_planted_items_are_removed_and_nothing_else(planted):
    table, chosen, bench, _, folder = planted
    out = winnow.apply_stage("decontaminate", table, benchmarks=[bench])
    removed = np.nonzero(~np.array(out.column("keep").to_pylist()))[0].tolist()
    assert removed == chosen
    reasons = {out.column("drop_reason")[i].as_py() for i in removed}
    assert reasons == {"contaminated:paperqa"}
    assert out.column("decontaminate_benchmark")[chosen[0]].as_py() == "paperqa"
    # the index was kept and is reused
    assert len(list((folder / "cache").glob("decontaminate-*.npz"))) == 1


def test_span_mode_cuts_only_the_overlap_and_its_margin(planted):
    table, chosen, bench, pages, _ = planted
    out = winnow.apply_stage(
        "decontaminate", table, benchmarks=[bench], mode="span", margin=0, min_chars=100
    )
    assert all(out.column("keep").to_pylist())
    texts = out.column("text").to_pylist()
    spans = out.column("decontaminate_spans").to_pylist()
    for row in chosen:
        assert spans[row] >= 1
        original = pages[row]
        # what is left is the page itself, at most a word's edge shorter at the cut
        assert abs(len(texts[row]) - len(original)) < 40
        again = winnow.apply_stage("decontaminate", pa.table({"text": [texts[row]]}),
                                   benchmarks=[bench])  # fmt: skip
        assert again.column("keep").to_pylist() == [True]
    untouched = [i for i in range(table.num_rows) if i not in set(chosen)]
    assert all(texts[i] == pages[i] for i in untouched) and not any(spans[i] for i in untouched)


def test_missing_benchmark_is_a_recipe_error(tmp_path):
    data = str(write_jsonl(tmp_path / "a.jsonl", [{"text": "x"}]))
    with pytest.raises(winnow.RecipeError, match="benchmarks"):
        winnow.load_recipe(
            {"inputs": [data], "output": str(tmp_path / "o"),
             "stages": [{"decontaminate": {"benchmarks": [str(tmp_path / "none.jsonl")]}}]}
        )  # fmt: skip
