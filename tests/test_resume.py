"""Crash and resume: real SIGKILLs mid-run, then --resume must give identical output."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.conftest import corpus_records, tree_digest, write_jsonl

RECIPE = {  # three segments over 12 shards: seconds of work left after the first checkpoints
    "stages": [{"normalize": {}}, {"length_filter": {"min_words": 50}}, {"exact_dedup": {}},
               {"gopher_repetition": {}}, {"minhash_dedup": {}}],  # fmt: skip
    "write": {"format": "jsonl.gz", "shard_docs": 250},
    "read": {"shard_mb": 0.01, "batch_docs": 64},
}


def _write_recipe(tmp_path: Path, inputs: Path) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump({"inputs": [str(inputs)], **RECIPE}))
    return path


def _winnow(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "winnow.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry))
    return out


def _wait_for_checkpoints(out: Path, n: int, proc: subprocess.Popen) -> None:
    deadline = time.time() + 120
    while time.time() < deadline:
        done = list((out / "_work").glob("seg*/*.stats.json")) if (out / "_work").exists() else []
        if len(done) >= n:
            return
        assert proc.poll() is None, "the run finished before it could be interrupted"
        time.sleep(0.02)
    raise AssertionError("no checkpoints appeared")


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt(recipe: Path, out: Path, checkpoints: int, sig=signal.SIGKILL) -> tuple[int, str]:
    """Start a 2-worker run, wait for some finished shards, signal the whole process group.
    SIGINT is reset to its default in the run, as on a terminal: a shell that starts this test
    in the background (no job control) would have it ignored."""
    proc = _winnow("run", str(recipe), "-o", str(out), "--workers", "2", start_new_session=True,
                   preexec_fn=_default_sigint)  # fmt: skip
    _wait_for_checkpoints(out, checkpoints, proc)
    os.killpg(proc.pid, sig)
    code = proc.wait(timeout=120)
    return code, proc.stderr.read()


def _resume_matches_clean_run(tmp_path: Path, recipe: Path, out: Path, workers: str) -> None:
    resumed = _winnow("run", str(recipe), "-o", str(out), "--workers", workers, "--resume")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
    assert json.loads((out / "stats.json").read_text())["tasks_resumed"] >= 2
    clean = tmp_path / "clean"
    proc = _winnow("run", str(recipe), "-o", str(clean), "--workers", "2")
    assert proc.wait() == 0, proc.stderr.read()
    assert tree_digest(out) == tree_digest(clean)


def test_resume_after_worker_killed(tmp_path, manpage_shards):
    recipe = _write_recipe(tmp_path, manpage_shards)
    out = tmp_path / "killed"
    proc = _winnow("run", str(recipe), "-o", str(out), "--workers", "2")
    _wait_for_checkpoints(out, 3, proc)
    workers = [w for child in _children(proc.pid) for w in _children(child)]
    assert workers, "no worker processes found"
    os.kill(workers[0], signal.SIGKILL)
    code = proc.wait(timeout=120)
    err = proc.stderr.read()
    assert code == 1 and "--resume" in err and "Traceback" not in err
    assert not (out / "stats.json").exists()
    _resume_matches_clean_run(tmp_path, recipe, out, "2")


def test_resume_after_whole_run_killed(tmp_path, manpage_shards):
    recipe = _write_recipe(tmp_path, manpage_shards)
    out = tmp_path / "killed"
    _interrupt(recipe, out, 5)
    # without --resume the half-written folder is refused, not silently overwritten
    refused = _winnow("run", str(recipe), "-o", str(out))
    assert refused.wait(timeout=60) == 2 and "--resume" in refused.stderr.read()
    _resume_matches_clean_run(tmp_path, recipe, out, "1")


def test_ctrl_c_then_resume(tmp_path, manpage_shards):
    recipe = _write_recipe(tmp_path, manpage_shards)
    out = tmp_path / "interrupted"
    code, err = _interrupt(recipe, out, 3, signal.SIGINT)
    assert code == 130 and "--resume" in err and "Traceback" not in err
    _resume_matches_clean_run(tmp_path, recipe, out, "2")


def test_resume_refuses_a_changed_recipe(tmp_path, manpage_shards):
    recipe = _write_recipe(tmp_path, manpage_shards)
    out = tmp_path / "out"
    _interrupt(recipe, out, 2)
    changed = yaml.safe_load(recipe.read_text())
    changed["stages"][1]["length_filter"]["min_words"] = 10
    recipe.write_text(yaml.safe_dump(changed))
    again = _winnow("run", str(recipe), "-o", str(out), "--resume")
    assert again.wait(timeout=60) == 2 and "changed" in again.stderr.read()


def test_resume_refuses_changed_inputs(tmp_path, manpage_shards):
    inputs = tmp_path / "inputs"
    shutil.copytree(manpage_shards, inputs)
    recipe = _write_recipe(tmp_path, inputs)
    out = tmp_path / "out"
    _interrupt(recipe, out, 2)
    victim = sorted(inputs.iterdir())[-1]
    os.utime(victim, ns=(0, 10**18))  # same bytes, new modification time
    again = _winnow("run", str(recipe), "-o", str(out), "--resume")
    assert again.wait(timeout=60) == 2
    assert "its input files or a file a stage reads changed" in again.stderr.read()


def test_resume_refuses_a_changed_file_a_stage_reads(tmp_path, manpage_shards):
    target = write_jsonl(tmp_path / "target.jsonl", corpus_records("abstracts", 200))
    recipe = tmp_path / "recipe.yaml"
    stages = [*RECIPE["stages"], {"perplexity": {"target": str(target), "keep_fraction": 0.9}}]
    recipe.write_text(yaml.safe_dump({"inputs": [str(manpage_shards)], **RECIPE, "stages": stages}))
    out = tmp_path / "out"
    _interrupt(recipe, out, 2)
    os.utime(target, ns=(0, 10**18))  # same bytes, new modification time
    again = _winnow("run", str(recipe), "-o", str(out), "--resume")
    assert again.wait(timeout=60) == 2 and "a file a stage reads changed" in again.stderr.read()


def test_finished_segments_are_deleted_and_a_kill_after_that_resumes(tmp_path, manpage_shards):
    """A shard's segment file is deleted once the next segment is checkpointed on that shard
    (scratch holds about one segment); a run killed after that resumes to identical output."""
    recipe = tmp_path / "recipe.yaml"
    stages = RECIPE["stages"]
    recipe.write_text(yaml.safe_dump({"inputs": [str(manpage_shards)], **RECIPE, "stages": stages}))
    out = tmp_path / "killed"
    shards = len(list(manpage_shards.iterdir()))
    proc = _winnow("run", str(recipe), "-o", str(out), "--workers", "2", start_new_session=True)
    _wait_for_checkpoints(out, 2 * shards + 1, proc)  # segment 2 under way
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=120)
    assert not list((out / "_work" / "seg00").glob("*.arrow"))  # deleted, stats kept
    assert len(list((out / "_work" / "seg00").glob("*.stats.json"))) == shards
    assert not list((out / "_work" / "reduce01").glob("*.arrow"))
    _resume_matches_clean_run(tmp_path, recipe, out, "2")


def test_scratch_on_another_disk_resumes_and_goes_away(tmp_path, manpage_shards):
    recipe = _write_recipe(tmp_path, manpage_shards)
    out, scratch = tmp_path / "killed", tmp_path / "scratch-disk"
    args = ("run", str(recipe), "-o", str(out), "--work-dir", str(scratch), "--workers", "2")
    proc = _winnow(*args, start_new_session=True)
    deadline = time.time() + 120
    while not list(scratch.glob("winnow-*/seg*/*.stats.json")) and time.time() < deadline:
        assert proc.poll() is None, "the run finished before it could be interrupted"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=120)
    assert not list((out / "_work").glob("seg*"))  # the segments are on the other disk
    elsewhere = _winnow("run", str(recipe), "-o", str(out), "--resume")  # no --work-dir
    assert elsewhere.wait(timeout=60) == 2
    assert f"keeps its checkpoints in {scratch}" in elsewhere.stderr.read()
    resumed = _winnow(*args, "--resume")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
    assert not (out / "_work").exists() and not list(scratch.iterdir())
    clean = tmp_path / "clean"
    proc = _winnow("run", str(recipe), "-o", str(clean), "--workers", "2")
    assert proc.wait() == 0, proc.stderr.read()
    assert tree_digest(out) == tree_digest(clean)


def test_scratch_compressed_with_lz4_resumes_uncompressed_to_the_same_output(
    tmp_path, manpage_shards
):
    """``scratch_compression: lz4`` writes LZ4 frames into the segment files; a run killed
    with it resumes under the default (``none``: not part of the fingerprint, and either
    kind of file is read back) to the output of a clean uncompressed run."""
    lz4 = tmp_path / "lz4.yaml"
    lz4.write_text(yaml.safe_dump({"inputs": [str(manpage_shards)], **RECIPE,
                                   "scratch_compression": "lz4"}))  # fmt: skip
    out = tmp_path / "killed"
    proc = _winnow("run", str(lz4), "-o", str(out), "--workers", "2", start_new_session=True)
    _wait_for_checkpoints(out, 3, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=120)
    segments = [p.read_bytes() for p in (out / "_work").glob("seg*/*.arrow")]
    assert segments and all(b"\x04\x22\x4d\x18" in s for s in segments)  # LZ4 frame magic
    _resume_matches_clean_run(tmp_path, _write_recipe(tmp_path, manpage_shards), out, "2")
    clean = tmp_path / "clean"
    assert yaml.safe_load((clean / "recipe.yaml").read_text())["scratch_compression"] == "none"
