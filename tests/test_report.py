"""The data card: the demo run's report.html opened in headless Chromium (Debian's chromium,
installed by .ci/run): every section present, its own script ran, no console errors, and a
planted ``<script>alert(1)</script>`` document shows as text and never runs. The screenshot
is kept in test-artifacts/ (or $WINNOW_ARTIFACTS)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import orjson
import pytest

import winnow
from winnow.demo.build import demo_recipe
from winnow.report.html import SECTIONS

PLANTED = "<script>alert(1)</script> " + "This planted page tries to run a script. " * 3


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    raise AssertionError("headless Chromium is needed: apt-get install chromium (.ci/run does)")


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    recipe = demo_recipe(folder)
    planted = folder / "input" / "planted.jsonl"
    planted.write_bytes(orjson.dumps({"id": "planted-1", "text": PLANTED}) + b"\n")
    recipe["inputs"].insert(0, str(planted))  # first in input order: among the examples
    winnow.run(recipe, workers=2)
    return folder / "output" / "report.html"


def _run_chromium(*args: str) -> subprocess.CompletedProcess:
    command = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
               "--enable-logging=stderr", "--v=0", *args]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_report_renders_every_section_without_errors_or_injection(report):
    html = report.read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count("<script>") == 1  # the report's own, nothing from documents
    done = _run_chromium("--dump-dom", report.as_uri())
    dom = done.stdout
    assert 'data-ready="1"' in dom  # the report's script ran
    for section in SECTIONS:
        assert f'id="{section}"' in dom, section
    assert len(re.findall(r"<script", dom)) == 1 and "alert(1)" in dom  # shown as text
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    assert not [line for line in console if "Uncaught" in line or "rror" in line], console
    artifacts = Path(os.environ.get("WINNOW_ARTIFACTS", "test-artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / "report.png"
    _run_chromium(f"--screenshot={shot.resolve()}", "--window-size=1200,4000", report.as_uri())
    assert shot.stat().st_size > 10_000


def test_report_is_self_contained_and_rewritable(report, capsys):
    html = report.read_text()
    assert not re.search(r"(src|href)=['\"]?(https?:|//)", html)  # no network
    from winnow.cli import main

    report.unlink()
    assert main(["report", str(report.parent)]) == 0
    assert report.read_text() == html
    assert main(["explain", str(report.parent), "planted-1"]) == 0
    printed = capsys.readouterr().out
    assert "planted-1" in printed and ("removed by" in printed or "kept" in printed)
    assert main(["sample", str(report.parent), "--stage", "langid", "-n", "3"]) == 0
    assert "removed by langid" in capsys.readouterr().out
    assert main(["explain", str(report.parent), "no-such-id"]) == 1
