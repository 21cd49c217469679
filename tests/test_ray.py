"""The Ray executor on a real local Ray cluster (127.0.0.1): the demo recipe, with every
stage the demo runs, gives byte-identical data and ledger (kept ids, reasons,
duplicate_of) to the local executor; a Ray worker killed mid-run is retried and the output
is still identical."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import winnow
from tests.conftest import tree_digest
from winnow.demo.build import demo_recipe


def test_demo_recipe_on_ray_equals_local(tmp_path):
    recipe = demo_recipe(tmp_path)
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    winnow.run({**recipe, "output": str(local)}, workers=2)
    winnow.run({**recipe, "output": str(on_ray)}, workers=2, executor="ray")
    assert tree_digest(local) == tree_digest(on_ray)
    assert (on_ray / "report.html").exists()
    packed = [sorted(out.glob("artifacts/*-pack/*")) for out in (local, on_ray)]  # a sink
    assert [p.name for p in packed[0]] == [p.name for p in packed[1]] and packed[0]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(*packed))


def _ray_task_pids(name: str) -> list[int]:
    """Processes whose title (Ray sets ``ray::FUNCTION`` while a task runs) names ``name``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if name in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def test_a_killed_worker_is_retried_and_the_output_is_identical(manpage_shards, tmp_path):
    import ray

    stages = [{"gopher_quality": {}}, {"gopher_repetition": {}}, {"minhash_dedup": {}}]
    recipe = {"inputs": [str(manpage_shards)], "stages": stages}
    local = tmp_path / "local"
    winnow.run({**recipe, "output": str(local)}, workers=2)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    errors, killed = [], []
    try:

        def run() -> None:
            try:
                winnow.run({**recipe, "output": str(tmp_path / "ray")}, executor="ray")
            except BaseException as err:  # noqa: BLE001 - reported by the assertion below
                errors.append(err)

        thread = threading.Thread(target=run)
        thread.start()
        deadline = time.time() + 120
        while not killed and thread.is_alive() and time.time() < deadline:
            for pid in _ray_task_pids("ray::run_segment"):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                break
            time.sleep(0.02)
        thread.join()
    finally:
        ray.shutdown()
    assert killed, "no Ray worker was caught running a segment"
    assert not errors, errors
    assert tree_digest(local) == tree_digest(tmp_path / "ray")
