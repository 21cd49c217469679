"""Runs whose output is an fsspec URL: checks before the run, upload after it.

The run works in a local staging folder (``winnow.io.remote.staging_folder``), exactly as
for a local output; when it has finished and passed its checks, the files are uploaded,
``stats.json`` last, and the staging folder is removed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson

from winnow.engine.errors import RunFailed
from winnow.io import remote


def check_url_output(url: str, fp: str, resume: bool, overwrite: bool) -> dict | None:
    """Refuse a URL that holds other files; returns the stats of the finished run it
    already holds (``--resume`` of a run that completed)."""
    try:
        if not remote.holds_files(url):
            return None
        if not remote.holds_run(url):
            raise RunFailed(f"{url}: refusing to write into a location that holds no winnow run", 2)
        if resume:
            fs, path = remote.filesystem(url)
            stats_path = f"{path.rstrip('/')}/stats.json"
            if fs.exists(stats_path):
                stats = orjson.loads(fs.cat_file(stats_path))
                if stats.get("fingerprint") == fp:
                    return stats
            return None  # a run of this recipe cut short while uploading: finish it
        if not overwrite:
            raise RunFailed(
                f"{url}: output is not empty; pass --resume to continue an interrupted run "
                "or --overwrite to replace it",
                2,
            )
        remote.remove(url)
    except remote.RemoteError as err:
        raise RunFailed(str(err), 2) from err
    except OSError as err:
        raise RunFailed(f"{url}: cannot be used as the output ({err})", 2) from err
    return None


def publish(folder: Path, url: str) -> None:
    """Upload the finished run to ``url`` and remove its staging folder."""
    try:
        remote.upload(folder, url)
    except OSError as err:
        raise RunFailed(
            f"{url}: upload failed ({err}); the finished run is kept in {folder}; "
            "rerun with --resume to upload it again",
            1,
        ) from err
    shutil.rmtree(folder, ignore_errors=True)
