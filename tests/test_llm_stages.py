"""The language-model stages on the local backend (a tiny Llama model trained here):
rewrite and generate make new records with provenance and conservation, prox runs the
programs the model writes, lm_score equals a direct transformers computation, Min-K% Prob
tells seen from unseen text, distil recovers a known grading rule, and the budget and
--dry-run plan requests before any is sent."""

from __future__ import annotations

import math
import re
import zlib
from pathlib import Path

import numpy as np
import orjson
import pytest
import yaml
from conftest import corpus_records, read_ledger, read_output, write_jsonl
from tiny_lm import GRADE_TEMPLATE, SNIPPET, abstracts, manpages

import winnow
from winnow.cli import main
from winnow.llm.programs import InvalidProgram, execute, numbered, parse
from winnow.recipe import RecipeError


def _llm(tiny_model: Path, tmp_path: Path, **extra) -> dict:
    return {"model": str(tiny_model), "max_tokens": 24, "cache": str(tmp_path / "cache"),
            "device": "cpu", **extra}  # fmt: skip


def _docs(n: int = 6) -> list[dict]:
    _, unseen = abstracts()
    papers = [{"id": f"paper-{i}", "text": t[:SNIPPET], "meta": {"url": f"u{i}"}}
              for i, t in enumerate(unseen[:n])]  # fmt: skip
    pages = [{"id": f"man-{i}", "text": t} for i, t in enumerate(manpages(100 + n)[100:])]
    return papers + pages


# rewrite and generate: new records, provenance, conservation -----------------------------


def test_rewrite_what_a_filter_removed_and_generate_from_the_rest(tmp_path, tiny_model):
    docs = _docs()
    inputs = write_jsonl(tmp_path / "docs.jsonl", docs)
    recipe = {
        "inputs": [str(inputs)],
        "output": str(tmp_path / "out"),
        "stages": [
            {"field_filter": {"drop": {"field": "id", "regex": "^paper"}}},
            {"rewrite": {"llm": _llm(tiny_model, tmp_path), "style": "wikipedia",
                         "only_removed_by": ["field_filter"]}},
            {"generate": {"llm": _llm(tiny_model, tmp_path, max_tokens=3)}},
        ],
    }  # fmt: skip
    result = winnow.run(recipe, workers=2)
    out = Path(result.output)
    kept, ledger = read_output(out), read_ledger(out)
    stats = result.stats
    assert stats["input_docs"] + stats["generated_docs"] == len(kept) + len(ledger)
    removed = {r["id"] for r in ledger if r["stage"] == "field_filter"}
    assert removed == {d["id"] for d in docs if d["id"].startswith("paper")}
    rewrites = [d for d in kept if d["source"].startswith("generated:rewrite:")]
    assert len(rewrites) == len(removed)  # each removed paper came back rewritten
    for d in rewrites:
        source = d["meta"]["synthetic_of"]
        assert source in removed and d["source"] == f"generated:rewrite:{source}"
        assert d["meta"]["generator"] == {"model": str(tiny_model), "template": "wrap_wikipedia",
                                          "version": 1}  # fmt: skip
        assert d["meta"]["url"] == f"u{source.split('-')[1]}"  # the source's metadata kept
        assert d["text"] and d["text"] != docs[int(source.split("-")[1])]["text"]
    # the model was taught to say what a paper is about: its rewrites say so
    assert sum("research" in d["text"] for d in rewrites) >= len(rewrites) / 2
    # generate ran after rewrite: on the man pages and the rewrites; 3 tokens cut every
    # answer, so every attempt is a ledger row of its own, the sources stay
    made = [r for r in ledger if r["stage"] == "generate"]
    assert len(made) == len(docs) - len(removed) + len(rewrites)
    assert {r["reason"] for r in made} == {"llm_truncated"}
    assert all(r["source"].startswith("generated:generate:") for r in made)
    by_stage = {s["name"]: s for s in stats["stages"]}
    assert by_stage["rewrite"]["generated"] == len(rewrites)
    assert by_stage["generate"]["generated"] == len(made)

    again = winnow.run(recipe, workers=1, overwrite=True)  # cached, one worker: the same bytes
    assert again.stats["llm"]["02-rewrite"]["requests_sent"] == 0
    assert [d["id"] for d in read_output(out)] == [d["id"] for d in kept]
    assert read_output(out) == kept


