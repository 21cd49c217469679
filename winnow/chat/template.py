"""Chat templates: a conversation rendered as the string a model is trained on, with the
character spans of that string that are trained on (the assistant's part).

Two kinds:

- ``chatml`` (shipped, implemented here in Python): every turn is
  ``<|im_start|>ROLE\\nBODY<|im_end|>\\n``. BODY is the turn's text (a string content, or its
  text content parts joined by a blank line; other parts left out); an assistant's tool
  calls follow its text (after a newline), each as
  ``<tool_call>\\n{"name": NAME, "arguments": ARGUMENTS}\\n</tool_call>`` (Hermes/Qwen style;
  name and arguments written as a template's ``tojson`` writes them), one per line. Other
  roles (``developer``, ``tool``, ``function``) keep their name in the header. Trained spans:
  each assistant turn's BODY and its ``<|im_end|>``, never the role header or the newline
  after the turn. ``CHATML_JINJA`` is the same as a Hugging Face template.
- a Hugging Face Jinja template (``chat_template`` of a ``tokenizer_config.json``, or a
  ``chat_template.jinja`` beside it), rendered as ``transformers`` renders it: a sandboxed
  ``jinja2`` environment (``ImmutableSandboxedEnvironment``, ``trim_blocks``,
  ``lstrip_blocks``, ``loopcontrols``, ``tojson``, ``raise_exception``, ``strftime_now``, which
  renders the fixed ``TEMPLATE_DATE`` so that tokens do not depend on the day of the run),
  the config's special tokens (``bos_token``, ``eos_token``, ...) as variables, messages with
  text content parts joined and tool-call arguments parsed into objects. Trained spans, in
  order of preference: the template's ``{% generation %}...{% endgeneration %}`` blocks (the
  ``transformers`` convention for assistant masks); else, for each assistant turn, what the
  conversation up to and including that turn adds to the prompt before it rendered with
  ``add_generation_prompt=True`` (the turn's text and its end-of-turn marker), trailing
  whitespace left out; else, when the template does not render conversations as prefixes of
  each other, each assistant turn's text found in the rendering, in order (no end-of-turn
  marker).

``token_mask`` turns character spans into a per-token mask from the tokenizer's offsets of
the whole rendered string.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from winnow.chat.view import Turn, text_parts

IM_START, IM_END = "<|im_start|>", "<|im_end|>"
CHATML_TOKENS = (IM_START, IM_END)
TEMPLATE_DATE = datetime(2024, 7, 26)
"""The date ``strftime_now`` gives templates (Llama 3.1's own default ``date_string``)."""


@dataclass(frozen=True)
class Rendered:
    """A rendered conversation: ``text``, the ``[start, end)`` character ``spans`` trained on,
    and whether the last turn is the assistant's (an end-of-text token after it is trained)."""

    text: str
    spans: tuple[tuple[int, int], ...]
    ends_trained: bool


def turn_text(turn: Turn) -> str:
    """A turn's text: a string content, or its text content parts joined by a blank line."""
    return "\n\n".join(text for text, _ in text_parts(turn))


def _tojson(value: Any) -> str:
    """JSON as chat templates write it (``tojson``: Python's separators, no ASCII escapes)."""
    return json.dumps(value, ensure_ascii=False)


def _last_is_assistant(turns: Sequence[Turn]) -> bool:
    return bool(turns) and turns[-1].get("role") == "assistant"


def render_chatml(turns: Sequence[Turn]) -> Rendered:
    """The ChatML rendering of a conversation and its assistant spans."""
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    at = 0
    for turn in turns:
        role = turn["role"]
        body = turn_text(turn)
        calls = [
            '<tool_call>\n{"name": '
            + _tojson(call["function"]["name"])
            + ', "arguments": '
            + _tojson(orjson.loads(call["function"].get("arguments") or "{}"))
            + "}\n</tool_call>"
            for call in turn.get("tool_calls") or ()
        ]
        if calls:
            body = "\n".join([body, *calls] if body else calls)
        header = f"{IM_START}{role}\n"
        piece = f"{header}{body}{IM_END}\n"
        if role == "assistant":
            spans.append((at + len(header), at + len(piece) - 1))
        out.append(piece)
        at += len(piece)
    return Rendered("".join(out), tuple(spans), _last_is_assistant(turns))


CHATML_JINJA = (
    "{%- macro body(message) -%}\n"
    "{%- if message['content'] is string -%}{{ message['content'] }}{%- endif -%}\n"
    "{%- for call in message['tool_calls'] or [] -%}\n"
    "{%- if not loop.first or message['content'] -%}{{ '\\n' }}{%- endif -%}\n"
    "{{ '<tool_call>\\n{\"name\": ' + call['function']['name'] | tojson"
    " + ', \"arguments\": ' + call['function']['arguments'] | tojson + '}\\n</tool_call>' }}\n"
    "{%- endfor -%}\n"
    "{%- endmacro -%}\n"
    "{%- for message in messages -%}\n"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}\n"
    "{%- if message['role'] == 'assistant' -%}\n"
    "{% generation %}{{ body(message) + '<|im_end|>' }}{% endgeneration %}{{ '\\n' }}\n"
    "{%- else -%}\n"
    "{{ body(message) + '<|im_end|>\\n' }}\n"
    "{%- endif -%}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}\n"
)
"""``render_chatml`` as a Hugging Face chat template (with ``{% generation %}`` blocks), written
into the ``tokenizer_config.json`` that ``tokenize`` saves beside a tokenizer it trained."""


