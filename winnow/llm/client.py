"""Completions for a list of chat requests, through the request cache: concurrent HTTP
requests to a server, or batched generation with a local model. Usage is counted for
``stats.json`` and the data card."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

from winnow.llm.cache import RequestCache, request_key
from winnow.llm.config import LLMConfig
from winnow.llm.http import chat_completion


@dataclass
class Usage:
    """What a stage's requests cost (``stats.json``: ``llm``)."""

    requests_sent: int = 0
    requests_cached: int = 0
    requests_failed: int = 0
    requests_retried: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    over_budget: int = 0
    seconds: float = 0.0

    def add(self, other: Usage) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)

    def to_json(self) -> dict:
        d = asdict(self)
        d["seconds"] = round(d["seconds"], 3)
        return d

    @classmethod
    def from_json(cls, d: dict) -> Usage:
        return cls(**d)


@dataclass(frozen=True)
class Request:
    """One chat request: ``template`` names the prompt template and its version."""

    template: str
    messages: tuple[tuple[str, str], ...]

    def openai(self) -> list[dict]:
        return [{"role": r, "content": c} for r, c in self.messages]


def sampling(config: LLMConfig) -> dict:
    return {"temperature": config.temperature, "max_tokens": config.max_tokens, "seed": config.seed}


def complete(config: LLMConfig, requests: list[Request], share: int = 1) -> tuple[list, Usage]:
    """One answer per request, in order: ``{content, finish_reason}`` or ``{failure}``
    (retries spent). ``share``: how many workers send at once (each sends
    ``max_concurrency / share`` requests at a time)."""
    usage, t0 = Usage(), time.perf_counter()
    cache = RequestCache(config.cache_dir())
    params = sampling(config)
    keys = [request_key(config.model, r.template, r.openai(), params) for r in requests]
    answers: list[dict | None] = [cache.get(k) for k in keys]
    todo = [i for i, a in enumerate(answers) if a is None]
    usage.requests_cached = len(requests) - len(todo)
    if todo and config.local:
        made = _generate_locally(config, [requests[i] for i in todo])
    elif todo:
        made = _ask_server(config, [requests[i] for i in todo], keys, todo, share, usage)
    for i, answer in zip(todo, made if todo else []):
        answers[i] = answer
        if answer.get("failure") is None:
            cache.put(keys[i], answer)
            usage.prompt_tokens += answer["prompt_tokens"]
            usage.completion_tokens += answer["completion_tokens"]
        else:
            usage.requests_failed += 1
    usage.requests_sent = len(todo)
    usage.seconds = time.perf_counter() - t0
    return answers, usage


def _ask_server(config, requests, keys, todo, share, usage) -> list[dict]:
    key = config.api_key()
    params = sampling(config)
    lock = threading.Lock()

    def one(n: int) -> dict:
        payload = {"model": config.model, "messages": requests[n].openai(), **params}
        rng = random.Random(keys[todo[n]])  # backoff jitter, seeded per request
        answer, retries, failure = chat_completion(
            config.base_url, payload, key, config.timeout_s, config.max_retries, rng
        )
        with lock:
            usage.requests_retried += retries
        return answer if answer is not None else {"failure": failure}

    threads = max(1, -(-config.max_concurrency // max(1, share)))
    with ThreadPoolExecutor(max_workers=min(threads, len(requests))) as pool:
        return list(pool.map(one, range(len(requests))))


def _generate_locally(config: LLMConfig, requests: list[Request]) -> list[dict]:
    from winnow.llm.local import local_model

    lm = local_model(config.model, config.device)
    prompts = [lm.prompt_ids(r.openai()) for r in requests]
    return lm.generate(
        prompts, config.max_tokens, config.temperature, config.seed, config.max_concurrency
    )
