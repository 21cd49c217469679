"""A small OpenAI-compatible chat-completions server over a local model directory (winnow's
local backend generating with ``transformers``), for the HTTP backend's tests, with faults
injected on purpose:

- ``--faults 429,500,stall,malformed,drop``: the first requests, in that order, get a 429
  with ``Retry-After: 1``, a 500, a response stalled past the client's timeout, malformed
  JSON and a dropped connection; every later request is answered;
- a request whose prompt holds ``ALWAYS-500`` always gets a 500;
- the key ``WRONG`` gets a 401.

``GET /stats`` returns how many completions it generated and how many requests it got.
Run: ``python tests/llm_server.py MODEL_DIR --port 0``; it prints ``PORT <n>`` when ready."""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from winnow.llm.local import LocalLM

STALL_S = 4.0


class State:
    def __init__(self, model: LocalLM, faults: list[str]) -> None:
        self.model, self.faults = model, faults
        self.lock = threading.Lock()
        self.requests = 0
        self.generated = 0

    def next_fault(self) -> str | None:
        with self.lock:
            self.requests += 1
            return self.faults.pop(0) if self.faults else None


def handler(state: State):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def _send(self, code: int, body: bytes, headers: dict | None = None) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            body = {"requests": state.requests, "generated": state.generated}
            self._send(200, json.dumps(body).encode())

        def do_POST(self) -> None:
            payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.headers.get("Authorization") == "Bearer WRONG":
                return self._send(401, b'{"error": "bad key"}')
            fault = state.next_fault()
            prompt = json.dumps(payload["messages"])
            if fault == "429":
                return self._send(429, b'{"error": "slow down"}', {"Retry-After": "1"})
            if fault == "500" or "ALWAYS-500" in prompt:
                return self._send(500, b'{"error": "boom"}')
            if fault == "stall":  # the client has given up by the time this is sent
                time.sleep(STALL_S)
                try:
                    return self._send(503, b'{"error": "late"}')
                except OSError:
                    return None
            if fault == "malformed":
                return self._send(200, b'{"choices": [{"message": ')
            if fault == "drop":
                self.close_connection = True
                self.connection.shutdown(2)
                return None
            with state.lock:
                ids = state.model.prompt_ids(payload["messages"])
                (answer,) = state.model.generate(
                    [ids], int(payload.get("max_tokens", 64)),
                    float(payload.get("temperature", 0)), int(payload.get("seed", 0)), 1,
                )  # fmt: skip
                state.generated += 1
            body = {
                "id": f"cmpl-{state.generated}",
                "object": "chat.completion",
                "model": payload["model"],
                "choices": [{"index": 0, "finish_reason": answer["finish_reason"],
                             "message": {"role": "assistant", "content": answer["content"]}}],
                "usage": {"prompt_tokens": answer["prompt_tokens"],
                          "completion_tokens": answer["completion_tokens"],
                          "total_tokens": answer["prompt_tokens"] + answer["completion_tokens"]},
            }  # fmt: skip
            return self._send(200, json.dumps(body).encode())

    return Handler


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--faults", default="")
    args = ap.parse_args()
    state = State(LocalLM(args.model, "cpu"), [f for f in args.faults.split(",") if f])
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler(state))
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
