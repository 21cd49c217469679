"""chat_quality on chat records built from real paper abstracts: each rule's reason and
statistic, MTLD against hand computation, ``drop: turn_pair``, plain documents, a full run."""

from __future__ import annotations

import orjson
import pyarrow as pa
import pytest

import winnow
from tests.conftest import corpus_records, read_ledger, read_output, write_jsonl
from winnow.schema import DOC_SCHEMA
from winnow.stages.chat_quality import _mtld_pass, mtld, prompt_echo, turn_order_ok, words

ABSTRACTS = corpus_records("abstracts", limit=60)
TITLES = [r["meta"]["title"] for r in ABSTRACTS]
BODIES = [r["text"].split("\n\n", 1)[1] for r in ABSTRACTS]


def _qa(k: int) -> list[dict]:
    """A clean question-and-answer pair about abstract ``k``."""
    return [
        {"role": "user", "content": f'What is the paper "{TITLES[k]}" about? Summarise it.'},
        {"role": "assistant", "content": BODIES[k]},
    ]


def _chat(*pairs: list[dict], system: str | None = None) -> list[dict]:
    turns = [{"role": "system", "content": system}] if system else []
    for pair in pairs:
        turns += pair
    return turns


def _table(conversations: list[list[dict]]) -> pa.Table:
    # JSON text per row: turns with and without tool calls need no common struct type
    return pa.table({"messages": [orjson.dumps(c).decode() for c in conversations]})


def _run(conversations, **params):
    out = winnow.apply_stage("chat_quality", _table(conversations), **params)
    return out, out.column("drop_reason").to_pylist()


REFUSAL = "I\u2019m sorry, but I can\u2019t help with summarising this paper."
LOOP = "The paper is very good and the results are very good. " * 8  # 88 words, 8 types


def test_mtld_against_hand_computation():
    # forward: a b c d a b -> TTR 4/6 = 0.667 <= 0.72 closes a factor at 6 tokens; e f g h
    # are 4 new types, TTR 1, a partial factor of (1 - 1) / 0.28 = 0 -> 10 / 1 = 10.
    # backward: h g f e b a d c (8 types) b a -> TTR 8/10 = 0.8, never down to 0.72: one
    # partial factor (1 - 0.8) / 0.28 = 0.714... -> 10 / 0.714... = 14. MTLD = (10 + 14) / 2.
    tokens = words("a b c d a b e f g h")
    assert _mtld_pass(tokens, 0.72) == pytest.approx(10.0)
    assert _mtld_pass(tokens[::-1], 0.72) == pytest.approx(14.0)
    assert mtld(tokens) == pytest.approx(12.0)
    # "the cat" x 3: each factor closes at the third token (2/3 types): 6 / 2 = 3 both ways
    assert mtld(words("the cat the cat the cat")) == pytest.approx(3.0)
    # a a a: a factor closes at token 2 (TTR 1/2), the tail "a" has TTR 1: partial 0 -> 3 / 1
    assert _mtld_pass(words("a a a"), 0.72) == pytest.approx(3.0)
    assert mtld([]) is None
    assert mtld(words("every token here is distinct")) == 5.0  # no factor: its length
    # the factor size matters: at 0.5 "a b c d a b" never closes a factor; one partial
    # factor (1 - 4/6) / 0.5 both ways
    assert mtld(words("a b c d a b"), threshold=0.5) == pytest.approx(6 / ((1 - 4 / 6) / 0.5))


def test_mtld_on_real_prose_and_a_loop():
    values = [mtld(words(b)) for b in BODIES]
    assert min(values) > 40  # scientific abstracts are lexically rich
    assert mtld(words(LOOP)) < 15  # under the default min_mtld of 20
    assert words("It\u2019s 3 o'clock, isn't it?") == ["it's", "3", "o'clock", "isn't", "it"]


