"""The cost of turns: chat records against plain text of the same bytes (run by hand, not a
test): python bench/chat.py [--docs 100000] [--runs 3]

Records: real paper abstracts and man-page paragraphs as conversations, a third each as
OpenAI messages (a tool call and a tool turn in every fourth), ShareGPT and Alpaca, one in
five with an e-mail or IP address in a user turn or tool-call argument. The plain corpus
holds each record's text view as ``text`` (the same bytes the stages read). Recipe:
``normalize → pii → length_filter(view: response, min_words: 5) → exact_dedup(view:
prompt)`` (plain text: views are the text). Each run is a fresh ``winnow run`` process with
one worker. Prints records/s of each (median of ``runs``) and the ratio.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STAGES = [
    {"normalize": {}},
    {"pii": {}},
    {"length_filter": {"min_words": 5, "view": "response"}},
    {"exact_dedup": {"view": "prompt"}},
]


def _paragraphs() -> list[str]:
    from tests.conftest import corpus_records

    out = []
    for name in ("abstracts", "manpages"):
        for record in corpus_records(name, 40_000 if name == "manpages" else None):
            out += [p for p in record["text"].split("\n\n") if 20 <= len(p.split()) <= 300]
    return out


def _record(i: int, question: str, answer: str, rng: random.Random) -> dict:
    if rng.random() < 0.2:
        question += f" Reply to user{i}@example.com from 93.184.{i % 250}.{i % 199}."
    if i % 3 == 0:
        turns = [{"role": "user", "content": question}]
        if i % 4 == 0:
            args = json.dumps({"query": question[:60], "user": f"u{i}@example.org"})
            call = {
                "id": f"c{i}",
                "type": "function",
                "function": {"name": "search", "arguments": args},
            }
            turns += [
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": f"c{i}", "content": answer[:200]},
            ]
        turns.append({"role": "assistant", "content": answer})
        return {"id": f"r{i}", "messages": turns}
    if i % 3 == 1:
        convo = [{"from": "human", "value": question}, {"from": "gpt", "value": answer}]
        return {"id": f"r{i}", "conversations": convo}
    return {"id": f"r{i}", "instruction": question, "output": answer}


def build(work: Path, docs: int) -> tuple[Path, Path, int]:
    """Chat records and the plain text of their views; returns both paths and the bytes."""
    from winnow.chat.formats import read_chat
    from winnow.chat.view import render

    rng = random.Random(0)
    paragraphs = _paragraphs()
    chat, plain, size = work / "chat.jsonl", work / "plain.jsonl", 0
    with open(chat, "w") as c, open(plain, "w") as p:
        for i in range(docs):
            question = " ".join(rng.choice(paragraphs).split()[:30])
            record = _record(i, question, rng.choice(paragraphs), rng)
            view = render(read_chat(record)[1])
            c.write(json.dumps(record) + "\n")
            p.write(json.dumps({"id": record["id"], "text": view}) + "\n")
            size += len(view.encode())
    return chat, plain, size


def timed_run(work: Path, data: Path, name: str) -> tuple[float, dict]:
    recipe = work / f"{name}.yaml"
    recipe.write_text(yaml.safe_dump({"inputs": [str(data)], "stages": STAGES}))
    out = work / f"out-{name}"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "winnow.cli", "run", str(recipe), "-o", str(out), "--workers", "1"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
    seconds = time.perf_counter() - t0
    return seconds, json.loads((out / "stats.json").read_text())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="winnow-chat-bench-"))
    chat, plain, size = build(work, args.docs)
    print(f"{args.docs:,} records, {size / 1e6:.1f} MB of text views")
    times: dict[str, list[float]] = {"chat": [], "plain": []}
    kept: dict[str, int] = {}
    for _ in range(args.runs):
        for name, data in (("chat", chat), ("plain", plain)):
            seconds, stats = timed_run(work, data, name)
            times[name].append(seconds)
            kept[name] = stats["output_docs"]
    rates = {k: args.docs / statistics.median(v) for k, v in times.items()}
    for name in ("chat", "plain"):
        print(f"{name:>5}: {rates[name]:,.0f} records/s (median of {args.runs}: "
              f"{statistics.median(times[name]):.2f} s)")  # fmt: skip
    print(f"turns overhead: chat runs at {rates['chat'] / rates['plain']:.2f}x plain text's speed")
    print(f"kept: chat {kept['chat']:,}, plain {kept['plain']:,}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