# -- Hugging Face Jinja templates ---------------------------------------------------------


def read_tokenizer_config(path: str | Path) -> tuple[str, dict[str, str]]:
    """The chat template of a ``tokenizer_config.json`` (its ``chat_template``, the ``default``
    one of a list of named templates, or a ``chat_template.jinja`` beside it) and its special
    tokens (``bos_token``, ``eos_token``, ... as strings)."""
    path = Path(path)
    config = json.loads(path.read_text(encoding="utf-8"))
    template = config.get("chat_template")
    if isinstance(template, list):  # [{"name": ..., "template": ...}]
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = named.get("default", next(iter(named.values()), None))
    if template is None and (path.parent / "chat_template.jinja").is_file():
        template = (path.parent / "chat_template.jinja").read_text(encoding="utf-8")
    if not isinstance(template, str) or not template:
        raise ValueError(f"{path}: no chat_template (nor chat_template.jinja beside it)")
    special = {}
    for key, value in config.items():
        if key.endswith("_token"):
            if isinstance(value, dict):  # a serialised AddedToken
                value = value.get("content")
            if isinstance(value, str):
                special[key] = value
    return template, special


def config_special_tokens(path: str | Path) -> list[str]:
    """Every special token a ``tokenizer_config.json`` names (its ``*_token`` values and its
    ``added_tokens_decoder`` entries marked special), for a tokenizer trained to match it."""
    config = json.loads(Path(path).read_text(encoding="utf-8"))
    tokens = list(read_tokenizer_config(path)[1].values())
    for entry in (config.get("added_tokens_decoder") or {}).values():
        if isinstance(entry, dict) and entry.get("special", True) and entry.get("content"):
            tokens.append(entry["content"])
    tokens += [t for t in config.get("additional_special_tokens") or () if isinstance(t, str)]
    return list(dict.fromkeys(tokens))


_TRACKING: ContextVar[tuple[list[str], list[tuple[int, int]]] | None] = ContextVar(
    "winnow_generation_tracking", default=None
)