def test_clean_records_are_kept_with_their_statistics():
    conversations = [_qa(k) for k in range(len(ABSTRACTS))]
    out, reasons = _run(conversations)
    assert reasons == [None] * len(ABSTRACTS)
    assert out.column("chat_turn_order_ok").to_pylist() == [True] * len(ABSTRACTS)
    assert out.column("chat_refusal").to_pylist() == [0] * len(ABSTRACTS)
    assert out.column("chat_pairs_removed").to_pylist() == [0] * len(ABSTRACTS)
    ratios = out.column("chat_length_ratio").to_pylist()
    for k, ratio in enumerate(ratios):
        user, assistant = conversations[k]
        assert ratio == len(assistant["content"].split()) / len(user["content"].split())
    mtlds = out.column("chat_mtld").to_pylist()
    assert mtlds == [pytest.approx(mtld(words(b))) for b in BODIES]
    echoes = out.column("chat_prompt_echo").to_pylist()
    # answers that reuse the title's phrases: measured, well under the 0.9 bound
    assert all(0 <= e < 0.6 for e in echoes) and max(echoes) > 0.3


def test_each_rule_names_its_drop():
    q = _qa(0)[0]["content"]
    echo_prompt = f"Rewrite this abstract in plain words: {BODIES[1]}"
    conversations = [
        _qa(0),  # clean
        [{"role": "user", "content": q}, {"role": "assistant", "content": REFUSAL}],
        [
            {"role": "user", "content": q},
            {"role": "assistant", "content": "As an AI language model, I " + BODIES[0]},
        ],
        [{"role": "user", "content": echo_prompt}, {"role": "assistant", "content": BODIES[1]}],
        [{"role": "user", "content": q}, {"role": "assistant", "content": LOOP}],
        [{"role": "user", "content": q}, {"role": "user", "content": q}, _qa(0)[1]],
        _qa(2)[:1],  # ends on the user turn
        [*_qa(3), {"role": "system", "content": "Be brief."}, *_qa(4)],  # system mid-way
        [_qa(5)[1], *_qa(5)],  # starts with the assistant
    ]
    out, reasons = _run(conversations)
    assert reasons == [
        None,
        "chat_refusal",
        "chat_refusal",
        "chat_prompt_echo",
        "chat_low_mtld",
        "chat_turn_order",
        "chat_turn_order",
        "chat_turn_order",
        "chat_turn_order",
    ]
    assert out.column("chat_refusal").to_pylist()[:3] == [0, 1, 1]
    assert out.column("chat_turn_order_ok").to_pylist() == [True] * 5 + [False] * 4
    echo = out.column("chat_prompt_echo").to_pylist()[3]
    assert echo == pytest.approx(prompt_echo(echo_prompt, BODIES[1]))
    assert 0.9 < echo < 1  # all of the abstract's 3-grams, none of the instruction's
    assert out.column("chat_mtld").to_pylist()[4] == pytest.approx(mtld(words(LOOP)))
    # a reply that quotes part of the prompt is not an echo
    quote = [
        {"role": "user", "content": echo_prompt},
        {"role": "assistant", "content": BODIES[1][:300]},
    ]
    assert _run([quote])[1] == [None]


def test_rules_can_be_switched_off_and_thresholds_move():
    q = _qa(0)[0]["content"]
    loop = [{"role": "user", "content": q}, {"role": "assistant", "content": LOOP}]
    refusal = [{"role": "user", "content": q}, {"role": "assistant", "content": REFUSAL}]
    bad_order = [{"role": "user", "content": q}, *_qa(0)]
    off = {"min_mtld": None, "refusal": False, "check_turn_order": False}
    assert _run([loop, refusal, bad_order], **off)[1] == [None, None, None]
    # MTLD is not judged under mtld_min_words
    out, reasons = _run([loop], mtld_min_words=100)
    assert reasons == [None] and out.column("chat_mtld").to_pylist() == [None]
    # length ratio: a one-word answer to a long prompt, a long answer to a short prompt
    short = [
        {"role": "user", "content": f"Summarise: {BODIES[0]}"},
        {"role": "assistant", "content": "No."},
    ]
    long = [{"role": "user", "content": "Why?"}, {"role": "assistant", "content": BODIES[0]}]
    out, reasons = _run([short, long, _qa(1)], min_length_ratio=0.05, max_length_ratio=50)
    assert reasons == ["chat_length_ratio", "chat_length_ratio", None]
    ratios = out.column("chat_length_ratio").to_pylist()
    assert ratios[0] == 1 / (len(BODIES[0].split()) + 1)
    assert ratios[1] == len(BODIES[0].split())
    assert _run([short, long])[1] == [None, None]  # off by default
    # extra phrases
    odd = [
        {"role": "user", "content": q},
        {"role": "assistant", "content": "Ask someone else. " + BODIES[0]},
    ]
    assert _run([odd], extra_refusal_phrases=("Ask someone else",))[1] == ["chat_refusal"]


