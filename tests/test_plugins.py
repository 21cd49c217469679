"""Stages from outside winnow: an installed package's ``winnow.stages`` entry point and a
module a recipe names in ``plugins:`` register stages that run like built-in ones, locally
and on Ray (the example plugin in ``tests/plugin``, which ``.ci/run`` installs)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import winnow
from tests.conftest import corpus_records, read_ledger, read_output, tree_digest, write_jsonl
from winnow.recipe import RecipeError, load_recipe


def _recipe(tmp_path, stages, plugins=(), name="out"):
    src = write_jsonl(tmp_path / "in.jsonl", corpus_records("udhr", 120))
    recipe = {"inputs": [str(src)], "output": str(tmp_path / name), "stages": stages}
    return {**recipe, "plugins": list(plugins)} if plugins else recipe


def test_an_installed_plugin_registers_its_stages(tmp_path):
    listed = subprocess.run(
        [sys.executable, "-m", "winnow.cli", "stages"], capture_output=True, text=True
    )
    assert listed.returncode == 0 and "min_unique_words" in listed.stdout
    result = winnow.run(_recipe(tmp_path, [{"min_unique_words": {"min_words": 150}}]), workers=2)
    reasons = {r["reason"] for r in read_ledger(tmp_path / "out")}
    assert reasons == {"too_few_unique_words"}
    docs = read_output(tmp_path / "out")
    assert docs and all(d["unique_words"] >= 150 for d in docs)
    assert result.stats["input_docs"] == len(docs) + len(read_ledger(tmp_path / "out"))


def test_a_recipe_names_a_plugin_module(tmp_path):
    recipe = _recipe(tmp_path, [{"shout": {}}], plugins=["winnow_example_plugin.extra"])
    resolved = load_recipe(recipe)
    assert set(resolved.plugin_versions) == {
        "winnow_example_plugin.stages",
        "winnow_example_plugin.extra",
    }
    assert resolved.plugin_versions["winnow_example_plugin.extra"].startswith(
        "winnow-example-plugin 0.1.0"
    )
    winnow.run(recipe, workers=2)
    docs = read_output(tmp_path / "out")
    assert docs and all(d["text"] == d["text"].upper() for d in docs)


@pytest.mark.parametrize(
    ("plugin", "message"),
    [
        (
            "winnow_example_plugin.twice",
            "stage 'pii' registered twice: by winnow.stages.pii.Pii and "
            "winnow_example_plugin.twice.Pii",
        ),
        ("winnow_example_plugin/extra.py", "give an importable module name, not a path"),
        ("no_such_plugin_module", "cannot import 'no_such_plugin_module'"),
    ],
)
def test_a_bad_plugin_is_named_before_any_work(tmp_path, plugin, message):
    with pytest.raises(RecipeError) as err:
        load_recipe(_recipe(tmp_path, [{"normalize": {}}], plugins=[plugin]))
    assert "plugins[0]" in str(err.value) and message in str(err.value)


def test_plugin_stages_run_on_ray_as_locally(tmp_path):
    stages = [{"shout": {}}, {"min_unique_words": {"min_words": 150}}, {"exact_dedup": {}}]
    plugins = ["winnow_example_plugin.extra"]
    winnow.run(_recipe(tmp_path, stages, plugins, "local"), workers=2)
    winnow.run(_recipe(tmp_path, stages, plugins, "ray"), workers=2, executor="ray")
    assert tree_digest(tmp_path / "local") == tree_digest(tmp_path / "ray")
