"""One chat completion from an OpenAI-compatible server (stdlib HTTP: nothing to install),
retried with exponential backoff and jitter; ``Retry-After`` is honoured."""

from __future__ import annotations

import email.utils
import http.client
import random
import time
import urllib.error
import urllib.request

import orjson

RETRYABLE = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
FATAL = {401: "unauthorised (check api_key_env)", 403: "forbidden (check api_key_env)",
         404: "not found (check base_url and model)"}  # fmt: skip
BACKOFF_S = 0.5
MAX_WAIT_S = 120.0


class ServerRefused(ValueError):
    """The server refuses every request (a wrong key, URL or model): the run stops."""


class Attempt(Exception):
    """One failed attempt: ``kind`` names it, ``wait`` is the server's Retry-After."""

    def __init__(self, kind: str, retry: bool, wait: float | None = None) -> None:
        super().__init__(kind)
        self.kind, self.retry, self.wait = kind, retry, wait


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time()) if when else None


def _once(url: str, body: bytes, headers: dict, timeout: float) -> dict:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as err:
        if err.code in FATAL:
            raise ServerRefused(f"{url}: HTTP {err.code} {FATAL[err.code]}") from None
        wait = _retry_after(err.headers.get("Retry-After")) if err.headers else None
        raise Attempt(f"http_{err.code}", err.code in RETRYABLE, wait) from None
    except TimeoutError:
        raise Attempt("timeout", True) from None
    except (http.client.HTTPException, ConnectionError, urllib.error.URLError, OSError):
        raise Attempt("connection", True) from None
    try:
        answer = orjson.loads(raw)
        choice = answer["choices"][0]
        content = choice["message"].get("content")
        return {
            "content": content if isinstance(content, str) else "",
            "finish_reason": choice.get("finish_reason") or "stop",
            "prompt_tokens": int((answer.get("usage") or {}).get("prompt_tokens") or 0),
            "completion_tokens": int((answer.get("usage") or {}).get("completion_tokens") or 0),
        }
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError, ValueError):
        raise Attempt("malformed_response", True) from None


def chat_completion(
    base_url: str, payload: dict, api_key: str | None, timeout: float, max_retries: int,
    rng: random.Random,
) -> tuple[dict | None, int, str | None]:  # fmt: skip
    """``(answer, retries, failure)``: the answer's content, finish reason and token usage, or
    None and the last failure's kind once ``max_retries`` retries are spent."""
    url = base_url.rstrip("/") + "/chat/completions"
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    body = orjson.dumps(payload)
    failure = None
    for attempt in range(max_retries + 1):
        try:
            return _once(url, body, headers, timeout), attempt, None
        except Attempt as err:
            failure = err.kind
            if not err.retry or attempt == max_retries:
                return None, attempt, failure
            backoff = BACKOFF_S * 2**attempt * (0.5 + rng.random())
            time.sleep(min(MAX_WAIT_S, err.wait if err.wait is not None else backoff))
    return None, max_retries, failure
