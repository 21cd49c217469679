"""Build a small, deterministic demo corpus that exercises every stage.

The prose comes from Python itself: the help topics in ``pydoc_data`` and the docstrings of
the standard library (read with ``ast``, nothing is imported). Faker supplies other
languages and personal data. On top of the clean documents the builder adds exact and
near duplicates, boilerplate, repetitive and short junk, mojibake, PII, chat records and two
malformed lines, so that each stage has something to do.
"""

from __future__ import annotations

import ast
import gzip
import pydoc_data.topics
import random
import sysconfig
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from faker import Faker

LOCALES = ("de_DE", "fr_FR", "es_ES", "it_IT", "pl_PL", "ru_RU", "ja_JP", "zh_CN")
BOILERPLATE = [
    "Home | About | Contact | Privacy policy",
    "We use cookies to improve your experience. Accept all cookies?",
    "Subscribe to our newsletter for weekly updates!",
    "Copyright 2024 Example Corp. All rights reserved.",
    "Share on Twitter | Share on Facebook | Print this page",
]


def stdlib_docstrings(limit: int = 1200, min_words: int = 50) -> list[tuple[str, str]]:
    """``(name, docstring)`` for modules, classes and functions of the standard library."""
    root = Path(sysconfig.get_paths()["stdlib"])
    out: list[tuple[str, str]] = []
    for path in sorted(root.glob("*.py")) + sorted(root.glob("*/*.py")):
        if "test" in path.parts[-2:][0] or path.name.startswith("test"):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue
        nodes = [tree] + [
            n
            for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
        ]
        for node in nodes:
            doc = ast.get_docstring(node)
            if doc and len(doc.split()) >= min_words:
                name = path.stem if node is tree else f"{path.stem}.{node.name}"
                out.append((name, doc))
        if len(out) >= limit:
            break
    return out[:limit]


def _mutate(text: str, rng: random.Random, edits: int) -> str:
    words = text.split(" ")
    for _ in range(edits):
        i = rng.randrange(len(words))
        words[i] = rng.choice(["data", "model", "value", "the", "quickly", "new"])
    return " ".join(words)


