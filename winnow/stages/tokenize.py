"""``tokenize``: token ids of every document with a Hugging Face ``tokenizers`` tokenizer:
a ``tokenizer.json`` (``tokenizer:``) or a byte-level BPE trained on the documents
themselves (``train_vocab:``, so nothing is downloaded). Adds ``tokens`` (list<uint32>,
closed by the end-of-text token unless ``add_eos: false``) and ``n_tokens``.

Chat records, training-ready (``chat_template:``; default null: every row's tokens are those
of its ``text``, chat rows included, as before):

- ``chat_template: chatml``: chat rows are tokenized as their ChatML rendering
  (``<|im_start|>ROLE\n...<|im_end|>\n`` per turn, tool calls as ``<tool_call>`` JSON;
  ``winnow.chat.template``). A trained BPE gets ``<|im_start|>`` and ``<|im_end|>`` as
  special tokens; a given ``tokenizer.json`` must already have each as one token.
- ``chat_template: tokenizer``: the Hugging Face Jinja ``chat_template`` of
  ``tokenizer_config:`` (default: the ``tokenizer_config.json`` beside ``tokenizer:``), with
  its special tokens (``bos_token``, ``eos_token``, ...), rendered in a sandboxed ``jinja2``
  environment as ``transformers`` does. A trained BPE gets every special token the config
  names. Templates often close assistant turns with their own end token: set ``add_eos``
  and ``eos_token`` to match.

With a template the stage also writes ``loss_mask`` (list<bool>, one per token): true on the
tokens of assistant turns (their text, tool calls and end-of-turn marker), false on role
headers, system, user and tool turns. The rendered string is encoded once and each token is
trained when its characters (the tokenizer's offsets) overlap an assistant span, so the mask
follows BPE merges across a span's edge (a token that merges a header's newline with the
answer's first character is trained). Plain rows are tokenized as today and trained on
every token; the end-of-text token is trained on plain rows and, on chat rows, when the last
turn is the assistant's. A template that refuses a conversation stops the stage, naming the
row.

Where it runs: a given tokenizer without a template is per-batch work (``process``) on every
worker, no barrier. Otherwise it is a corpus stage whose reduce, on the driver, loads or
trains the tokenizer (trained on up to ``train_docs`` documents spread evenly over the
corpus, streamed into ``tokenizers``' trainer shard by shard and batch by batch: memory is
one batch of text plus the trainer's word counts), saves it as ``tokenizer.json`` with the
run (``artifacts/``; with a template, also a ``tokenizer_config.json`` holding it, so the
saved tokenizer renders conversations the same way) and hands tokenizer and template to
every worker in the decision table's metadata; the encoding itself runs in ``apply``, in the
shard tasks, on every worker.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterable, Iterator, Sequence
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import Field, model_validator

from winnow.chat.edits import loads
from winnow.chat.template import (
    CHATML_JINJA,
    CHATML_TOKENS,
    JinjaTemplate,
    config_special_tokens,
    read_tokenizer_config,
    render_chatml,
    token_mask,
)
from winnow.stages.base import (
    DROPS_SCHEMA,
    CorpusStage,
    ExampleFiles,
    Params,
    RowResult,
    RunContext,
    ShardColumns,
    register,
)

EOT = "<|endoftext|>"
_KEY = b"winnow.tokenizer"
_TEMPLATE_KEY = b"winnow.chat_template"


class TokenizeParams(Params):
    tokenizer: str | None = None
    """A Hugging Face tokenizer.json."""
    train_vocab: int | None = Field(None, ge=300)
    """Train a byte-level BPE of this vocabulary size on the documents instead."""
    train_docs: int = Field(100_000, ge=1)
    add_eos: bool = True
    eos_token: str = EOT
    chat_template: Literal["chatml", "tokenizer"] | None = None
    """Tokenize chat rows as a templated conversation and add ``loss_mask``: ``chatml``, or
    ``tokenizer`` (the Jinja ``chat_template`` of ``tokenizer_config``). Null: ``text``."""
    tokenizer_config: str | None = None
    """The tokenizer_config.json of ``chat_template: tokenizer`` (default: the one beside
    ``tokenizer``)."""

    @model_validator(mode="after")
    def _one_source(self) -> TokenizeParams:
        if (self.tokenizer is None) == (self.train_vocab is None):
            raise ValueError("give tokenizer (a tokenizer.json) or train_vocab, not both")
        if self.tokenizer is not None and not Path(self.tokenizer).is_file():
            raise ValueError(f"tokenizer: no such file {self.tokenizer!r}")
        if self.tokenizer_config is not None and self.chat_template != "tokenizer":
            raise ValueError("tokenizer_config is read only with chat_template: tokenizer")
        if self.chat_template == "tokenizer":
            config = self.config_path
            if config is None:
                raise ValueError("chat_template: tokenizer with train_vocab needs tokenizer_config")
            if not config.is_file():
                raise ValueError(f"chat_template: tokenizer: no such file {str(config)!r}")
        return self

    @property
    def config_path(self) -> Path | None:
        if self.tokenizer_config is not None:
            return Path(self.tokenizer_config)
        if self.tokenizer is not None:
            return Path(self.tokenizer).parent / "tokenizer_config.json"
        return None


@register
class Tokenize(CorpusStage):
    """Token ids of each document (Hugging Face tokenizers)."""

    name = "tokenize"
    makes = ("tokens", "n_tokens")
    ParamsModel = TokenizeParams
    reads = ("tokenizer",)
    summary = "token ids with a tokenizer.json, or a byte-level BPE trained on the data"
    origin = "Hugging Face tokenizers; byte-level BPE (Radford et al. 2019)"

    @classmethod
    def examples(cls, files: ExampleFiles) -> list[dict]:
        return [{"train_vocab": 300}, {"train_vocab": 300, "chat_template": "chatml"}]

    @property
    def barrier(self) -> bool:
        """A given tokenizer without a chat template is per-batch work on every worker; a
        trained one needs the corpus, and a template's config is saved with the run."""
        return self.params.tokenizer is None or self.params.chat_template is not None

    @cached_property
    def _given_state(self) -> pa.Table:
        return self._state(self._given_tokenizer())

    def process(self, batch: pa.RecordBatch) -> RowResult:
        return self.apply(batch, 0, self._given_state)

    def _given_tokenizer(self) -> str:
        p = self.params
        text = Path(p.tokenizer).read_text(encoding="utf-8")
        tokenizer = _tokenizer(text)  # fails here, once, if the file is not a tokenizer
        if p.chat_template == "chatml":
            for marker in CHATML_TOKENS:
                if len(tokenizer.encode(marker, add_special_tokens=False).ids) != 1:
                    raise ValueError(f"chat_template: chatml: the tokenizer has no token "
                                     f"{marker!r} (train_vocab adds it)")  # fmt: skip
        return text

    def _state(self, text: str) -> pa.Table:
        """What ``apply`` needs, in a table's metadata: the tokenizer and the template."""
        template = _template_spec(self.params)
        _renderer(json.dumps(template))  # a template that does not compile fails here
        metadata = {_KEY: text.encode("utf-8")}
        if self.params.chat_template is not None:
            metadata[_TEMPLATE_KEY] = json.dumps(template).encode("utf-8")
        return DROPS_SCHEMA.with_metadata(metadata).empty_table()

    def map(self, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        return {}

    def reduce(self, shards: Sequence[ShardColumns], run: RunContext) -> list[pa.Table]:
        p = self.params
        if p.tokenizer is not None:
            text = self._given_tokenizer()
        else:
            special = [p.eos_token, *_template_spec(p)["special_tokens"]]
            sizes = [load.rows for load in shards]
            chosen = _sample_rows(sizes, p.train_docs)
            texts = _sample_texts(shards, chosen, sizes)  # streamed into the trainer
            text = train_bpe(texts, p.train_vocab, special, length=len(chosen))
        state = self._state(text)
        if run.artifacts is not None:
            run.artifacts.mkdir(parents=True, exist_ok=True)
            (run.artifacts / "tokenizer.json").write_text(text, encoding="utf-8")
            if p.chat_template == "tokenizer":  # the config the template came from
                config = p.config_path.read_text(encoding="utf-8")
            elif p.chat_template == "chatml":  # loads with transformers' AutoTokenizer
                config = json.dumps({"tokenizer_class": "PreTrainedTokenizerFast",
                                     "eos_token": p.eos_token, "chat_template": CHATML_JINJA},
                                    indent=2)  # fmt: skip
            if p.chat_template is not None:
                (run.artifacts / "tokenizer_config.json").write_text(config, encoding="utf-8")
        return [state for _ in shards]

    def apply(self, batch: pa.RecordBatch, offset: int, decisions: pa.Table) -> RowResult:
        """Encodes the batch on the worker that holds it: one ``encode_batch_fast`` call for
        the plain rows, the ids gathered into one uint32 buffer with numpy offsets (no
        per-token Python work) and the end-of-text ids inserted at the documents' ends in
        one pass."""
        p = self.params
        n = batch.num_rows
        rows: list = []  # each row's Encoding
        chat_masks: dict[int, np.ndarray] = {}
        ends = np.ones(n, dtype=bool)  # the end-of-text token is trained
        eos = None
        if n:
            metadata = decisions.schema.metadata
            tokenizer = _tokenizer_of(metadata[_KEY])
            column = batch.column("text")
            texts = column.to_pylist()
            if column.null_count:
                texts = [t or "" for t in texts]
            chats: list[str | None] = []
            if p.chat_template is not None and "messages" in batch.schema.names:
                messages = batch.column("messages")
                if messages.null_count < n:
                    chats = messages.to_pylist()
            encode = getattr(tokenizer, "encode_batch_fast", tokenizer.encode_batch)
            if not chats:  # every row is its text: one call
                rows = encode(texts, add_special_tokens=False)
            else:
                rows = [None] * n
                plain = [i for i, c in enumerate(chats) if c is None]
                for i, e in zip(plain, encode([texts[i] for i in plain], add_special_tokens=False)):
                    rows[i] = e
                chat = [i for i, c in enumerate(chats) if c is not None]
                render = _renderer(metadata[_TEMPLATE_KEY].decode("utf-8"))
                rendered = []
                row_ids = batch.column("id").to_pylist() if "id" in batch.schema.names else None
                for i in chat:
                    try:
                        rendered.append(render(loads(chats[i])))
                    except Exception as err:  # jinja2's TemplateError, a malformed turn
                        row = row_ids[i] if row_ids else offset + i
                        raise ValueError(f"chat_template cannot render {row!r}: {err}") from err
                encoded = tokenizer.encode_batch([r.text for r in rendered],
                                                 add_special_tokens=False)  # fmt: skip
                for i, r, e in zip(chat, rendered, encoded):
                    rows[i] = e
                    chat_masks[i] = token_mask(e.offsets, r.spans, len(r.text))
                    ends[i] = r.ends_trained
            if p.add_eos:
                eos = tokenizer.token_to_id(p.eos_token)
                if eos is None:
                    raise ValueError(f"the tokenizer has no token {p.eos_token!r}")
        lengths = np.fromiter(map(len, rows), np.int64, n)
        flat = array("I")  # C unsigned int: every token id fits
        extend = flat.extend
        for e in rows:  # the one Python step per row: its ids, appended in C
            extend(e.ids)
        ids = np.frombuffer(flat, dtype=np.uint32)
        bits = None
        if p.chat_template is not None:
            bits = np.ones(len(ids), dtype=bool)  # plain rows: every token is trained
            if chat_masks:
                starts = np.cumsum(lengths) - lengths
                for i, mask in chat_masks.items():
                    bits[starts[i] : starts[i] + lengths[i]] = mask
        if eos is not None:  # one end-of-text id after each document
            at = np.cumsum(lengths)
            ids = np.insert(ids, at, np.uint32(eos))
            if bits is not None:
                bits = np.insert(bits, at, ends)
            lengths += 1
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        offsets = pa.array(offsets)
        tokens = pa.LargeListArray.from_arrays(offsets, pa.array(ids, pa.uint32()))
        batch = batch.append_column("tokens", tokens)
        batch = batch.append_column("n_tokens", pa.array(lengths))
        if bits is not None:
            mask = pa.LargeListArray.from_arrays(offsets, pa.array(bits, pa.bool_()))
            batch = batch.append_column("loss_mask", mask)
        return RowResult(batch=batch)


def _template_spec(p: TokenizeParams) -> dict:
    """What a worker needs to render conversations (JSON-able, so it travels in metadata)."""
    if p.chat_template == "chatml":
        return {"kind": "chatml", "source": CHATML_JINJA, "special_tokens": list(CHATML_TOKENS)}
    if p.chat_template == "tokenizer":
        source, special = read_tokenizer_config(p.config_path)
        return {"kind": "jinja", "source": source, "special": special,
                "special_tokens": config_special_tokens(p.config_path)}  # fmt: skip
    return {"kind": None, "special_tokens": []}


@lru_cache(maxsize=4)
def _renderer(spec: str):
    template = json.loads(spec)
    if template["kind"] == "chatml":
        return render_chatml
    if template["kind"] == "jinja":
        return JinjaTemplate(template["source"], template["special"]).render
    return None


@lru_cache(maxsize=4)
def _tokenizer_of(blob: bytes):
    """The tokenizer a decision table's metadata holds, built once per worker process."""
    return _tokenizer(blob.decode("utf-8"))


@lru_cache(maxsize=4)
def _tokenizer(text: str):
    from tokenizers import Tokenizer

    try:
        return Tokenizer.from_str(text)
    except Exception as err:  # tokenizers raises its own exception type
        raise ValueError(f"not a Hugging Face tokenizer.json ({err})") from err


def train_bpe(
    texts: Iterable[str], vocab_size: int, eos: str | Sequence[str] = EOT,
    length: int | None = None,
) -> str:  # fmt: skip
    """A byte-level BPE tokenizer (GPT-2 style) trained on ``texts``, as tokenizer.json;
    ``eos``: the end-of-text token, or a list of special tokens (ids 0, 1, ... in order).
    ``texts`` is consumed as it comes (``tokenizers`` counts words chunk by chunk), so an
    iterator keeps memory to its word counts; ``length``: how many it yields, if known."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[eos] if isinstance(eos, str) else list(dict.fromkeys(eos)),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer, length=length)
    return tokenizer.to_str()


def _sample_rows(sizes: Sequence[int], limit: int) -> np.ndarray:
    """Up to ``limit`` corpus rows (numbered shard after shard) evenly spaced, sorted."""
    total = int(sum(sizes))
    return np.unique(np.linspace(0, total - 1, min(total, limit)).astype(np.int64))


def _sample_texts(
    shards: Sequence[ShardColumns], chosen: np.ndarray, sizes: Sequence[int]
) -> Iterator[str]:
    """The texts of the ``chosen`` corpus rows, in order, read shard by shard and batch by
    batch (memory: one record batch of ``text``; nothing is gathered)."""
    start = 0
    for load, size in zip(shards, sizes):
        lo, hi = np.searchsorted(chosen, [start, start + size])
        if hi > lo:
            rows = chosen[lo:hi] - start
            at = 0  # shard row of the batch's first row
            for batch in load.batches(["text"]):
                a, b = np.searchsorted(rows, [at, at + batch.num_rows])
                if b > a:
                    column = batch.column("text").take(pa.array(rows[a:b] - at))
                    for text in column.to_pylist():
                        yield text or ""
                at += batch.num_rows
                if b == len(rows):
                    break
        start += size


def saved_tokenizer(out: Path, before: int | None = None) -> Path | None:
    """The tokenizer.json the last ``tokenize`` of the run in ``out`` trained and saved (of
    those before stage number ``before``), None if none did."""
    found = [t for t in sorted(Path(out).glob("artifacts/*-tokenize/tokenizer.json"))
             if t.parent.name[:2].isdigit()
             and (before is None or int(t.parent.name[:2]) < before)]  # fmt: skip
    return found[-1] if found else None
