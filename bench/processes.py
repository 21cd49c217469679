"""Whole-process runs for side-by-side benches: each tool in a fresh process per run,
pinned to one core, the tools interleaved so that drift in the machine falls on all."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path


def interleaved(
    script: str,
    tools: Sequence[str],
    runs: int,
    scratch: Path,
    child_args: list[str],
    collect: Callable[[str, Path], None],
    env: dict | None = None,
) -> tuple[dict, dict]:
    """Run ``script --child TOOL --work DIR *child_args`` ``runs`` times per tool on one core;
    ``collect(tool, work)`` reads what a run left before its folder goes. Returns each tool's
    wall seconds and the seconds its child reported (its last stdout line, JSON)."""
    core = pinned_core()
    walls: dict[str, list[float]] = {t: [] for t in tools}
    inner: dict[str, list[float]] = {t: [] for t in tools}
    for r in range(runs):
        for tool in tools:
            work = scratch / f"{tool}-{r}"
            work.mkdir()
            cmd = [sys.executable, script, "--child", tool, "--work", str(work), *child_args]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env,
                                  preexec_fn=lambda: os.sched_setaffinity(0, {core}))  # fmt: skip
            wall = time.perf_counter() - t0
            if proc.returncode:
                raise RuntimeError(f"{tool} failed:\n{proc.stderr[-3000:]}")
            walls[tool].append(wall)
            inner[tool].append(json.loads(proc.stdout.strip().splitlines()[-1])["seconds"])
            collect(tool, work)
            shutil.rmtree(work)
    return walls, inner


def run_recipe(recipe: dict, api: bool) -> dict:
    """Run ``recipe`` with one worker in this process and return its stats: through
    ``winnow.run`` (``api``), or as the ``winnow run`` command runs it (``winnow.cli.entry``
    on the recipe written as YAML next to its output, including what the command does before
    the interpreter exits)."""
    if api:
        import winnow

        return winnow.run(recipe, workers=1).stats
    import yaml

    from winnow import cli

    output = Path(recipe["output"])
    path = output.parent / f"{output.name}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    sys.argv = ["winnow", "run", str(path), "--workers", "1"]
    try:
        cli.entry()
    except SystemExit as exc:
        if exc.code:
            raise RuntimeError(f"winnow run {path} exited with {exc.code}") from None
    return json.loads((output / "stats.json").read_text())


def pinned_core() -> int:
    """The core ``interleaved`` pins its runs to."""
    return min(os.sched_getaffinity(0))
