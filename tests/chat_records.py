"""Chat and agent records in every supported format, built from real paper abstracts, with
planted e-mail addresses, IP addresses, phone numbers, boilerplate lines, a paragraph repeated
across records and turns, and a benchmark question: what text-editing stages must remove."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import orjson

from tests.conftest import corpus_records, write_jsonl

EMAILS = ("jane.doe@example.com", "r.smith@mail.example.org")
IPS = ("8.8.8.8", "93.184.216.34")
PHONES = ("+1 415-555-0132",)
BOILERPLATE = (
    "Click here to subscribe to our newsletter",
    "We use cookies to improve your experience",
)


def _clean(text: str) -> str:
    return text.replace('"', "'").replace("\\", "/")


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=\.) ", text) if len(s) >= 40]


class ChatCorpus:
    """The records and the marker strings planted in them, by kind."""

    def __init__(self) -> None:
        abstracts = [_clean(r["text"]) for r in corpus_records("abstracts", limit=400)]
        abstracts = [a for a in abstracts if len(a.split()) >= 120]
        self.repeated = abstracts[0].split("\n\n")[-1]
        bench_words = abstracts[1].split("\n\n")[-1].split()[:30]
        self.benchmark = " ".join(bench_words)
        self.markers = {
            "email": list(EMAILS),
            "ip": list(IPS),
            "phone": list(PHONES),
            "boilerplate": list(BOILERPLATE),
            "repeated paragraph": _sentences(self.repeated),
            "benchmark": [" ".join(bench_words[i : i + 10]) for i in (0, 10, 20)],
        }
        self.target = abstracts[300:340]
        self.records = self._records(abstracts[2:200])

    def _records(self, pool: list[str]) -> list[dict]:
        e, ip, ph, bp = EMAILS, IPS, PHONES, BOILERPLATE
        out: list[dict] = []
        for k in range(3):
            a = pool[k * 12 : k * 12 + 12]
            args = {"query": a[0][:60], "contact": e[0], "filters": {"host": ip[1], "n": 3}}
            out.append(
                {
                    "id": f"openai-{k}",
                    "lang": "en",
                    "messages": [
                        {"role": "system", "content": "You are a research assistant."},
                        {
                            "role": "user",
                            "content": f"{a[1]}\n\nMy address is {e[0]}, my server {ip[0]}. "
                            f"Call me at {ph[0]}.\n{bp[0]}",
                        },
                        {
                            "role": "assistant",
                            "content": None,
                            "tool_calls": [
                                {
                                    "id": f"call_{k}",
                                    "type": "function",
                                    "function": {
                                        "name": "search_papers",
                                        "arguments": orjson.dumps(args).decode(),
                                    },
                                }
                            ],
                        },
                        {
                            "role": "tool",
                            "tool_call_id": f"call_{k}",
                            "content": f"{a[2]}\n\n{self.repeated}\n{bp[1]}",
                        },
                        {
                            "role": "assistant",
                            "content": [
                                {"type": "text", "text": f"{a[3]} Write to {e[1]}."},
                                {"type": "image_url", "image_url": {"url": "file:fig1.png"}},
                            ],
                            "weight": 1,
                        },
                    ],
                }
            )
            call = {"name": "lookup", "arguments": {"ip": ip[0], "topic": a[4][:40]}}
            out.append(
                {
                    "id": f"sharegpt-{k}",
                    "conversations": [
                        {"from": "system", "value": "Answer from the literature."},
                        {"from": "human", "value": f"{a[5]}\n\n{self.benchmark}? Ask {e[1]}."},
                        {"from": "function_call", "value": orjson.dumps(call).decode()},
                        {"from": "observation", "value": f"{self.repeated}\n\n{a[6]}"},
                        {"from": "gpt", "value": f"{a[7]}\n{bp[0]}"},
                    ],
                    "dataset": "sharegpt-like",
                }
            )
            out.append(
                {
                    "id": f"alpaca-{k}",
                    "instruction": f"Summarise the abstract below. Questions to {e[0]}.",
                    "input": f"{a[8]}\n\n{self.repeated}\n\nPhone: {ph[0]}",
                    "output": f"{a[9]}\n{bp[1]}",
                }
            )
            out.append(
                {
                    "id": f"react-{k}",
                    "question": f"{self.benchmark}?",
                    "steps": [
                        {
                            "thought": f"I should search for it. {a[10][:300]}",
                            "action": "search",
                            "action_input": {"q": a[10][:50], "email": e[0]},
                            "observation": f"{self.repeated}\n\nServer {ip[1]} answered.",
                        },
                        {"thought": "I know enough.", "action": "finish", "action_input": "done"},
                    ],
                    "final_answer": f"{a[11]}\n{bp[0]}",
                }
            )
            out.append(
                {
                    "id": f"pair-{k}",
                    "prompt": f"{self.benchmark}. Reply to {e[1]} or {ph[0]}.",
                    "response": f"{self.repeated}\n\n{a[0]}",
                }
            )
            out.append(
                {
                    "id": f"both-{k}",
                    "text": f"INPUT TEXT FIELD {k} {e[0]}",
                    "messages": [
                        {"role": "user", "content": f"{a[1][:400]} from {ip[0]}"},
                        {"role": "assistant", "content": a[2]},
                    ],
                }
            )
        out += [
            {"id": f"plain-{i}", "text": f"{t}\n\n{self.repeated}"}
            for i, t in enumerate(pool[40:46])
        ]
        return out

    def write(self, folder: Path) -> dict[str, Path]:
        """The records, a benchmark file and a target file under ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        return {
            "records": write_jsonl(folder / "chat.jsonl", self.records),
            "benchmark": write_jsonl(folder / "bench.jsonl", [{"question": self.benchmark}]),
            "target": write_jsonl(folder / "target.jsonl", [{"text": t} for t in self.target]),
        }


def strings(value) -> list[str]:
    """Every string inside a record, tool-call arguments and other JSON text parsed too."""
    if isinstance(value, str):
        out = [value]
        if value[:1] in "[{":
            with contextlib.suppress(orjson.JSONDecodeError):
                out += strings(orjson.loads(value))
        return out
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []
