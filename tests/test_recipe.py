"""Recipes are validated before any work: clear messages, exit status 2, nothing written."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

import winnow
from tests.conftest import CORPORA


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "winnow.cli", *args], capture_output=True, text=True
    )


BAD_RECIPES = {
    "unknown stage": (
        "inputs: [{corpus}]\nstages:\n  - normalize: {{}}\n  - minhash_magic: {{}}\n",
        ["stages[1] (line 4)", "unknown stage 'minhash_magic'", "length_filter"],
    ),
    "bad parameter": (
        "inputs: [{corpus}]\nstages:\n  - length_filter:\n      min_words: -5\n",
        ["stages[0].length_filter.min_words (line 4)", "greater than or equal to 0", "-5"],
    ),
    "unknown parameter": (
        "inputs: [{corpus}]\nstages:\n  - exact_dedup: {{fuzzy: true}}\n",
        ["stages[0].exact_dedup.fuzzy", "unknown parameter"],
    ),
    "column no earlier stage makes": (
        "inputs: [{corpus}]\nstages:\n  - normalize: {{}}\n  - pack: {{seq_len: 512}}\n",
        ["stages[1] (line 4)", "pack needs the 'tokens' column", "add tokenize before it"],
    ),
    "missing input": (
        "inputs:\n  - {corpus}\n  - /nonexistent/data/*.jsonl\nstages: []\n",
        ["inputs[1] (line 3)", "/nonexistent/data/*.jsonl", "no such file"],
    ),
    "bad write format": (
        "inputs: [{corpus}]\nwrite: {{format: xml}}\n",
        ["write.format (line 2)", "'parquet'", "xml"],
    ),
    "not yaml": ("inputs: [unclosed\n", ["not valid YAML"]),
    "no inputs": ("stages: []\n", ["inputs", "Field required"]),
}


@pytest.mark.parametrize("case", sorted(BAD_RECIPES))
def test_invalid_recipe_exits_2_and_writes_nothing(tmp_path, case):
    text, expected = BAD_RECIPES[case]
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(text.format(corpus=CORPORA / "abstracts.jsonl.gz"))
    out = tmp_path / "out"
    proc = _cli("run", str(recipe), "-o", str(out))
    assert proc.returncode == 2, proc.stderr
    assert str(recipe) in proc.stderr and "Traceback" not in proc.stderr
    for fragment in expected:
        assert fragment in proc.stderr
    assert not out.exists()


def test_all_problems_reported_at_once():
    with pytest.raises(winnow.RecipeError) as err:
        winnow.load_recipe(
            {
                "inputs": ["/nope.jsonl"],
                "output": "x",
                "stages": [{"length_filter": {"max_words": 0}}, {"bogus": {}}],
            }
        )
    assert len(err.value.problems) == 3


def test_output_flag_overrides_and_resolved_recipe_is_recorded(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "inputs": [str(CORPORA / "abstracts.jsonl.gz")],
                "output": str(tmp_path / "ignored"),
                "stages": ["normalize", {"exact_dedup": None}],
            }
        )
    )
    proc = _cli("run", str(recipe), "-o", str(tmp_path / "chosen"), "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "ignored").exists()
    resolved = yaml.safe_load((tmp_path / "chosen" / "recipe.yaml").read_text())
    assert resolved["output"] == str(tmp_path / "chosen")
    assert resolved["stages"] == [
        {"normalize": {"fix_mojibake": True, "nfc": True, "whitespace": True}},
        {"exact_dedup": {"reference": None, "index": False, "lowercase": True,
                         "collapse_whitespace": True, "view": "text"}},  # fmt: skip
    ]
    assert resolved["write"] == {
        "format": "jsonl.gz",
        "shard_docs": 100000,
        "shard_bytes": None,
        "chat_format": "same",
        "drop_columns": [],
    }
    assert "778 documents in, 687 kept, 91 in the ledger" in proc.stdout


def test_the_recipe_seed_is_every_seeded_stage_default():
    stages = [{"minhash_dedup": {}}, {"sample": {"keep_fraction": 0.5, "seed": 3}}]
    recipe = {"inputs": [str(CORPORA / "udhr.jsonl.gz")], "output": "/tmp/unused", "seed": 7,
              "stages": stages}  # fmt: skip
    stages = winnow.load_recipe(recipe).stages
    assert stages[0].name == "minhash_dedup" and stages[0].params.seed == 7  # the recipe's
    assert stages[1].params.seed == 3  # the stage's own


def test_recipe_yaml_is_safe_loaded(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("inputs: !!python/object/apply:os.system ['echo pwned']\n")
    proc = _cli("run", str(recipe), "-o", str(tmp_path / "out"))
    assert proc.returncode == 2 and "not valid YAML" in proc.stderr and "pwned" not in proc.stdout


def test_stages_command_lists_every_stage_with_defaults():
    proc = _cli("stages")
    assert proc.returncode == 0
    for name in ("normalize", "length_filter", "exact_dedup", "unique_ids"):
        assert name in proc.stdout
    assert "min_words=0" in proc.stdout and "Gopher" in proc.stdout


def test_overwrite_refuses_a_folder_that_is_not_winnow_output(tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("years of work")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"inputs": [str(CORPORA / "abstracts.jsonl.gz")]}))
    proc = _cli("run", str(recipe), "-o", str(precious), "--overwrite")
    assert proc.returncode == 2 and "refusing to overwrite" in proc.stderr
    assert (precious / "thesis.txt").read_text() == "years of work"