def build_corpus(folder: str | Path, seed: int = 0) -> dict[str, int]:
    """Write the demo inputs under ``folder``; returns counts per kind of document."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    fake = Faker(list(LOCALES) + ["en_US"])
    fake.seed_instance(seed)
    docstrings = stdlib_docstrings()
    clean = [
        {"id": f"stdlib-{i}", "text": doc, "meta": {"origin": name}}
        for i, (name, doc) in enumerate(docstrings)
    ]
    web: list[dict] = list(clean)
    counts = {"clean": len(clean)}

    def add(kind: str, text: str, **meta) -> None:
        web.append(
            {"id": f"{kind}-{counts.get(kind, 0)}", "text": text, "meta": {"kind": kind, **meta}}
        )
        counts[kind] = counts.get(kind, 0) + 1

    for doc in rng.sample(clean, 150):
        text = doc["text"] if rng.random() < 0.5 else "  " + doc["text"].upper() + "\n"
        add("exact_dup", text, copy_of=doc["id"])
    for doc in rng.sample(clean, 150):
        add("near_dup", _mutate(doc["text"], rng, 3), copy_of=doc["id"])
    for doc in rng.sample(clean, 100):
        lines = rng.sample(BOILERPLATE, 3)
        add("boilerplate", "\n".join([lines[0], doc["text"], *lines[1:]]))
    for _ in range(60):
        line = rng.choice(BOILERPLATE)
        add("repetitive", "\n".join([line] * rng.randint(20, 60)))
    for _ in range(40):
        add(
            "symbols",
            " ".join(
                rng.choice(["#", "$$", "%%", "&&", "*", "@@", "{}", "=>"]) for _ in range(200)
            ),
        )
    for _ in range(100):
        add("short", fake["en_US"].sentence(nb_words=rng.randint(3, 12)))
    for i in range(240):
        locale = LOCALES[i % len(LOCALES)]
        add("other_language", fake[locale].paragraph(nb_sentences=12), locale=locale)
    for doc in rng.sample(clean, 100):
        f = fake["en_US"]
        pii = f"Contact {f.name()} at {f.email()} or {f.phone_number()} (server {f.ipv4()})."
        add("pii", f"{doc['text']}\n\n{pii}")
    for doc in rng.sample(clean, 50):
        add("mojibake", doc["text"].replace("'", "’").encode("utf-8").decode("latin-1"))
    rng.shuffle(web)
    with gzip.GzipFile(folder / "web.jsonl.gz", "wb", mtime=0) as fh:
        for record in web:
            fh.write(orjson.dumps(record) + b"\n")
        fh.write(b'{"id": "broken-1", "text": "this line was cut off\n')
        fh.write(b'{"id": "broken-2", "text": 42}\n')
    counts["invalid"] = 2

    topics = sorted(pydoc_data.topics.topics.items())
    pq.write_table(
        pa.table(
            {
                "uid": [f"topic-{k}" for k, _ in topics],
                "body": [v for _, v in topics],
                "topic": [k for k, _ in topics],
            }
        ),
        folder / "reference.parquet",
    )
    counts["reference"] = len(topics)

    with open(folder / "chat.jsonl", "wb") as fh:
        for i, (name, doc) in enumerate(rng.sample(docstrings, 200)):
            question = f"What does {name} do in Python?"
            if i % 3 == 0:
                rec = {
                    "messages": [
                        {"role": "user", "content": question},
                        {"role": "assistant", "content": doc},
                    ]
                }
            elif i % 3 == 1:
                rec = {"prompt": question, "response": doc}
            else:
                rec = {
                    "instruction": "Explain this part of the standard library.",
                    "input": name,
                    "output": doc,
                }
            fh.write(orjson.dumps({"id": f"chat-{i}", **rec}) + b"\n")
        for i, record in enumerate(_agent_records(docstrings, rng, fake["en_US"])):
            fh.write(orjson.dumps({"id": f"agent-{i}", **record}) + b"\n")
    counts["chat"] = 200 + 60

    # a "benchmark" whose questions are stretches of 40 corpus documents: decontamination
    # must find them
    picker = random.Random(seed + 1)
    long_docs = [doc for doc in clean if len(doc["text"].split()) >= 80]
    with open(folder / "benchmark.jsonl", "wb") as fh:
        for doc in picker.sample(long_docs, 40):
            words = doc["text"].split()
            at = picker.randrange(0, len(words) - 40)
            item = {"question": " ".join(words[at : at + 30]), "answer": doc["id"]}
            fh.write(orjson.dumps(item) + b"\n")
    counts["benchmark"] = 40
    return counts


def _agent_records(docstrings, rng: random.Random, fake) -> list[dict]:
    """Tool-calling (OpenAI) and ShareGPT conversations whose turns and tool-call arguments
    hold e-mail and IP addresses (``kind: chat_pii``), and a few refused answers. The answers
    are Faker prose: the docstrings hold too much code for the Gopher rules once a tool call
    is added to the view."""
    out = []
    for i, (name, _) in enumerate(rng.sample(docstrings, 60)):
        doc = " ".join(fake.sentence(nb_words=24) for _ in range(10))
        email, ip = fake.email(), fake.ipv4_public()
        question = f"I am {email}, connecting from {ip}. What does {name} do in Python?"
        answer = doc if i % 10 else f"I'm sorry, but I can't help with that. {doc}"
        if i % 2:
            call = {"name": "lookup_docs", "arguments": {"symbol": name, "requester": email}}
            rec = {
                "conversations": [
                    {"from": "human", "value": question},
                    {"from": "function_call", "value": orjson.dumps(call).decode()},
                    {"from": "observation", "value": f"found {name} (served to {ip})"},
                    {"from": "gpt", "value": answer},
                ]
            }
        else:
            args = orjson.dumps({"symbol": name, "notify": email, "client_ip": ip}).decode()
            call = {"id": f"call-{i}", "type": "function"}
            call["function"] = {"name": "lookup_docs", "arguments": args}
            rec = {
                "messages": [
                    {"role": "system", "content": "You answer questions about Python."},
                    {"role": "user", "content": question},
                    {"role": "assistant", "content": None, "tool_calls": [call]},
                    {"role": "tool", "tool_call_id": f"call-{i}", "content": f"found {name}"},
                    {"role": "assistant", "content": answer},
                ]
            }
        out.append({**rec, "kind": "chat_pii"})
    return out


def demo_recipe(folder: str | Path) -> dict:
    """Build the corpus under ``folder/input`` and return the default recipe for it."""
    folder = Path(folder)
    build_corpus(folder / "input")
    return {
        "inputs": [
            str(folder / "input" / "web.jsonl.gz"),
            {
                "path": str(folder / "input" / "reference.parquet"),
                "text_field": "body",
                "id_field": "uid",
            },
            str(folder / "input" / "chat.jsonl"),
        ],
        "output": str(folder / "output"),
        "seed": 0,
        "stages": [
            {"normalize": {}},
            {"line_clean": {}},
            {"length_filter": {"min_words": 50}},
            {"langid": {"languages": ["en"]}},
            {"gopher_quality": {}},
            {"gopher_repetition": {}},
            {"pii": {}},
            {"chat_quality": {}},
            {"toxicity": {}},
            {"token_count": {}},
            {"exact_dedup": {}},
            {"minhash_dedup": {}},
            {"decontaminate": {"benchmarks": [str(folder / "input" / "benchmark.jsonl")]}},
            {"tokenize": {"train_vocab": 8000}},
            {"pack": {"seq_len": 1024, "strategy": "best_fit"}},
            {"portrait": {}},
        ],
        "write": {"format": "jsonl.gz", "shard_docs": 1000},
    }
