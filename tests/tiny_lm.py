"""A tiny Llama-architecture model made here, for the language-model stages' tests: a BPE
tokenizer and a 2-layer model trained for a minute on ../shared/corpora. It reads (and
memorises) a seen half of the paper abstracts, and learns to answer the prompts the tests
send: a grade (4 for abstracts, 1 for man pages), a one-line rewrite, a ProX program and an
instruction/response pair. Built once per machine into a cache folder keyed by this file's
hash."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
from pathlib import Path

CORPORA = Path(os.environ.get("WINNOW_CORPORA") or Path(__file__).resolve().parents[2] / "shared"
               / "corpora")  # fmt: skip
"""conftest.py sets ``WINNOW_CORPORA`` where it found them."""
SNIPPET = 200
TASK_DOCS = 80
"""Documents per kind (abstracts, man pages) the tasks are taught on."""
GRADE_TEMPLATE = {
    "name": "tiny_grade",
    "version": 1,
    "prompt": "Grade this text from 0 to 5.\n\n{text}\n\nScore:",
    "score_pattern": r"([0-5])",
    "max_doc_chars": SNIPPET,
}
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def _read(name: str) -> list[dict]:
    with gzip.open(CORPORA / name, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def abstracts() -> tuple[list[str], list[str]]:
    """Seen and unseen abstracts (distinct texts and openings), first 400 characters."""
    seen_keys, texts = set(), []
    for r in _read("abstracts.jsonl.gz"):
        text = " ".join(r["text"].split())[:400]
        key = text[:80]
        if len(text) >= 300 and key not in seen_keys:
            seen_keys.add(key)
            texts.append(text)
    random.Random(0).shuffle(texts)
    half = min(len(texts) // 2, 200)
    return texts[:half], texts[half : 2 * half]


def manpages(n: int) -> list[str]:
    out = []
    with gzip.open(CORPORA / "manpages.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            text = json.loads(line)["text"]
            if len(text) > SNIPPET:
                out.append(text[:SNIPPET])
            if len(out) == n:
                break
    return out


def rewrite_answer(is_paper: bool) -> str:
    return "This text is about research." if is_paper else "This text is about software."


def _examples(seen: list[str], pages: list[str]) -> list[tuple[str, str]]:
    """(prompt messages rendered, answer) pairs for the tests' prompts."""
    from winnow.llm.programs import numbered
    from winnow.llm.prompts import Template, shipped

    grade = Template(**GRADE_TEMPLATE)
    rewrite = shipped("rewrite_wikipedia")
    prox = shipped("prox")
    generate = shipped("instruction_response")
    out = []
    docs = [(t[:SNIPPET], True) for t in seen[:TASK_DOCS]]
    docs += [(t, False) for t in pages[:TASK_DOCS]]
    for text, paper in docs:
        about = rewrite_answer(paper)
        out.append((grade.messages(text), " 4" if paper else " 1"))
        out.append((rewrite.messages(text), about))
        out.append((prox.messages(numbered(text)), "keep_doc()" if paper else "drop_doc()"))
        pair = f"Instruction: What is this text about?\nResponse: {about}"
        out.append((generate.messages(text), pair))
    return out


def build(folder: Path) -> Path:
    """Train and save the model (tokenizer and weights) into ``folder``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    torch.manual_seed(0)
    seen, _unseen = abstracts()
    pages = manpages(TASK_DOCS)
    examples = _examples(seen, pages)
    bpe = Tokenizer(models.BPE(unk_token=None))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    specials = ["<s>", "</s>", "<pad>"]
    trainer = trainers.BpeTrainer(
        vocab_size=4096,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    prompts = [c for msgs, _ in examples[:8] for _, c in msgs]
    bpe.train_from_iterator(seen + pages + prompts, trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    tok.chat_template = CHAT_TEMPLATE
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=1024,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id, tie_word_embeddings=True,
    )  # fmt: skip
    model = LlamaForCausalLM(config)
    rows: list[tuple[list[int], list[int]]] = []
    for text in seen:  # plain text, loss on every token, seen many times
        ids = [tok.bos_token_id, *tok(text)["input_ids"]]
        rows.append((ids, ids))
    for messages, answer in examples:
        chat = [{"role": r, "content": c} for r, c in messages]
        prompt = list(tok.apply_chat_template(chat, add_generation_prompt=True, tokenize=True)
                      ["input_ids"])  # fmt: skip
        target = tok(answer)["input_ids"] + [tok.eos_token_id]
        ids = (prompt + target)[-1000:]
        labels = ([-100] * len(prompt) + target)[-1000:]
        rows.append((ids, labels))
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    rng = random.Random(0)
    epochs = int(os.environ.get("TINY_LM_EPOCHS", "16"))
    steps = epochs * -(-len(rows) // 16)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: 1 - s / steps)
    model.train()
    for _ in range(epochs):
        order = sorted(range(len(rows)), key=lambda i: (len(rows[i][0]), rng.random()))
        batches = [order[i : i + 16] for i in range(0, len(order), 16)]
        rng.shuffle(batches)
        for batch in batches:
            width = max(len(rows[i][0]) for i in batch)
            ids = torch.full((len(batch), width), tok.pad_token_id)
            labels = torch.full((len(batch), width), -100)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for j, i in enumerate(batch):
                x, y = rows[i]
                ids[j, : len(x)] = torch.tensor(x)
                labels[j, : len(y)] = torch.tensor(y)
                mask[j, : len(x)] = 1
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
    model.eval()
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def cached_model(root: Path) -> Path:
    """The model, built on first use under ``root`` (keyed by this file's contents)."""
    digest = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
    folder = root / f"tiny-lm-{digest}"
    if not (folder / "config.json").exists():
        tmp = root / f".tiny-lm-{digest}-{os.getpid()}"
        build(tmp)
        os.replace(tmp, folder)
    return folder


if __name__ == "__main__":
    import sys
    import time

    t0 = time.time()
    print(build(Path(sys.argv[1])), f"{time.time() - t0:.1f}s")
