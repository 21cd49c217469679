"""A causal language model from a local directory (Hugging Face ``transformers``, CPU or
GPU): batched generation for the ``llm:`` block, and token log-probabilities for
``lm_score``. Nothing is downloaded (``local_files_only``); batches are formed by length, so
little padding is computed."""

from __future__ import annotations

import os
from functools import cache

import numpy as np

from winnow.extras import require


@cache
def local_model(path: str, device: str = "auto") -> LocalLM:
    """One model per process and directory (a worker's tasks share it)."""
    return LocalLM(path, device)


class LocalLM:
    def __init__(self, path: str, device: str = "auto") -> None:
        torch = require("torch", "llm", "a local language model")
        transformers = require("transformers", "llm", "a local language model")
        threads = os.environ.get("WINNOW_WORKER_THREADS")
        if threads:
            torch.set_num_threads(int(threads))
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.torch, self.device = torch, device
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = transformers.AutoModelForCausalLM.from_pretrained(
            path, local_files_only=True
        ).to(device)
        self.model.eval()
        self.max_length = int(getattr(self.model.config, "max_position_embeddings", 2048))

    def prompt_ids(self, messages: list[dict]) -> list[int]:
        """The model's chat template over ``messages`` with the assistant turn opened (a
        tokenizer without one: ``role: content`` blocks and ``assistant:``)."""
        tok = self.tokenizer
        if tok.chat_template:
            text = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            return tok(text, add_special_tokens=False)["input_ids"]
        text = "".join(f"{m['role']}: {m['content']}\n\n" for m in messages) + "assistant:"
        return tok(text)["input_ids"]

    def generate(
        self, prompts: list[list[int]], max_tokens: int, temperature: float, seed: int, batch: int
    ) -> list[dict]:
        """Completions of token-id prompts: content, finish reason (``length`` when cut at
        ``max_tokens``) and token counts; prompts of similar length share a batch."""
        torch, tok = self.torch, self.tokenizer
        out: list[dict | None] = [None] * len(prompts)
        order = sorted(range(len(prompts)), key=lambda i: (len(prompts[i]), i))
        room = max(1, self.max_length - max_tokens)
        for lo in range(0, len(order), batch):
            chunk = order[lo : lo + batch]
            rows = [prompts[i][-room:] for i in chunk]
            width = max(len(r) for r in rows)
            ids = torch.full((len(rows), width), tok.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for j, r in enumerate(rows):  # left padding: every prompt ends where generation starts
                ids[j, width - len(r) :] = torch.tensor(r)
                mask[j, width - len(r) :] = 1
            torch.manual_seed(seed + lo)  # sampling: the same batches draw the same
            with torch.no_grad():
                made = self.model.generate(
                    input_ids=ids.to(self.device),
                    attention_mask=mask.to(self.device),
                    max_new_tokens=max_tokens,
                    do_sample=temperature > 0,
                    temperature=temperature if temperature > 0 else None,
                    top_p=None,
                    top_k=None,
                    pad_token_id=tok.pad_token_id,
                    eos_token_id=tok.eos_token_id,
                )
            for j, i in enumerate(chunk):
                new = made[j, width:].tolist()
                stop = tok.eos_token_id
                finished = stop in new
                new = new[: new.index(stop)] if finished else new
                out[i] = {
                    "content": tok.decode(new, skip_special_tokens=True),
                    "finish_reason": "stop" if finished or len(new) < max_tokens else "length",
                    "prompt_tokens": len(rows[j]),
                    "completion_tokens": len(new) + int(finished),
                }
        return out  # type: ignore[return-value]

    def token_ids(self, texts: list[str], max_length: int) -> list[list[int]]:
        """Token ids of each text as the model reads it (with the tokenizer's special
        tokens), cut at ``max_length``."""
        ids = self.tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
        return [list(x) for x in ids]

    def logprobs(self, rows: list[list[int]], batch: int) -> list[np.ndarray]:
        """log p(token i | tokens < i) for i = 1..n-1 of each row (right padding; rows of
        similar length share a batch)."""
        torch = self.torch
        out: list[np.ndarray | None] = [None] * len(rows)
        order = sorted(range(len(rows)), key=lambda i: (len(rows[i]), i))
        pad = self.tokenizer.pad_token_id
        for lo in range(0, len(order), batch):
            chunk = order[lo : lo + batch]
            width = max(len(rows[i]) for i in chunk)
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for j, i in enumerate(chunk):
                ids[j, : len(rows[i])] = torch.tensor(rows[i])
                mask[j, : len(rows[i])] = 1
            with torch.no_grad():
                logits = self.model(
                    input_ids=ids.to(self.device), attention_mask=mask.to(self.device)
                ).logits.float()
            logp = torch.log_softmax(logits[:, :-1], dim=-1)
            picked = logp.gather(2, ids[:, 1:].to(self.device).unsqueeze(-1)).squeeze(-1)
            picked = picked.cpu().numpy().astype(np.float64)
            for j, i in enumerate(chunk):
                out[i] = picked[j, : max(0, len(rows[i]) - 1)]
        return out  # type: ignore[return-value]