def test_generate_makes_chat_records(tmp_path, tiny_model):
    inputs = write_jsonl(tmp_path / "docs.jsonl", _docs(3))
    recipe = {
        "inputs": [str(inputs)],
        "output": str(tmp_path / "out"),
        "stages": [{"generate": {"llm": _llm(tiny_model, tmp_path, max_tokens=40)}}],
    }
    result = winnow.run(recipe, workers=1)
    made = [d for d in read_output(Path(result.output)) if d["id"].startswith("g")]
    failed = [r for r in read_ledger(Path(result.output))]
    assert len(made) + len(failed) == 6 and len(made) >= 3
    for d in made:
        user, assistant = d["messages"]
        assert user["role"] == "user" and "What" in user["content"]
        assert assistant["role"] == "assistant" and assistant["content"]
        assert d["source"] == f"generated:generate:{d['meta']['synthetic_of']}"


def test_replace_drops_each_rewritten_source(tmp_path, tiny_model):
    docs = _docs(2)
    inputs = write_jsonl(tmp_path / "docs.jsonl", docs)
    recipe = {
        "inputs": [str(inputs)],
        "output": str(tmp_path / "out"),
        "stages": [{"rewrite": {"llm": _llm(tiny_model, tmp_path), "replace": True}}],
    }
    out = Path(winnow.run(recipe, workers=1).output)
    kept, ledger = read_output(out), read_ledger(out)
    assert {r["id"] for r in ledger} == {d["id"] for d in docs}
    assert {r["reason"] for r in ledger} == {"rewritten"}
    assert {r["detail"] for r in ledger} == {d["id"] for d in kept}


def test_only_removed_by_must_name_an_earlier_stage(tmp_path, tiny_model):
    recipe = {"inputs": [str(write_jsonl(tmp_path / "d.jsonl", _docs(1)))],
              "output": str(tmp_path / "out"),
              "stages": [{"rewrite": {"llm": _llm(tiny_model, tmp_path),
                                      "only_removed_by": ["gopher_quality"]}}]}  # fmt: skip
    with pytest.raises(RecipeError, match="no earlier stage is 'gopher_quality'"):
        winnow.run(recipe)
    recipe["stages"] = [{"rewrite": {"llm": {"model": str(tmp_path / "nope")}}}]
    with pytest.raises(RecipeError, match="no model directory"):
        winnow.run(recipe)


# prox ---------------------------------------------------------------------------------------


def test_prox_runs_the_programs_the_model_writes(tmp_path, tiny_model):
    docs = _docs(4)
    inputs = write_jsonl(tmp_path / "docs.jsonl", docs)
    recipe = {
        "inputs": [str(inputs)],
        "output": str(tmp_path / "out"),
        "stages": [{"prox": {"llm": _llm(tiny_model, tmp_path)}}],
    }
    out = Path(winnow.run(recipe, workers=2).output)
    kept = {d["id"]: d for d in read_output(out)}
    ledger = read_ledger(out)
    assert len(kept) + len(ledger) == len(docs)
    source = {d["id"]: d["text"] for d in docs}
    for doc_id, d in kept.items():  # each document is what its program makes of it
        outcome = execute(d["prox_program"], source[doc_id])
        assert (d["text"], d["prox_effect"]) == (outcome.text, outcome.effect)
    for row in ledger:
        if row["reason"] == "prox_drop_doc":
            assert execute(row["detail"], source[row["id"]]).effect == "dropped"
        else:
            assert row["reason"] == "prox_invalid_program" and row["detail"]
    # the model was taught to keep papers and drop man pages
    assert sum(i.startswith("paper") for i in kept) >= 3
    assert sum(r["id"].startswith("man") and r["reason"] == "prox_drop_doc" for r in ledger) >= 3


PAGE = "Title\n[ad] buy now\nBody line one\nBody line two\nfooter (c) 2024"


@pytest.mark.parametrize(
    ("program", "text", "effect"),
    [
        ("keep_doc()", PAGE, "unchanged"),
        ("remove_lines(1, 1)", "Title\nBody line one\nBody line two\nfooter (c) 2024",
         "removed 1 lines; 0 replacements"),
        ("remove_lines(1, 1)\nremove_lines(4, 4)", "Title\nBody line one\nBody line two",
         "removed 2 lines; 0 replacements"),
        ('normalize("line", "LINE")', PAGE.replace("line", "LINE"),
         "removed 0 lines; 2 replacements"),
        ('remove_lines(0, 1)\nnormalize("Title", "x")', "Body line one\nBody line two\n"
         "footer (c) 2024", "removed 2 lines; 0 replacements"),  # lines go first
        ("```python\nremove_lines(4, 4)\n```", "\n".join(PAGE.split("\n")[:4]),
         "removed 1 lines; 0 replacements"),
        ("drop_doc()", None, "dropped"),
        ("remove_lines(0, 0)\ndrop_doc()", None, "dropped"),
    ],
)  # fmt: skip
def test_every_prox_operation(program, text, effect):
    outcome = execute(program, PAGE)
    assert (outcome.text, outcome.effect) == (text, effect)
    assert execute(program, PAGE) == outcome  # deterministic


