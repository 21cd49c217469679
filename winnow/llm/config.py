"""The ``llm:`` block every language-model stage shares."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from winnow.stages.base import Params


class LLMConfig(Params):
    """Where completions come from and how they are asked for.

    ``base_url`` names any OpenAI-compatible chat-completions server (vLLM, SGLang, llama.cpp's
    server, TGI, a hosted API); without it ``model`` is a local model directory, generated with
    Hugging Face ``transformers`` (``pip install 'winnow[llm]'``). ``api_key_env`` names the
    environment variable holding the key: the key itself never enters the recipe, the output
    or a log. Requests are cached under ``cache`` (default ``$WINNOW_CACHE/llm``)."""

    base_url: str | None = None
    model: str
    api_key_env: str | None = None
    max_concurrency: int = Field(8, ge=1)
    """Requests in flight at once, over all workers (the local backend: texts per batch)."""
    timeout_s: float = Field(120.0, gt=0)
    max_retries: int = Field(4, ge=0)
    """Retries of a request that failed (429, 5xx, a timeout, a dropped connection, malformed
    JSON), with exponential backoff and jitter; a ``Retry-After`` header is honoured."""
    temperature: float = Field(0.0, ge=0)
    max_tokens: int = Field(512, ge=1)
    seed: int = 0
    cache: str | None = None
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """The local backend's device (``auto``: a GPU when there is one)."""

    @model_validator(mode="after")
    def _local_model_exists(self) -> LLMConfig:
        if self.base_url is None and not Path(self.model).is_dir():
            raise ValueError(
                f"model: no model directory {self.model!r} (give base_url for a server, or a "
                "local transformers model directory; nothing is downloaded)"
            )
        if self.base_url is not None and not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https:// ({self.base_url!r})")
        return self

    @property
    def local(self) -> bool:
        return self.base_url is None

    def api_key(self) -> str | None:
        """The key, read from the environment when a request is made (never stored)."""
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise ValueError(f"llm.api_key_env: environment variable {self.api_key_env} is not set")
        return key

    def cache_dir(self) -> Path:
        if self.cache is not None:
            return Path(self.cache)
        root = os.environ.get("WINNOW_CACHE") or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "winnow"
        )
        return Path(root) / "llm"
