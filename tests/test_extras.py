"""A feature whose optional dependency is missing names its extra in one line and exits 2,
never a traceback. The dependency is made unimportable in the winnow processes
(tests/without/sitecustomize.py), as in an environment with the base install only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import corpus_records, write_jsonl

WITHOUT = Path(__file__).parent / "without"


def _winnow(args: list[str], without: str, cwd: Path) -> subprocess.CompletedProcess:
    path = os.pathsep.join([str(WITHOUT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "WINNOW_TEST_WITHOUT": without, "PYTHONPATH": path}
    return subprocess.run([sys.executable, "-m", "winnow.cli", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=300)  # fmt: skip


def _recipe(tmp_path: Path, stages: list) -> Path:
    src = write_jsonl(tmp_path / "in.jsonl", corpus_records("abstracts", 50))
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump({"inputs": [str(src)], "output": str(tmp_path / "out"),
                                    "stages": stages}))  # fmt: skip
    return path


def _one_clear_line(proc: subprocess.CompletedProcess, extra: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"pip install 'winnow[{extra}]'" in proc.stderr


def test_the_blocker_really_blocks(tmp_path):
    proc = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True, text=True,
                          env={**os.environ, "WINNOW_TEST_WITHOUT": "torch",
                               "PYTHONPATH": str(WITHOUT)})  # fmt: skip
    assert proc.returncode == 1 and "No module named 'torch'" in proc.stderr


def test_evaluate_without_torch(tmp_path):
    spec = tmp_path / "spec.yaml"
    data = write_jsonl(tmp_path / "a.jsonl", corpus_records("abstracts", 20))
    spec.write_text(yaml.safe_dump({"candidates": {"a": str(data)}, "target": str(data),
                                    "output": str(tmp_path / "eval"), "tokens": 1000}))  # fmt: skip
    _one_clear_line(_winnow(["evaluate", str(spec)], "torch", tmp_path), "evaluate")


def test_mixsearch_transformer_proxy_without_torch(tmp_path):
    spec = tmp_path / "spec.yaml"
    a = write_jsonl(tmp_path / "a.jsonl", corpus_records("abstracts", 20))
    b = write_jsonl(tmp_path / "b.jsonl", corpus_records("copyright", 20))
    spec.write_text(yaml.safe_dump({"inputs": [str(a), str(b)], "target": str(a), "runs": 8,
                                    "confirm": {"kind": "transformer"},
                                    "output": str(tmp_path / "mix")}))  # fmt: skip
    _one_clear_line(_winnow(["mixsearch", str(spec)], "torch", tmp_path), "evaluate")


@pytest.mark.parametrize("stage", ["semantic_dedup", "diversity"])
def test_minilm_backend_without_sentence_transformers(tmp_path, stage):
    params = {"backend": "minilm"} | ({"keep_fraction": 0.5} if stage == "diversity" else {})
    recipe = _recipe(tmp_path, [{stage: params}])
    proc = _winnow(["run", str(recipe)], "sentence_transformers", tmp_path)
    _one_clear_line(proc, "minilm")
    assert "line" in proc.stderr and not (tmp_path / "out").exists()  # a recipe error


@pytest.mark.parametrize("stage", ["lm_score", "rewrite"])
def test_local_language_model_without_transformers(tmp_path, stage):
    model = tmp_path / "model"
    model.mkdir()  # a directory is enough: the recipe check stops before it is read
    params = {"model": str(model)} if stage == "lm_score" else {"llm": {"model": str(model)}}
    recipe = _recipe(tmp_path, [{stage: params}])
    proc = _winnow(["run", str(recipe)], "transformers", tmp_path)
    _one_clear_line(proc, "llm")
    assert "line" in proc.stderr and not (tmp_path / "out").exists()  # a recipe error


def test_ray_executor_without_ray(tmp_path):
    recipe = _recipe(tmp_path, [{"normalize": {}}])
    _one_clear_line(_winnow(["run", str(recipe), "--executor", "ray"], "ray", tmp_path), "ray")


def test_s3_output_without_s3fs(tmp_path):
    recipe = _recipe(tmp_path, [{"normalize": {}}])
    proc = _winnow(["run", str(recipe), "-o", "s3://bucket/run"], "s3fs", tmp_path)
    _one_clear_line(proc, "s3")