@pytest.mark.parametrize(
    ("program", "error"),
    [
        ("", "empty program"),
        ("remove_lines(3, 9)", "lines 0 to 4"),
        ("remove_lines(2, 1)", "lines 0 to 4"),
        ("remove_lines('1', 2)", "remove_lines takes (int, int)"),
        ("normalize('', 'x')", "source string is empty"),
        ("drop_doc(1)", "drop_doc takes ()"),
        ("__import__('os').system('true')", "not an operation call"),
        ("open('/etc/passwd')", "unknown operation 'open'"),
        ("x = 1", "not an operation call"),
        ("remove_lines(0, 1", "syntax error"),
        ("keep_doc(key=1)", "unknown operation"),
    ],
)
def test_an_invalid_program_is_refused(program, error):
    with pytest.raises(InvalidProgram, match=re.escape(error)):
        execute(program, PAGE)


def test_an_invalid_program_is_a_ledger_reason(tmp_path):
    """Answers planted in the request cache (its documented on-disk form), so no server is
    asked: an invalid program is ledger reason prox_invalid_program with the error."""
    from winnow.llm.cache import RequestCache, request_key
    from winnow.llm.client import sampling
    from winnow.llm.config import LLMConfig
    from winnow.llm.prompts import shipped

    llm = {"base_url": "http://127.0.0.1:9/v1", "model": "m", "max_retries": 0,
           "cache": str(tmp_path / "cache")}  # fmt: skip
    config = LLMConfig(**llm)
    texts = ["a\nb", "c\nd", "e"]
    programs = ["remove_lines(0, 0)", "remove_lines(5, 6)", "print('hi')"]
    template = shipped("prox")
    for text, program in zip(texts, programs):
        messages = [{"role": r, "content": c} for r, c in template.messages(numbered(text))]
        key = request_key("m", template.tag, messages, sampling(config))
        RequestCache(tmp_path / "cache").put(
            key,
            {
                "content": program,
                "finish_reason": "stop",
                "prompt_tokens": 9,
                "completion_tokens": 3,
            },
        )
    table = winnow.apply_stage("prox", _table(texts), llm=llm)
    assert table.column("text").to_pylist()[0] == "b"
    assert table.column("drop_reason").to_pylist() == [None, *["prox_invalid_program"] * 2]
    inputs = write_jsonl(tmp_path / "d.jsonl", [{"id": f"d{i}", "text": t}
                                                for i, t in enumerate(texts)])  # fmt: skip
    recipe = {
        "inputs": [str(inputs)],
        "output": str(tmp_path / "out"),
        "stages": [{"prox": {"llm": llm}}],
    }
    result = winnow.run(recipe, workers=1)
    assert result.stats["llm"]["01-prox"]["requests_cached"] == 3
    details = {r["id"]: r["detail"] for r in read_ledger(Path(result.output))}
    assert details == {"d1": "remove_lines(5, 6): the document has lines 0 to 1",
                       "d2": "line 1: unknown operation 'print'"}  # fmt: skip
    assert parse("keep_doc()") == [("keep_doc", ())]
    assert numbered("a\nb") == "[0] a\n[1] b"


def _table(texts):
    import pyarrow as pa

    return pa.table({"id": [f"d{i}" for i in range(len(texts))], "text": texts})


# lm_score -----------------------------------------------------------------------------------


