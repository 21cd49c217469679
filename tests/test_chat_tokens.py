"""Training-ready chat tokens: ``tokenize`` with ``chat_template`` (ChatML, or a tokenizer's
own Jinja template) renders conversations built from real abstracts, writes ``loss_mask``
(true on the assistant's text and end-of-turn marker only), and ``pack`` carries the mask
into a memmap beside every token memmap."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tokenizers import Tokenizer

import winnow
from tests.conftest import corpus_records, read_output, write_jsonl
from winnow.chat.template import CHATML_JINJA, JinjaTemplate, render_chatml
from winnow.chat.view import render

EOT = "<|endoftext|>"
STRATEGIES = ("concat", "best_fit", "buckets")


def _call(cid, name, **arguments):
    return {"id": cid, "type": "function",
            "function": {"name": name, "arguments": json.dumps(arguments)}}  # fmt: skip


def _conversation(i: int, title: str, abstract: str) -> list[dict]:
    first = abstract.split(". ")[0].rstrip(".") + "."
    kind = i % 4
    if kind == 0:
        return [
            {"role": "system", "content": "You summarise research papers."},
            {"role": "user", "content": f"Summarise the paper titled {title!r}."},
            {"role": "assistant", "content": abstract},
        ]
    if kind == 1:  # content parts: text joined by a blank line, the image left out
        return [
            {"role": "user", "content": [
                {"type": "text", "text": abstract},
                {"type": "image_url", "image_url": {"url": "https://example.org/fig1.png"}},
                {"type": "text", "text": "What is the title of this paper?"},
            ]},
            {"role": "assistant", "content": title},
        ]  # fmt: skip
    if kind == 2:  # an agent: a tool call, the tool's answer, the final answer
        return [
            {"role": "user", "content": f"Find the paper {title!r} and tell me its claim."},
            {"role": "assistant", "content": None,
             "tool_calls": [_call(f"c{i}", "search_papers", query=title, limit=3)]},
            {"role": "tool", "tool_call_id": f"c{i}", "content": abstract},
            {"role": "assistant", "content": first},
        ]  # fmt: skip
    return [  # several turns, ending with the user's (the end-of-text token is not trained)
        {"role": "user", "content": f"What is {title!r} about?"},
        {"role": "assistant", "content": first},
        {"role": "user", "content": "And in more detail?"},
        {"role": "assistant", "content": abstract},
        {"role": "user", "content": "Thanks."},
    ]


def _records():
    rows = corpus_records("abstracts", 240)
    chat, plain = [], []
    for i, r in enumerate(rows[:160]):
        title, _, abstract = r["text"].partition("\n\n")
        turns = _conversation(i, title.strip(), abstract.strip()[:700])
        chat.append({"id": f"chat-{i:03d}", "messages": turns})
    for r in rows[160:]:
        plain.append({"id": r["id"], "text": r["text"][:1500]})
    return chat + plain


def _segments(turns: list[dict]) -> list[tuple[str, bool]]:
    """ChatML written out from the spec, independently of winnow: (text, trained)."""
    out = []
    for t in turns:
        content = t.get("content")
        if isinstance(content, list):
            content = "\n\n".join(p["text"] for p in content if p.get("type") == "text")
        calls = [
            "<tool_call>\n" + json.dumps({"name": c["function"]["name"],
                                          "arguments": json.loads(c["function"]["arguments"])})
            + "\n</tool_call>"
            for c in t.get("tool_calls") or ()
        ]  # fmt: skip
        body = "\n".join(([content] if content else []) + calls)
        out += [
            (f"<|im_start|>{t['role']}\n", False),
            (body + "<|im_end|>", t["role"] == "assistant"),
        ]
        out.append(("\n", False))
    return out


def _runs(tokenizer: Tokenizer, ids: list[int], mask: list[bool]):
    """The decoded runs of trained tokens, and all untrained text joined."""
    trained, untrained, start = [], [], 0
    for k in range(1, len(ids) + 1):
        if k == len(ids) or mask[k] != mask[start]:
            text = tokenizer.decode(ids[start:k], skip_special_tokens=False)
            (trained if mask[start] else untrained).append(text)
            start = k
    return trained, "".join(untrained)


@pytest.fixture(scope="module")
def chatml(tmp_path_factory):
    folder = tmp_path_factory.mktemp("chat")
    records = _records()
    data = write_jsonl(folder / "in.jsonl", records)
    out = folder / "out"
    stages = [{"tokenize": {"train_vocab": 500, "chat_template": "chatml"}}]
    stages += [
        {"pack": {"seq_len": 256, "strategy": s, "path": str(folder / s)}} for s in STRATEGIES
    ]
    winnow.run({"inputs": [str(data)], "output": str(out), "stages": stages}, workers=2)
    artifacts = next((out / "artifacts").glob("*-tokenize"))
    tokenizer = Tokenizer.from_file(str(artifacts / "tokenizer.json"))
    docs = {d["id"]: d for d in read_output(out)}
    return folder, data, {r["id"]: r for r in records}, docs, tokenizer, artifacts


def test_chatml_rendering_of_a_known_conversation():
    turns = [
        {"role": "system", "content": "You answer questions about papers."},
        {"role": "user", "content": [
            {"type": "text", "text": "Which paper introduced DINO?"},
            {"type": "image_url", "image_url": {"url": "https://example.org/a.png"}},
            {"type": "text", "text": "Search for it."},
        ]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "search", "arguments": '{"query":"DINO DETR","limit":2}'}}
        ], "_from": "gpt"},
        {"role": "tool", "tool_call_id": "c1", "content": "DINO: DETR with Improved DeNoising"},
        {"role": "assistant", "content": "It is \u201cDINO: DETR with Improved DeNoising\u201d."},
    ]  # fmt: skip
    expected = (
        "<|im_start|>system\nYou answer questions about papers.<|im_end|>\n"
        "<|im_start|>user\nWhich paper introduced DINO?\n\nSearch for it.<|im_end|>\n"
        "<|im_start|>assistant\n<tool_call>\n"
        '{"name": "search", "arguments": {"query": "DINO DETR", "limit": 2}}\n'
        "</tool_call><|im_end|>\n"
        "<|im_start|>tool\nDINO: DETR with Improved DeNoising<|im_end|>\n"
        "<|im_start|>assistant\nIt is \u201cDINO: DETR with Improved DeNoising\u201d.<|im_end|>\n"
    )
    rendered = render_chatml(turns)
    assert rendered.text == expected
    assert [rendered.text[a:b] for a, b in rendered.spans] == [
        '<tool_call>\n{"name": "search", "arguments": {"query": "DINO DETR", "limit": 2}}\n'
        "</tool_call><|im_end|>",
        "It is \u201cDINO: DETR with Improved DeNoising\u201d.<|im_end|>",
    ]
    assert rendered.ends_trained
    # the shipped Jinja version renders and masks alike, by {% generation %} blocks or not
    for source in (CHATML_JINJA, CHATML_JINJA.replace("{% generation %}", "")
                   .replace("{% endgeneration %}", "")):  # fmt: skip
        assert JinjaTemplate(source).render(turns) == rendered


def test_jinja_chatml_matches_python_chatml_on_real_conversations(chatml):
    _, _, records, _, _, _ = chatml
    template = JinjaTemplate(CHATML_JINJA)
    for r in records.values():
        if "messages" in r:
            assert template.render(r["messages"]) == render_chatml(r["messages"])


def test_loss_mask_is_exactly_the_assistant_turns(chatml):
    _, _, records, docs, tokenizer, _ = chatml
    assert len(docs) == len(records)
    checked = 0
    for doc_id, doc in docs.items():
        assert len(doc["loss_mask"]) == len(doc["tokens"]) == doc["n_tokens"]
        if "messages" not in records[doc_id]:
            continue
        turns = records[doc_id]["messages"]
        segments = _segments(turns)
        ends_with_assistant = turns[-1]["role"] == "assistant"
        trained, untrained = _runs(tokenizer, doc["tokens"], doc["loss_mask"])
        expected = [s for s, t in segments if t] + ([EOT] if ends_with_assistant else [])
        assert trained == expected  # assistant text + <|im_end|>, each run alone
        assert untrained == "".join(s for s, t in segments if not t) + (
            "" if ends_with_assistant else EOT
        )
        for turn in turns:  # user, system and tool text is never trained
            if turn["role"] != "assistant" and isinstance(turn["content"], str):
                assert turn["content"] in untrained
                assert not any(turn["content"] in run for run in trained)
        checked += 1
    assert checked == 160
    im_end = tokenizer.token_to_id("<|im_end|>")
    assert im_end is not None and tokenizer.token_to_id("<|im_start|>") is not None
    ends = [
        m for d in docs.values() for t, m in zip(d["tokens"], d["loss_mask"]) if t == im_end
    ]  # an <|im_end|> is trained exactly when it closes an assistant turn
    closing = sum(
        sum(t["role"] == "assistant" for t in r["messages"])
        for r in records.values()
        if "messages" in r
    )
    assert sum(ends) == closing and len(ends) > closing


def test_plain_rows_are_tokenized_as_before_and_fully_trained(chatml, tmp_path):
    folder, data, records, docs, tokenizer, artifacts = chatml
    eot = tokenizer.token_to_id(EOT)
    for doc_id, r in records.items():
        if "messages" not in r:
            doc = docs[doc_id]
            assert doc["tokens"] == tokenizer.encode(r["text"], add_special_tokens=False).ids + [
                eot
            ]
            assert all(doc["loss_mask"])
    # chat_template null: every row (chat rows too) is the tokens of its text, no loss_mask
    for params in ({"tokenizer": str(artifacts / "tokenizer.json")}, {"train_vocab": 500}):
        out = tmp_path / ("given" if "tokenizer" in params else "trained")
        winnow.run({"inputs": [str(data)], "output": str(out),
                    "stages": [{"tokenize": params}]}, workers=2)  # fmt: skip
        if "tokenizer" in params:  # a given tokenizer: per-batch work, nothing to save
            assert not list((out / "artifacts").glob("*-tokenize"))
            used = Tokenizer.from_file(params["tokenizer"])
        else:
            saved = next((out / "artifacts").glob("*-tokenize"))
            assert not (saved / "tokenizer_config.json").exists()
            used = Tokenizer.from_file(str(saved / "tokenizer.json"))
        for doc in read_output(out):
            assert "loss_mask" not in doc
            eos = used.token_to_id(EOT)
            text = render(doc["messages"]) if "messages" in doc else doc["text"]  # the view
            assert doc["tokens"] == used.encode(text, add_special_tokens=False).ids + [eos]
            if "tokenizer" in params and "messages" not in records[doc["id"]]:
                assert doc["tokens"] == docs[doc["id"]]["tokens"]  # plain rows: unchanged
        if "train_vocab" in params:  # the trained tokenizer has only <|endoftext|>, as before
            assert used.get_added_tokens_decoder()[0].content == EOT
            assert len(used.get_added_tokens_decoder()) == 1


def _packed(folder):
    index = json.loads((folder / "index.json").read_text())
    shapes = {int(w): (n, int(w)) for w, n in index["sequences"].items()}
    tokens = {w: np.fromfile(folder / f"tokens-{w}.bin", index["dtype"]).reshape(s)
              for w, s in shapes.items()}  # fmt: skip
    files = index["loss_mask"]["files"]
    masks = {w: np.fromfile(folder / files[str(w)], index["loss_mask"]["dtype"]).reshape(s)
             for w, s in shapes.items()}  # fmt: skip
    return index, tokens, masks, pq.read_table(folder / "pieces.parquet").to_pylist()


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_pack_mask_memmap_aligns_with_its_tokens(chatml, strategy):
    folder, _, _, docs, _, _ = chatml
    index, tokens, masks, pieces = _packed(folder / strategy)
    assert sorted(index["loss_mask"]["files"].values()) == sorted(
        f"mask-{w}.bin" for w in index["sequences"]
    )
    assert index["loss_mask"]["tokens"] == sum(sum(d["loss_mask"]) for d in docs.values())
    rebuilt = {doc: ([], []) for doc in docs}
    used = {w: np.zeros(a.shape, dtype=bool) for w, a in tokens.items()}
    for piece in sorted(pieces, key=lambda x: (x["id"], x["start"])):
        w, row, at, n = piece["width"], piece["sequence"], piece["offset"], piece["length"]
        rebuilt[piece["id"]][0].extend(tokens[w][row, at : at + n].tolist())
        rebuilt[piece["id"]][1].extend(masks[w][row, at : at + n].astype(bool).tolist())
        used[w][row, at : at + n] = True
    for doc_id, doc in docs.items():
        assert rebuilt[doc_id] == (doc["tokens"], doc["loss_mask"])
    for w, m in masks.items():
        assert m.shape == tokens[w].shape and m.dtype == np.uint8
        assert not m[~used[w]].any()  # padding is never trained
    assert 0 < index["loss_mask"]["tokens"] < index["tokens"]


def test_saved_tokenizer_config_renders_as_chatml(chatml, tmp_path):
    """The tokenizer_config.json saved beside a trained tokenizer holds the ChatML template:
    ``chat_template: tokenizer`` on it gives the same tokens and masks."""
    _, data, _, docs, _, artifacts = chatml
    config = json.loads((artifacts / "tokenizer_config.json").read_text())
    assert config["chat_template"] == CHATML_JINJA and config["eos_token"] == EOT
    out = tmp_path / "again"
    params = {"tokenizer": str(artifacts / "tokenizer.json"), "chat_template": "tokenizer"}
    winnow.run({"inputs": [str(data)], "output": str(out),
                "stages": [{"tokenize": params}]}, workers=2)  # fmt: skip
    again = {d["id"]: d for d in read_output(out)}
    assert {k: (d["tokens"], d["loss_mask"]) for k, d in again.items()} == {
        k: (d["tokens"], d["loss_mask"]) for k, d in docs.items()
    }


TEMPLATE = (  # a Llama-2-like template without {% generation %} blocks
    "{{ bos_token }}{% for m in messages %}"
    "{% if m['role'] == 'system' %}<<SYS>>\n{{ m['content'] }}\n<</SYS>>\n\n"
    "{% elif m['role'] == 'user' %}[INST] {{ m['content'] }} [/INST]"
    "{% elif m['role'] == 'assistant' %} {{ m['content'] }}{{ eos_token }}"
    "{% endif %}{% endfor %}"
)


def test_the_tokenizers_own_jinja_template(chatml, tmp_path):
    _, _, records, _, _, _ = chatml
    chats = [r for r in records.values() if "messages" in r]
    chats = [r for r in chats if not any(t["role"] == "tool" for t in r["messages"])]
    plain = [r for r in records.values() if "messages" not in r][:10]
    data = write_jsonl(tmp_path / "in.jsonl", chats + plain)
    config = tmp_path / "tokenizer_config.json"
    config.write_text(json.dumps({"bos_token": "<s>", "eos_token": {"content": "</s>"},
                                  "chat_template": TEMPLATE}))  # fmt: skip
    # a BPE trained with the config's special tokens, then the same config beside the tokenizer
    out = tmp_path / "trained"
    params = {"train_vocab": 500, "chat_template": "tokenizer", "tokenizer_config": str(config)}
    winnow.run({"inputs": [str(data)], "output": str(out),
                "stages": [{"tokenize": params}]}, workers=2)  # fmt: skip
    saved = next((out / "artifacts").glob("*-tokenize"))
    assert (saved / "tokenizer_config.json").read_text() == config.read_text()
    given = tmp_path / "given"
    given.mkdir()
    shutil.copy(saved / "tokenizer.json", given / "tokenizer.json")
    shutil.copy(config, given / "tokenizer_config.json")
    again = tmp_path / "again"
    params = {"tokenizer": str(given / "tokenizer.json"), "chat_template": "tokenizer"}
    winnow.run({"inputs": [str(data)], "output": str(again),
                "stages": [{"tokenize": params}]}, workers=1)  # fmt: skip
    first, second = read_output(out), read_output(again)
    assert [d["tokens"] for d in first] == [d["tokens"] for d in second]
    assert [d["loss_mask"] for d in first] == [d["loss_mask"] for d in second]
    tokenizer = Tokenizer.from_file(str(saved / "tokenizer.json"))
    assert {tokenizer.token_to_id(t) for t in ("<s>", "</s>", EOT)} == {0, 1, 2}
    for doc in first:
        record = records[doc["id"]]
        if "messages" not in record:
            assert all(doc["loss_mask"])
            continue
        turns = record["messages"]
        trained, untrained = _runs(tokenizer, doc["tokens"], doc["loss_mask"])
        answers = [" " + t["content"] + "</s>" for t in turns if t["role"] == "assistant"]
        last = turns[-1]["role"] == "assistant"
        if last:  # the end-of-text token follows </s> at once: one run
            answers[-1] += EOT
        assert trained == answers
        assert untrained.startswith("<s>") and untrained.endswith("" if last else EOT)
        for t in turns:
            text = t["content"]
            if isinstance(text, list):
                text = "\n\n".join(p["text"] for p in text if p.get("type") == "text")
            if t["role"] != "assistant":
                assert f"{text}\n<</SYS>>" in untrained or f"[INST] {text} [/INST]" in untrained
                assert not any(text in run for run in trained)


def test_chat_template_parameters_are_checked(chatml, tmp_path):
    _, _, _, _, _, artifacts = chatml
    with pytest.raises(ValueError, match="tokenizer_config"):
        winnow.make_stage("tokenize", train_vocab=500, chat_template="tokenizer")
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(artifacts / "tokenizer.json", alone / "tokenizer.json")
    with pytest.raises(ValueError, match="no such file"):  # no tokenizer_config.json beside it
        winnow.make_stage("tokenize", tokenizer=str(alone / "tokenizer.json"),
                          chat_template="tokenizer")  # fmt: skip
    with pytest.raises(ValueError, match="only with chat_template: tokenizer"):
        winnow.make_stage("tokenize", train_vocab=500, tokenizer_config=str(tmp_path / "x"))
    plain = tmp_path / "plain.json"  # a tokenizer without the ChatML markers
    texts = [r["text"] for r in corpus_records("abstracts", 50)]
    from winnow.stages.tokenize import train_bpe

    plain.write_text(train_bpe(iter(texts), 400))
    table = pa.table({"text": ["x"], "messages": [[{"role": "user", "content": "x"}]]})
    with pytest.raises(ValueError, match=re.escape("no token '<|im_start|>'")):
        winnow.apply_stage("tokenize", table, tokenizer=str(plain), chat_template="chatml")