def test_tool_calls_and_trajectories_follow_the_format():
    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": "search", "arguments": '{"q": "BEIR"}'},
    }
    agent = [
        {"role": "system", "content": "You can search papers."},
        {"role": "user", "content": f"Find the abstract of {TITLES[1]}."},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": BODIES[1]},
        {"role": "assistant", "content": "Here it is: " + BODIES[1]},
    ]
    assert turn_order_ok(agent)
    assert not turn_order_ok(agent[:3])  # the call is never answered
    assert not turn_order_ok([*agent[:3], *agent[4:]])  # no tool turn after the call
    assert not turn_order_ok([*agent[:2], agent[3], agent[4]])  # tool output without a call
    assert not turn_order_ok([*agent[:3], agent[3], {"role": "user", "content": "and?"}])
    thought = {"role": "assistant", "content": "I should search.", "_from": "thought"}
    assert turn_order_ok([*agent[:2], thought, *agent[2:]])
    assert not turn_order_ok([*agent[:2], {**thought, "_from": None}, *agent[2:]])
    assert not turn_order_ok([])
    out, reasons = _run([agent])
    assert reasons == [None] and out.column("chat_turn_order_ok").to_pylist() == [True]
    # ReAct (Yao et al.): steps, the last one's finish action unobserved, then the answer
    react = {
        "question": f"What does {TITLES[2]} propose?",
        "steps": [
            {
                "thought": "Search for it.",
                "action": "search",
                "action_input": {"q": TITLES[2]},
                "observation": BODIES[2],
            },
            {"thought": "Read it, nothing to call."},
            {"thought": "I know enough.", "action": "finish", "action_input": "done"},
        ],
    }
    table = pa.table(
        {
            "question": [react["question"]] * 2,
            "steps": [orjson.dumps(react["steps"]).decode()] * 2,
            "final_answer": [BODIES[2], None],
        }
    )
    react_out = winnow.apply_stage("chat_quality", table)
    assert react_out.column("chat_turn_order_ok").to_pylist() == [True, True]
    thinking = {**react, "steps": react["steps"][:2]}  # ends on a thought, nothing done
    table = pa.table(
        {"question": [react["question"]], "steps": [orjson.dumps(thinking["steps"]).decode()]}
    )
    assert winnow.apply_stage("chat_quality", table).column("drop_reason").to_pylist() == [
        "chat_turn_order"
    ]
    # the tool output is not response text: only the last assistant turn counts
    assert out.column("chat_length_ratio").to_pylist()[0] == pytest.approx(
        len(agent[4]["content"].split())
        / len(" ".join([agent[0]["content"], agent[1]["content"]]).split())
    )


