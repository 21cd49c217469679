"""The HTTP backend against a real server process on 127.0.0.1 that speaks the OpenAI
chat-completions protocol and generates with a real (tiny, made here) model, with faults
injected: 429 with Retry-After, 500, a response stalled past the timeout, malformed JSON, a
dropped connection. No mock of the client."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import orjson
import pytest
import yaml
from conftest import read_ledger, read_output, write_jsonl
from tiny_lm import GRADE_TEMPLATE, SNIPPET, abstracts, manpages

import winnow
from winnow.cli import main

SECRET = "sk-test-SECRET-4242"


class Server:
    def __init__(self, model: Path, faults: str) -> None:
        script = Path(__file__).with_name("llm_server.py")
        self.proc = subprocess.Popen(
            [sys.executable, str(script), str(model), "--port", "0", "--faults", faults],
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()
        assert line.startswith("PORT "), line
        self.url = f"http://127.0.0.1:{int(line.split()[1])}/v1"

    def stats(self) -> dict:
        with urllib.request.urlopen(self.url.removesuffix("/v1") + "/stats") as r:
            return orjson.loads(r.read())

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def server(tiny_model):
    s = Server(tiny_model, "429,500,stall,malformed,drop")
    yield s
    s.close()


@pytest.fixture(scope="module")
def calm_server(tiny_model):
    """The same server without the planned faults (documents marked ALWAYS-500 still fail)."""
    s = Server(tiny_model, "")
    yield s
    s.close()


def _documents() -> list[dict]:
    """Unseen abstracts and man pages (the model was taught on others)."""
    _, unseen = abstracts()
    papers = [{"id": f"paper-{i}", "text": t[:SNIPPET]} for i, t in enumerate(unseen[:10])]
    pages = [{"id": f"man-{i}", "text": t} for i, t in enumerate(manpages(110)[100:110])]
    return papers + pages


def _recipe(tmp_path: Path, url: str, inputs: Path, out: str) -> dict:
    template = tmp_path / "grade.yaml"
    template.write_text(yaml.safe_dump(GRADE_TEMPLATE))
    llm = {"base_url": url, "model": "tiny", "api_key_env": "WINNOW_TEST_LLM_KEY",
           "timeout_s": 2, "max_retries": 5, "max_tokens": 4, "max_concurrency": 4,
           "cache": str(tmp_path / "cache")}  # fmt: skip
    return {
        "inputs": [str(inputs)],
        "output": str(tmp_path / out),
        "stages": [{"annotate": {"llm": llm, "prompt": str(template)}}],
    }


def _files(out: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.parent.name in ("data", "ledger")
    }


def test_annotate_through_a_faulty_server_then_a_rerun_sends_nothing(tmp_path, server, monkeypatch):
    monkeypatch.setenv("WINNOW_TEST_LLM_KEY", SECRET)
    docs = _documents()
    inputs = write_jsonl(tmp_path / "docs.jsonl", docs)
    recipe = _recipe(tmp_path, server.url, inputs, "out")
    result = winnow.run(recipe, workers=2)
    out = Path(result.output)
    usage = result.stats["llm"]["01-annotate"]
    # every fault was met and retried; every document was answered once
    assert usage["requests_sent"] == len(docs)
    assert usage["requests_failed"] == 0
    assert usage["requests_retried"] >= 5
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert server.stats()["generated"] == len(docs)
    kept = {d["id"]: d for d in read_output(out)}
    ledger = read_ledger(out)
    assert len(kept) + len(ledger) == len(docs)
    for row in ledger:  # only answers that hold no grade may go, with their own reason
        assert row["reason"] in ("llm_unparseable", "llm_truncated"), row
    scores = {i: d["annotate_score"] for i, d in kept.items()}
    assert all(0 <= s <= 5 for s in scores.values())
    papers = [s for i, s in scores.items() if i.startswith("paper")]
    pages = [s for i, s in scores.items() if i.startswith("man")]
    # the model grades, not noise: abstracts (taught 4) above man pages (taught 1), which
    # it may also answer with no grade at all (on one machine's training it did for all ten)
    assert len(papers) >= 5 and sum(papers) / len(papers) >= 3
    assert not pages or sum(pages) / len(pages) < sum(papers) / len(papers)
    for doc in kept.values():
        assert str(int(doc["annotate_score"])) in doc["annotate_answer"]
    card = (out / "report.html").read_text()  # the data card says what the requests cost
    assert "Language models" in card and f"<td class='num'>{len(docs):,}</td>" in card
    # the key went to the server only: nowhere in what the run wrote
    for path in out.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path

    before = server.stats()["requests"]
    again = winnow.run(recipe, workers=1, overwrite=True)
    assert server.stats()["requests"] == before  # zero requests: all cached
    assert again.stats["llm"]["01-annotate"]["requests_cached"] == len(docs)
    assert again.stats["llm"]["01-annotate"]["requests_sent"] == 0
    assert _files(out) == _files(Path(result.output))  # byte-identical (same folder, re-made)


def test_a_document_the_server_always_fails_goes_to_the_ledger(
    tmp_path, calm_server, monkeypatch
):
    monkeypatch.setenv("WINNOW_TEST_LLM_KEY", SECRET)
    docs = _documents()[:4] + [{"id": "poison", "text": "ALWAYS-500 " + "x " * 20}]
    inputs = write_jsonl(tmp_path / "docs.jsonl", docs)
    recipe = _recipe(tmp_path, calm_server.url, inputs, "out")
    recipe["stages"][0]["annotate"]["llm"]["max_retries"] = 2
    result = winnow.run(recipe, workers=1)
    usage = result.stats["llm"]["01-annotate"]
    assert usage["requests_failed"] == 1 and usage["requests_retried"] == 2
    (row,) = [r for r in read_ledger(Path(result.output)) if r["id"] == "poison"]
    assert row["reason"] == "llm_request_failed"
    assert row["detail"] == "http_500"
    kept = {d["id"] for d in read_output(Path(result.output))}
    assert len(kept) + len(read_ledger(Path(result.output))) == len(docs)

    flagged = {**recipe, "output": str(tmp_path / "flagged")}
    flagged["stages"] = [{"annotate": {**recipe["stages"][0]["annotate"], "on_failure": "flag"}}]
    out = Path(winnow.run(flagged, workers=1).output)
    poison = next(d for d in read_output(out) if d["id"] == "poison")
    assert poison.get("annotate_score") is None
    assert poison["annotate_error"] == "llm_request_failed:http_500"


def test_a_missing_or_refused_key_is_a_clear_error(tmp_path, calm_server, capsys, monkeypatch):
    inputs = write_jsonl(tmp_path / "docs.jsonl", _documents()[:2])
    recipe = _recipe(tmp_path, calm_server.url, inputs, "out")
    os.environ.pop("WINNOW_TEST_LLM_KEY", None)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert "WINNOW_TEST_LLM_KEY is not set" in err and "Traceback" not in err

    monkeypatch.setenv("WINNOW_TEST_LLM_KEY", "WRONG")
    assert main(["run", str(path), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "HTTP 401 unauthorised (check api_key_env)" in err and "Traceback" not in err
    assert "WRONG" not in err