@lru_cache(maxsize=8)
def _compile(source: str):
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Generation(jinja2.ext.Extension):
        """``{% generation %}...{% endgeneration %}``: records where its output lands."""

        tags = {"generation"}

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            call = self.call_method("_track", [])
            return jinja2.nodes.CallBlock(call, [], [], body).set_lineno(lineno)

        def _track(self, caller) -> str:
            text = caller()
            tracking = _TRACKING.get()
            if tracking is not None:
                blocks, spans = tracking
                start = sum(map(len, blocks))
                spans.append((start, start + len(text)))
            return text

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(
            x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
        )

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[Generation, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: TEMPLATE_DATE.strftime(fmt)
    return env.from_string(source), "generation" in source


def _template_message(turn: Turn) -> dict[str, Any]:
    """A turn as a chat template expects it: no private keys, text parts joined, tool-call
    arguments as objects."""
    out = {k: v for k, v in turn.items() if not k.startswith("_")}
    if isinstance(out.get("content"), list):
        out["content"] = turn_text(turn)
    if out.get("tool_calls"):
        calls = []
        for call in out["tool_calls"]:
            fn = dict(call["function"])
            if isinstance(fn.get("arguments"), str):
                fn["arguments"] = orjson.loads(fn["arguments"] or "{}")
            calls.append({**call, "function": fn})
        out["tool_calls"] = calls
    return out


class JinjaTemplate:
    """A Hugging Face chat template (Jinja source) and the special tokens it may use."""

    def __init__(self, source: str, special_tokens: dict[str, str] | None = None) -> None:
        self.source = source
        self.special_tokens = dict(special_tokens or {})
        self.template, self.has_generation = _compile(source)

    @classmethod
    def from_config(cls, path: str | Path) -> JinjaTemplate:
        return cls(*read_tokenizer_config(path))

    def text(self, messages: list[dict], add_generation_prompt: bool = False) -> str:
        return self.template.render(
            messages=messages, add_generation_prompt=add_generation_prompt, **self.special_tokens
        )

    def _tracked(self, messages: list[dict]) -> tuple[str, list[tuple[int, int]]]:
        blocks: list[str] = []
        spans: list[tuple[int, int]] = []
        token = _TRACKING.set((blocks, spans))
        try:
            for block in self.template.generate(
                messages=messages, add_generation_prompt=False, **self.special_tokens
            ):
                blocks.append(block)
        finally:
            _TRACKING.reset(token)
        return "".join(blocks), spans

    def render(self, turns: Sequence[Turn]) -> Rendered:
        """The rendering of a conversation and its trained spans (see the module docstring)."""
        messages = [_template_message(t) for t in turns]
        if self.has_generation:
            text, spans = self._tracked(messages)
            if spans:
                return Rendered(text, _merge(spans), _last_is_assistant(turns))
        else:
            text = self.text(messages)
        spans = self._prefix_spans(messages, text)
        if spans is None:
            spans = self._found_spans(turns, text)
        return Rendered(text, _merge(spans), _last_is_assistant(turns))

    def _prefix_spans(self, messages: list[dict], text: str) -> list[tuple[int, int]] | None:
        spans = []
        for k, message in enumerate(messages):
            if message.get("role") != "assistant":
                continue
            try:
                prompt = self.text(messages[:k], add_generation_prompt=True)
                upto = self.text(messages[: k + 1]) if k + 1 < len(messages) else text
            except Exception:  # a template that refuses a partial conversation
                return None
            if not (text.startswith(upto) and upto.startswith(prompt)):
                return None
            spans.append((len(prompt), len(upto.rstrip())))
        return spans

    @staticmethod
    def _found_spans(turns: Sequence[Turn], text: str) -> list[tuple[int, int]]:
        spans, at = [], 0
        for turn in turns:
            body = turn_text(turn) if turn.get("role") == "assistant" else ""
            if body and (found := text.find(body, at)) >= 0:
                spans.append((found, found + len(body)))
                at = found + len(body)
        return spans


def _merge(spans: Sequence[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    return tuple((a, b) for a, b in sorted(spans) if b > a)


def chat_template(kind: str, config: str | Path | None = None):
    """The renderer of a ``chat_template`` parameter: a ``turns -> Rendered`` callable."""
    if kind == "chatml":
        return render_chatml
    if kind == "tokenizer":
        if config is None:
            raise ValueError("chat_template: tokenizer needs a tokenizer_config.json")
        return JinjaTemplate.from_config(config).render
    raise ValueError(f"unknown chat_template {kind!r} (known: chatml, tokenizer)")


def token_mask(offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]],
               n_chars: int) -> np.ndarray:  # fmt: skip
    """True for every token whose characters ``[start, end)`` (the tokenizer's offsets into
    the whole rendered string) overlap a trained span; a token with no characters is trained
    when the character at its position is. A token that a BPE merge carries across a span's
    edge is trained (it holds trained text)."""
    if not len(offsets):
        return np.zeros(0, dtype=bool)
    edges = np.zeros(n_chars + 1, dtype=np.int64)
    for a, b in spans:
        edges[a] += 1
        edges[b] -= 1
    trained = np.append(np.cumsum(edges)[:n_chars] > 0, False)  # per character (+ past end)
    before = np.concatenate([[0], np.cumsum(trained[:n_chars])])  # trained among the first i
    start, end = np.asarray(offsets, dtype=np.int64).reshape(-1, 2).T
    return np.where(end > start, before[end] - before[start] > 0, trained[start])