def _direct(tiny_model: Path, texts: list[str], k: float):
    """Perplexity and Min-K% computed with transformers alone, one text at a time."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    out = []
    for text in texts:
        ids = torch.tensor([tok(text)["input_ids"]])
        with torch.no_grad():
            loss = model(input_ids=ids, labels=ids).loss.item()
            logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1], -1)
        lp = logp.gather(1, ids[0, 1:, None])[:, 0].numpy()
        m = math.ceil(k * len(lp))
        out.append((math.exp(loss), float(np.sort(lp)[:m].mean()), loss))
    return out


def _ifd_direct(tiny_model: Path, prompt: str, response: str) -> float:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    q = tok(prompt)["input_ids"]
    a = tok(response, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        joint = torch.tensor([q + a])
        labels = torch.tensor([[-100] * len(q) + a])
        given = model(input_ids=joint, labels=labels).loss.item()
        alone = torch.tensor([[tok.bos_token_id] + a])
        plain = model(input_ids=alone, labels=torch.tensor([[-100] + a])).loss.item()
    return given / plain


def test_lm_score_equals_a_direct_transformers_computation(tmp_path, tiny_model):
    seen, unseen = abstracts()
    texts = seen[:5] + unseen[:5] + [manpages(1)[0]]
    chat = {
        "id": "chat",
        "messages": [
            {"role": "user", "content": "Summarise the paper."},
            {"role": "assistant", "content": unseen[6][:150]},
        ],
    }
    records = [{"id": f"d{i}", "text": t} for i, t in enumerate(texts)] + [chat]
    inputs = write_jsonl(tmp_path / "docs.jsonl", records)
    recipe = {
        "inputs": [str(inputs)],
        "output": str(tmp_path / "out"),
        "stages": [
            {
                "lm_score": {
                    "model": str(tiny_model),
                    "k": 0.2,
                    "batch_size": 4,
                    "reference_model": str(tiny_model),
                    "device": "cpu",
                }
            }
        ],
    }
    docs = {d["id"]: d for d in read_output(Path(winnow.run(recipe, workers=2).output))}
    direct = _direct(tiny_model, texts, 0.2)
    for i, (ppl, mink, nll) in enumerate(direct):  # batched and padded vs alone: 1e-4
        d = docs[f"d{i}"]
        assert d["lm_perplexity"] == pytest.approx(ppl, rel=1e-4)
        assert d["lm_min_k"] == pytest.approx(mink, rel=1e-4)
        zipped = len(zlib.compress(texts[i].encode()))
        assert d["lm_zlib_ratio"] == pytest.approx(nll / zipped, rel=1e-4)
        assert d["lm_reference_ratio"] == pytest.approx(1.0, rel=1e-6)  # the same model
        assert d["lm_ce_difference"] == pytest.approx(0.0, abs=1e-6)
        assert d.get("lm_ifd") is None  # plain documents have no response
    ifd = _ifd_direct(tiny_model, "Summarise the paper.", unseen[6][:150])
    assert docs["chat"]["lm_ifd"] == pytest.approx(ifd, rel=1e-4)


def test_min_k_prob_tells_seen_from_unseen_text(tmp_path, tiny_model):
    from sklearn.metrics import roc_auc_score

    seen, unseen = abstracts()
    records = [{"id": f"s{i}", "text": t} for i, t in enumerate(seen[:100])]
    records += [{"id": f"u{i}", "text": t} for i, t in enumerate(unseen[:100])]
    inputs = write_jsonl(tmp_path / "docs.jsonl", records)
    recipe = {"inputs": [str(inputs)], "output": str(tmp_path / "out"),
              "stages": [{"lm_score": {"model": str(tiny_model), "metrics": ["min_k"],
                                       "device": "cpu"}}]}  # fmt: skip
    docs = read_output(Path(winnow.run(recipe, workers=1).output))
    auc = roc_auc_score([d["id"][0] == "s" for d in docs], [d["lm_min_k"] for d in docs])
    assert auc >= 0.8, auc


# distil --------------------------------------------------------------------------------------


def _graded_corpus() -> list[dict]:
    """Documents of three corpora graded by a known rule: papers 4 (5 when they mention
    learning), man pages 2, copyright files 0."""
    out = []
    for r in corpus_records("abstracts")[:400]:
        out.append((r["text"], 5 if "learning" in r["text"].lower() else 4))
    for r in corpus_records("manpages", 400):
        out.append((r["text"][:3000], 2))
    for r in corpus_records("copyright", 400):
        out.append((r["text"][:3000], 0))
    rng = np.random.Generator(np.random.PCG64(1))
    order = rng.permutation(len(out))
    return [{"id": f"d{i}", "text": out[j][0], "meta": {"truth": out[j][1],
             **({"grade": out[j][1]} if i % 2 == 0 else {})}}
            for i, j in enumerate(order)]  # fmt: skip


@pytest.mark.parametrize("backend", ["static", "fasttext"])
def test_distil_recovers_a_known_rule_on_unseen_documents(tmp_path, backend):
    from scipy.stats import spearmanr

    records = _graded_corpus()
    inputs = write_jsonl(tmp_path / "docs.jsonl", records)
    recipe = {
        "inputs": [str(inputs)],
        "output": str(tmp_path / "out"),
        "stages": [
            {
                "distil": {
                    "column": "meta.grade",
                    "backend": backend,
                    "min_score": 3 if backend == "static" else 0.5,
                    "model": str(tmp_path / f"model.{backend}"),
                }
            }
        ],
    }
    result = winnow.run(recipe, workers=2)
    out = Path(result.output)
    kept = read_output(out)
    scores = {d["id"]: d["distil_score"] for d in kept}
    for row in read_ledger(out):
        assert row["reason"] == "not_selected_distil"
    report = orjson.loads(next((out / "artifacts").glob("*-distil/evaluation.json")).read_bytes())
    assert report["held_out"] == round(0.2 * (len(records) + 1) // 2) or report["held_out"] > 0
    assert report["spearman"] >= 0.7 and report["f1"] >= 0.8, report
    # on the documents it never saw a grade for: ranks agree with the rule, threshold 3 holds
    unseen = [r for r in records if "grade" not in r["meta"]]
    good = {r["id"] for r in unseen if r["meta"]["truth"] >= 3}
    chosen = {r["id"] for r in unseen if r["id"] in scores}
    tp = len(good & chosen)
    f1 = 2 * tp / (len(good) + len(chosen))
    assert f1 >= 0.8, f1
    if backend == "static":  # every document is scored: compare ranks on the unseen ones
        table = winnow.apply_stage("distil", _table([r["text"] for r in unseen]),
                                   column="meta.grade", backend=backend, min_score=3,
                                   model=str(tmp_path / "model.static"))  # fmt: skip
        truth = [r["meta"]["truth"] for r in unseen]
        rho = spearmanr(truth, table.column("distil_score").to_pylist()).statistic
        assert rho >= 0.7, rho
    # the saved model scores a later run without annotations
    again = {**recipe, "output": str(tmp_path / "again")}
    again["inputs"] = [
        str(
            write_jsonl(
                tmp_path / "plain.jsonl", [{"id": r["id"], "text": r["text"]} for r in unseen]
            )
        )
    ]
    kept_again = {d["id"] for d in read_output(Path(winnow.run(again, workers=1).output))}
    assert kept_again == chosen


# budget and --dry-run ------------------------------------------------------------------------


def _annotate_recipe(tmp_path, tiny_model, docs, **params):
    template = tmp_path / "grade.yaml"
    template.write_text(yaml.safe_dump(GRADE_TEMPLATE))
    llm = _llm(tiny_model, tmp_path, max_tokens=4)
    return {
        "inputs": [str(write_jsonl(tmp_path / "docs.jsonl", docs))],
        "output": str(tmp_path / "out"),
        "stages": [{"annotate": {"llm": llm, "prompt": str(template), **params}}],
    }


def test_max_requests_and_sample_choose_the_same_documents_for_any_worker_count(
    tmp_path, tiny_model
):
    docs = _docs(6)
    recipe = _annotate_recipe(tmp_path, tiny_model, docs, sample=5, max_requests=3,
                              on_failure="flag")  # fmt: skip
    one = winnow.run(recipe, workers=1)
    graded = [d["id"] for d in read_output(Path(one.output)) if d.get("annotate_answer")]
    usage = one.stats["llm"]["01-annotate"]
    assert len(graded) == 3 and usage["over_budget"] == 2
    assert usage["requests_sent"] + usage["requests_cached"] == 3
    two = winnow.run(recipe, workers=2, overwrite=True)
    assert [d["id"] for d in read_output(Path(two.output)) if d.get("annotate_answer")] == graded


def test_dry_run_estimates_requests_and_tokens_and_sends_nothing(tmp_path, tiny_model, capsys):
    docs = _docs(6)
    recipe = _annotate_recipe(tmp_path, tiny_model, docs, max_tokens=400)
    plan = winnow.estimate(recipe)
    (stage,) = plan["stages"]
    assert plan["input_docs"] == 12
    prompt = len(GRADE_TEMPLATE["prompt"])
    costs = [(min(len(d["text"]), SNIPPET) + prompt) / 4 + 4 for d in docs]
    assert stage["requests"] == int((np.cumsum(costs) <= 400).sum())
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    assert main(["run", "--dry-run", str(path)]) == 0
    printed = capsys.readouterr().out
    assert "01-annotate" in printed and f"{stage['prompt_tokens']:,}" in printed
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()
