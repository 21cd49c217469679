"""The registry's list of built-in stages against what their modules register."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import subprocess
import sys

import winnow.stages
from winnow.stages import BUILT_IN, REGISTRY


def test_every_stage_module_registers_what_the_list_says():
    for info in pkgutil.walk_packages(winnow.stages.__path__, "winnow.stages."):
        importlib.import_module(info.name)
    registered = {name: REGISTRY[name].__module__ for name in REGISTRY}
    assert {n: m for n, m in registered.items() if m.startswith("winnow.")} == BUILT_IN


def test_a_run_imports_only_the_stages_it_names(tmp_path):
    corpus = tmp_path / "in.jsonl"
    corpus.write_text('{"id": "a", "text": "one two three"}\n')
    code = (
        "import sys, winnow\n"
        f"winnow.run({{'inputs': [{str(corpus)!r}], 'output': {str(tmp_path / 'out')!r},"
        " 'stages': [{'length_filter': {'min_words': 1}}]}, workers=1)\n"
        "print(sorted(m for m in sys.modules if m.startswith('winnow.stages.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = ast.literal_eval(out.stdout.strip().splitlines()[-1])
    assert "winnow.stages.length" in loaded
    assert "winnow.stages.dedup.minhash" not in loaded
    assert "winnow.stages.select.correlation" not in loaded