def test_language_of_the_refusal_list():
    q = _qa(0)[0]["content"]
    answers = {
        "de": "Es tut mir leid, aber ich kann diese Frage nicht beantworten.",
        "fr": "Je suis désolé, mais je ne peux pas résumer cet article.",
        "es": "Lo siento, pero no puedo resumir este artículo.",
    }
    conversations = [
        [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        for a in answers.values()
    ]
    # no lang column: every list
    assert _run(conversations)[1] == ["chat_refusal"] * 3
    table = _table(conversations * 2).append_column("lang", pa.array([*answers, "en", "en", "de"]))
    out = winnow.apply_stage("chat_quality", table)
    # each language's own list, plus English; the German one flagged as English is not
    assert out.column("drop_reason").to_pylist() == ["chat_refusal"] * 3 + [None] * 3
    # the batch's RE2 pre-filter finds what the per-turn check finds (odd spaces and case too)
    stage = winnow.make_stage("chat_quality")
    odd = ["I\u00a0CANNOT help with that.", "As\u2003an AI language model, I", "as an aid"]
    turns = [[{"role": "user", "content": q}, {"role": "assistant", "content": a}] for a in odd]
    batch = pa.RecordBatch.from_pylist(
        [
            {
                "id": str(k),
                "text": "",
                "source": "t",
                "meta": "{}",
                "messages": orjson.dumps(t).decode(),
            }
            for k, t in enumerate(conversations + turns)
        ],
        schema=DOC_SCHEMA,
    )
    found = stage.process(batch).batch.column("chat_refusal").to_pylist()
    assert found == [stage.judge(t)[0]["chat_refusal"] for t in conversations + turns]
    assert found == [1, 1, 1, 1, 1, 0]
    english = [{"role": "user", "content": q}, {"role": "assistant", "content": REFUSAL}]
    table = _table([english]).append_column("lang", pa.array(["de"]))
    assert winnow.apply_stage("chat_quality", table).column("drop_reason").to_pylist() == [
        "chat_refusal"
    ]


def test_turn_pair_cuts_only_the_offending_pair():
    q = _qa(0)[0]["content"]
    refused = [{"role": "user", "content": q}, {"role": "assistant", "content": REFUSAL}]
    echo_prompt = f"Rewrite this abstract in plain words: {BODIES[2]}"
    echoed = [{"role": "user", "content": echo_prompt}, {"role": "assistant", "content": BODIES[2]}]
    mixed = _chat(_qa(3), refused, _qa(4), echoed, system="You summarise papers.")
    only_bad = _chat(refused, echoed)
    out, reasons = _run([mixed, only_bad, _qa(5)], drop_unit="turn_pair")
    assert reasons == [None, "chat_refusal", None]
    assert out.column("chat_pairs_removed").to_pylist() == [2, 2, 0]
    kept = [orjson.loads(m) for m in out.column("messages").to_pylist()]  # JSON in, JSON out
    assert kept[0] == _chat(_qa(3), _qa(4), system="You summarise papers.")
    assert kept[2] == _qa(5)
    text = out.column("text").to_pylist()[0]  # the text view follows the turns
    assert "sorry" not in text and BODIES[2] not in text and BODIES[4] in text
    assert text.startswith("system: You summarise papers.\n\nuser: ")
    # statistics: refusals and echo counted on the record as it came, MTLD on what is left
    assert out.column("chat_refusal").to_pylist()[0] == 1
    assert out.column("chat_prompt_echo").to_pylist()[0] > 0.9
    assert out.column("chat_mtld").to_pylist()[0] == pytest.approx(
        mtld(words(f"{BODIES[3]}\n\n{BODIES[4]}"))
    )
    # an echo-only record with nothing left is dropped as an echo
    assert _run([echoed], drop_unit="turn_pair")[1] == ["chat_prompt_echo"]
    # record mode drops the whole of the mixed record
    assert _run([mixed])[1] == ["chat_refusal"]


def test_turn_pair_keeps_private_keys_and_tool_turns_go_with_their_pair():
    stage = winnow.make_stage("chat_quality", drop_unit="turn_pair")
    call = {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
    turns = [
        {"role": "user", "content": "Who wrote it?", "_from": "human"},
        {"role": "assistant", "content": None, "tool_calls": [call], "_from": "gpt"},
        {"role": "tool", "content": "nothing found", "tool_call_id": "c1", "_from": "observation"},
        {"role": "assistant", "content": REFUSAL, "_from": "gpt", "_raw": "kept verbatim"},
        {"role": "user", "content": _qa(6)[0]["content"], "_from": "human"},
        {"role": "assistant", "content": BODIES[6], "_from": "gpt", "_raw": "x"},
    ]
    n = 3
    batch = pa.RecordBatch.from_pylist(
        [
            {
                "id": "c",
                "text": "",
                "source": "s:1",
                "meta": "{}",
                "messages": orjson.dumps(turns).decode(),
                "chat_format": "sharegpt",
            },
            {
                "id": "p",
                "text": "a plain document",
                "source": "s:2",
                "meta": "{}",
                "messages": None,
                "chat_format": None,
            },
            {
                "id": "q",
                "text": "",
                "source": "s:3",
                "meta": "{}",
                "messages": orjson.dumps(_qa(7)).decode(),
                "chat_format": "openai",
            },
        ],
        schema=DOC_SCHEMA,
    )
    result = stage.process(batch)
    assert result.batch.num_rows == n
    assert result.reason.to_pylist() == [None, None, None]
    messages = result.batch.column("messages").to_pylist()
    assert orjson.loads(messages[0]) == turns[4:]  # _from and _raw as they were
    assert messages[1] is None
    assert messages[2] == batch.column("messages")[2].as_py()  # untouched rows untouched


def test_plain_documents_pass_untouched():
    texts = [r["text"] for r in ABSTRACTS[:5]] + ["I'm sorry, but I can't help with that."]
    table = pa.table(
        {
            "text": texts + [None],
            "messages": [None] * 6
            + [[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": REFUSAL}]],
        }
    )
    out = winnow.apply_stage("chat_quality", table)
    assert out.column("text").to_pylist()[:6] == texts
    assert out.column("drop_reason").to_pylist() == [None] * 6 + ["chat_refusal"]
    for name in (
        "chat_turn_order_ok",
        "chat_refusal",
        "chat_prompt_echo",
        "chat_length_ratio",
        "chat_mtld",
        "chat_pairs_removed",
    ):
        assert out.column(name).to_pylist()[:6] == [None] * 6
    plain = winnow.apply_stage("chat_quality", pa.table({"text": texts}))
    assert plain.column("keep").to_pylist() == [True] * 6
    assert plain.column("text").to_pylist() == texts


def test_a_run_end_to_end(tmp_path):
    q = _qa(0)[0]["content"]
    records = []
    for k in range(40):
        conversation = _qa(k)
        if k % 10 == 1:
            conversation = [conversation[0], {"role": "assistant", "content": REFUSAL}]
        elif k % 10 == 2:
            conversation = [{"role": "user", "content": q}, {"role": "assistant", "content": LOOP}]
        elif k % 10 == 3:
            conversation = conversation[:1]
        elif k % 10 == 4:  # a refused follow-up: turn_pair keeps the first pair
            conversation = _chat(
                conversation,
                [
                    {"role": "user", "content": "Now in French?"},
                    {"role": "assistant", "content": REFUSAL},
                ],
            )
        records.append({"id": f"c{k}", "messages": conversation})
    records += [{"id": f"plain{k}", "text": BODIES[k]} for k in range(5)]
    path = write_jsonl(tmp_path / "chat.jsonl", records)
    out = tmp_path / "out"
    result = winnow.run(
        {
            "inputs": [str(path)],
            "output": str(out),
            "stages": [{"chat_quality": {"drop_unit": "turn_pair"}}],
        },
        workers=1,
    )
    assert result.stats["input_docs"] == 45
    ledger = {r["id"]: r["reason"] for r in read_ledger(out)}
    expected = {f"c{k}": "chat_refusal" for k in range(1, 40, 10)}
    expected |= {f"c{k}": "chat_low_mtld" for k in range(2, 40, 10)}
    expected |= {f"c{k}": "chat_turn_order" for k in range(3, 40, 10)}
    assert ledger == expected
    docs = {d["id"]: d for d in read_output(out)}
    assert len(docs) == 45 - len(expected) == result.stats["output_docs"]
    for k in range(4, 40, 10):  # the refused pair is gone, the first one stays
        assert docs[f"c{k}"]["messages"] == _qa(k)
    assert docs["plain0"]["text"] == BODIES[0]
