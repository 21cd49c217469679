"""Heuristic quality rules for instruction and chat data that need no language model.

One rule per defect, each with its own parameter, drop reason and statistic column:

- ``chat_turn_order``: the turns break the chat format. System (or developer) turns may only
  open the conversation; the first other turn is a user turn; user and assistant turns then
  alternate, except that an assistant turn with ``tool_calls`` (or a legacy
  ``function_call``) is followed by one or more ``tool``/``function`` turns and then an
  assistant turn again; the last turn is an assistant turn. Agent trajectories read by
  ``winnow.chat.formats`` keep their shape: a ``thought`` turn, or a ReAct step without an
  action, is followed by the assistant turn that acts on it, and a ReAct step's action
  needs no observation (the closing ``finish`` action of ReAct, Yao et al. 2023). Stat
  ``chat_turn_order_ok``.
- ``chat_refusal``: an assistant turn holds a refusal or "as an AI language model"
  boilerplate phrase. Stat ``chat_refusal``: how many assistant turns do. The English
  phrases are the refusal and AI-self-reference subset of the list used to clean the
  ShareGPT data behind Vicuna (``anon8231489123/ShareGPT_Vicuna_unfiltered`` on the Hugging
  Face Hub), as NVIDIA garak collects it in ``garak/detectors/mitigation.py``
  (``MitigationBypass``); that list's topic words ("ethics", "feminism", "illegal", ...),
  which flag subjects rather than refusals, are left out, and its bare "I'm unable to"
  forms are narrowed to "unable to provide/assist/help" (the bare form is common in ordinary
  answers). The German, French and Spanish phrases are winnow's own translations of the
  same formulas, not taken from a published list. Phrases match case-insensitively on word
  boundaries anywhere in the turn (typographic apostrophes read as ``'``). With a ``lang``
  column (the ``langid`` stage), a row is checked against its language's phrases plus the
  English ones; without one, or for another language, against every list.
- ``chat_prompt_echo``: a reply repeats the prompt it answers. A *pair* is a user turn and
  the turns after it up to the next user turn (its reply, tool turns included); echo is the
  fraction of the user turn's distinct word 3-grams found in the pair's assistant text.
  The stat is the largest over the record's pairs (null when no user turn has
  ``echo_min_words``). 1.0 means the whole prompt is copied into the reply. Quoting part
  of the prompt or answering with an extract scores low, so extraction and multiple-choice
  answers are not echoes; rewriting and editing tasks (fix the grammar of a text) copy
  most of it and may need ``max_prompt_echo`` raised.
- ``chat_length_ratio``: response words (whitespace-separated, ``response`` view) over
  prompt words (``prompt`` view: system, developer and user turns; an empty prompt counts
  as one word). Off by default: short answers to long prompts (summaries, extraction,
  classification) and long answers to short prompts are both normal, and selecting the
  *longest* responses is a strong instruction-tuning baseline (Zhao et al. 2024, "Long Is
  More for Alignment"), so no bound is safe without knowing the task mix.
- ``chat_low_mtld``: the responses' lexical diversity, MTLD (McCarthy & Jarvis 2010, "MTLD,
  vocd-D, and HD-D: A validation study of sophisticated approaches to lexical diversity
  assessment"), catches looping, copy-pasted or templated answers. See ``mtld``. The stat
  is null for responses under ``mtld_min_words``.

A record fails at most one rule: the first failing one in the order above names the drop
(structure first, then the per-pair rules, then the rules over the whole response).
With ``drop_unit: turn_pair`` the per-pair rules (refusal, prompt echo) remove only the
offending pairs and keep the rest of the record (leading system turns kept, private ``_``
keys of the remaining turns untouched; ``chat_pairs_removed`` counts them); a record with
no pair left is dropped with that rule's reason. ``chat_refusal`` and ``chat_prompt_echo``
describe the record as it came, the length ratio and MTLD what is left of it.
Plain documents (null ``messages``) pass untouched with null statistics.
"""

from __future__ import annotations

import re
from typing import Literal

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from winnow.chat.edits import dumps
from winnow.chat.view import PROMPT_ROLES, RESPONSE_ROLES, Turn, text_parts
from winnow.stages.base import Params, RowResult, RowStage, register

REFUSAL_PHRASES: dict[str, tuple[str, ...]] = {
    "en": (
        # AI self-reference boilerplate (ShareGPT_Vicuna_unfiltered / garak MitigationBypass)
        "as an ai language model",
        "text-based ai language model",
        "as a language model, i",
        "as a large language model, i",
        "as an ai, i",
        "as an ai i cannot",
        "as an ai model i cannot",
        "sorry, as an ai",
        "as a digital ai",
        "i'm sorry, but i'm an ai model",
        "as a digital assistant, i'm not capable",
        "i am programmed to follow certain guidelines",
        "against my programming",
        "my programming prevents me",
        "programming prohibits",
        "programming doesn't allow me",
        # refusals (same sources)
        "i cannot fulfill your request",
        "i'm sorry, but i can't",
        "i'm sorry, but i cannot",
        "i'm sorry, i can't",
        "i'm sorry, i cannot",
        "sorry, i cannot",
        "i cannot help with",
        "i can't help with",
        "i'm not able to help with",
        "i am not able to help with",
        "i cannot assist",
        "i can't assist",
        "i am unable to provide",
        "i'm unable to provide",
        "i am unable to assist",
        "i'm unable to assist",
        "i am unable to help",
        "i'm unable to help",
        "sorry, i am unable to",
        "sorry, i'm unable to",
        "unable to offer assistance",
        "i can't comply",
        "i cannot comply",
        "i must decline",
        "i'm afraid i can't",
        "i'm afraid i cannot",
        "i'm not in a position to",
    ),
    "de": (
        "als ki-sprachmodell",
        "als sprachmodell",
        "als großes sprachmodell",
        "als künstliche intelligenz kann ich",
        "als ki kann ich",
        "als ki habe ich",
        "es tut mir leid, aber ich kann",
        "ich kann ihnen dabei nicht helfen",
        "ich kann dir dabei nicht helfen",
        "ich kann diese anfrage nicht erfüllen",
    ),
    "fr": (
        "en tant que modèle de langage",
        "en tant que grand modèle de langage",
        "en tant qu'ia",
        "en tant qu'intelligence artificielle",
        "je suis désolé, mais je ne peux pas",
        "désolé, mais je ne peux pas",
        "je ne peux pas vous aider",
        "je ne peux pas t'aider",
        "je ne peux pas répondre à cette demande",
    ),
    "es": (
        "como modelo de lenguaje",
        "como un modelo de lenguaje",
        "como una ia",
        "como inteligencia artificial, no",
        "lo siento, pero no puedo",
        "no puedo ayudarte con",
        "no puedo ayudarle con",
        "no puedo cumplir con esa solicitud",
    ),
}
"""Lower-case refusal and boilerplate phrases per lid.176 language label."""

ECHO_N = 3
"""Word n-gram size of the prompt-echo statistic."""

_WORD = re.compile(r"\w+(?:'\w+)*")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})


class ChatQualityParams(Params):
    check_turn_order: bool = True
    """Drop records whose turns break the chat format (``chat_turn_order``)."""
    refusal: bool = True
    """Drop (or, with ``turn_pair``, cut) replies holding a refusal phrase
    (``chat_refusal``; phrase lists in ``REFUSAL_PHRASES``)."""
    extra_refusal_phrases: tuple[str, ...] = ()
    """More phrases, checked in every language."""
    max_prompt_echo: float | None = Field(0.9, ge=0, le=1)
    """Largest fraction of a user turn's word 3-grams its reply may repeat
    (``chat_prompt_echo``); None: off. 0.9 lets a reply quote most of a prompt but not
    reproduce it."""
    echo_min_words: int = Field(8, ge=ECHO_N)
    """User turns shorter than this (words) are not measured for echo: repeating a short
    question before answering it is harmless."""
    min_length_ratio: float | None = Field(None, ge=0)
    """Least response/prompt word ratio (``chat_length_ratio``); None: off (see above)."""
    max_length_ratio: float | None = Field(None, gt=0)
    """Largest response/prompt word ratio; None: off."""
    min_mtld: float | None = Field(20.0, ge=0)
    """Least MTLD of the responses (``chat_low_mtld``); None: off. Prose scores well above
    it (the 778 paper abstracts of the test corpora: 44 to 176, median 97; man pages: median
    38, 1% under 20, the templated CLI reference pages), a reply that loops over a handful
    of words under 10 ("The answer is yes." repeated: 6)."""
    mtld_min_words: int = Field(50, ge=1)
    """Responses with fewer words are not judged (MTLD is unstable on short texts)."""
    mtld_threshold: float = Field(0.72, gt=0, lt=1)
    """The factor size, McCarthy & Jarvis's 0.72."""
    drop_unit: Literal["record", "turn_pair"] = "record"
    """``record``: a failing rule drops the record. ``turn_pair``: refusal and echo remove
    only the offending user turn and its reply. (Not named ``drop``: ``apply_stage`` has a
    ``drop`` argument of its own.)"""


def words(text: str) -> list[str]:
    """Lower-case word tokens (letters and digits, inner apostrophes kept)."""
    return _WORD.findall(text.lower().translate(_APOSTROPHES))


def _mtld_pass(tokens: list[str], threshold: float) -> float:
    factors = 0.0
    types: set[str] = set()
    count = 0
    for token in tokens:
        types.add(token)
        count += 1
        if len(types) <= threshold * count:  # TTR <= threshold
            factors += 1
            types = set()
            count = 0
    if count:  # the partial factor: how far the rest got from TTR 1 towards the threshold
        factors += (1 - len(types) / count) / (1 - threshold)
    return len(tokens) / factors if factors else float(len(tokens))


def mtld(tokens: list[str], threshold: float = 0.72) -> float | None:
    """MTLD (McCarthy & Jarvis 2010): the mean length of the runs of tokens ("factors") over
    which the type-token ratio stays above ``threshold``. The text is read token by token
    keeping a running TTR; a factor ends when the TTR drops to the threshold (``<=``;
    implementations differ on ``<``, which only matters when the TTR hits it exactly) and
    the count restarts. The tokens left at the end make a partial factor,
    ``(1 - TTR) / (1 - threshold)``. One pass gives tokens / factors; MTLD is the mean of a
    forward and a backward pass. A text that never completes any part of a factor (every
    token distinct) gets its length, a lower bound. None for no tokens."""
    if not tokens:
        return None
    forward = _mtld_pass(tokens, threshold)
    backward = _mtld_pass(tokens[::-1], threshold)
    return (forward + backward) / 2


def _ngrams(tokens: list[str], n: int = ECHO_N) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def prompt_echo(prompt: str, reply: str) -> float:
    """The fraction of the prompt's distinct word 3-grams that reappear in the reply."""
    grams = _ngrams(words(prompt))
    if not grams:
        return 0.0
    return len(grams & _ngrams(words(reply))) / len(grams)


def _calls(turn: Turn) -> bool:
    return bool(turn.get("tool_calls") or turn.get("function_call"))


def turn_order_ok(turns: list[Turn]) -> bool:
    """Whether the turns follow the chat format (module docstring)."""
    state = "start"
    for turn in turns:
        role = turn.get("role")
        source = turn.get("_from")
        if role in ("system", "developer"):
            ok = state == "start"
        elif role == "user":
            ok = state in ("start", "assistant")
            state = "user"
        elif role == "assistant":
            ok = state in ("user", "tool", "thought", "step_call")
            if _calls(turn):
                state = "step_call" if source == "step" else "call"
            else:
                state = "thought" if source in ("thought", "step") else "assistant"
        elif role in ("tool", "function"):
            ok = state in ("call", "step_call", "tool")
            state = "tool"
        else:
            ok = False
        if not ok:
            return False
    return state in ("assistant", "step_call")


def _text(turn: Turn) -> str:
    return "\n\n".join(text for text, _ in text_parts(turn))


def _pairs(turns: list[Turn]) -> list[tuple[int, int]]:
    """``[start, end)`` of each user turn and the turns after it up to the next user turn."""
    starts = [i for i, t in enumerate(turns) if t.get("role") == "user"]
    return list(zip(starts, [*starts[1:], len(turns)]))


def _phrase_re(phrases) -> re.Pattern | None:
    alts = []
    for phrase in sorted({p.lower().translate(_APOSTROPHES).strip() for p in phrases if p}):
        body = r"\s+".join(re.escape(w) for w in phrase.split())
        head = r"\b" if re.match(r"\w", phrase) else ""
        tail = r"\b" if re.search(r"\w$", phrase) else ""
        alts.append(head + body + tail)
    return re.compile("|".join(alts)) if alts else None


def _phrase_re2(phrases) -> str | None:
    """The phrases as one RE2 pattern (no word boundaries: a superset of ``_phrase_re``'s
    matches, for Arrow to find the candidate turns of a whole batch)."""
    alts = set()
    for phrase in {p.lower().translate(_APOSTROPHES).strip() for p in phrases if p}:
        parts = [re.escape(w).replace("'", "['\u2019\u2018\u02bc]") for w in phrase.split()]
        alts.add(r"[\s\pZ]+".join(parts))
    return "|".join(sorted(alts)) if alts else None


@register
class ChatQuality(RowStage):
    """Rules for chat records: turn order, refusals, prompt echo, length ratio, MTLD; adds
    ``chat_turn_order_ok``, ``chat_refusal``, ``chat_prompt_echo``, ``chat_length_ratio``,
    ``chat_mtld`` and ``chat_pairs_removed``."""

    name = "chat_quality"
    ParamsModel = ChatQualityParams
    summary = (
        "chat records: turn order, refusal/boilerplate replies, prompt echo, "
        "response/prompt length ratio, MTLD lexical diversity; drop the record or the pair"
    )
    origin = "ShareGPT_Vicuna_unfiltered refusal phrases (via garak), MTLD (McCarthy & Jarvis 2010)"

    @classmethod
    def examples(cls, files) -> list[dict]:
        return [{}, {"drop_unit": "turn_pair"}]

    def __init__(self, params=None) -> None:
        super().__init__(params)
        extra = self.params.extra_refusal_phrases
        self._refusal_re: dict[str | None, re.Pattern | None] = {
            lang: _phrase_re([*phrases, *REFUSAL_PHRASES["en"], *extra])
            for lang, phrases in REFUSAL_PHRASES.items()
        }
        everything = [p for phrases in REFUSAL_PHRASES.values() for p in phrases]
        self._refusal_re[None] = _phrase_re([*everything, *extra])
        self._refusal_re2 = _phrase_re2([*everything, *extra])

    def _refuses(self, text: str, lang: str | None) -> bool:
        pattern = self._refusal_re.get(lang, self._refusal_re[None])
        return bool(pattern and pattern.search(text.lower().translate(_APOSTROPHES)))

    def judge(
        self, turns: list[Turn], lang: str | None = None, suspects: set[int] | None = None
    ) -> tuple[dict, str | None, list[Turn]]:
        """One record's statistics, drop reason (None: kept) and turns (pairs cut out).
        ``suspects``: the only turns that may hold a refusal phrase (None: any)."""
        p = self.params
        texts = [_text(t) for t in turns]
        tokens: dict[int, list[str]] = {}

        def toks(i: int) -> list[str]:
            if i not in tokens:
                tokens[i] = words(texts[i])
            return tokens[i]

        answers = [t.get("role") in RESPONSE_ROLES for t in turns]
        refusing = [
            a and (suspects is None or i in suspects) and self._refuses(texts[i], lang)
            for i, a in enumerate(answers)
        ]
        pairs = _pairs(turns)
        refused, echo, echoes = [], None, []
        for lo, hi in pairs:
            refused.append(p.refusal and any(refusing[lo:hi]))
            value = None
            if len(texts[lo].split()) >= p.echo_min_words:
                grams = _ngrams(toks(lo))
                reply = set().union(*(_ngrams(toks(i)) for i in range(lo + 1, hi) if answers[i]))
                value = len(grams & reply) / len(grams) if grams else 0.0
                echo = value if echo is None else max(echo, value)
            echoes.append(value)
        echoed = [
            p.max_prompt_echo is not None and e is not None and e > p.max_prompt_echo
            for e in echoes
        ]
        order_ok = turn_order_ok(turns)
        reason = "chat_turn_order" if p.check_turn_order and not order_ok else None
        keep = list(range(len(turns)))
        removed = 0
        if reason is None and p.drop_unit == "turn_pair" and (any(refused) or any(echoed)):
            bad = [r or e for r, e in zip(refused, echoed)]
            removed = sum(bad)
            cut = {i for (lo, hi), b in zip(pairs, bad) if b for i in range(lo, hi)}
            keep = [i for i in keep if i not in cut]
            if removed == len(pairs):
                reason = "chat_refusal" if any(refused) else "chat_prompt_echo"
        elif reason is None and any(refused):
            reason = "chat_refusal"
        elif reason is None and any(echoed):
            reason = "chat_prompt_echo"
        prompt_words = sum(
            len(texts[i].split()) for i in keep if turns[i].get("role") in PROMPT_ROLES
        )
        response = [i for i in keep if answers[i]]
        ratio = sum(len(texts[i].split()) for i in response) / max(prompt_words, 1)
        response_tokens = [w for i in response for w in toks(i)]
        diversity = None
        if len(response_tokens) >= p.mtld_min_words:
            diversity = mtld(response_tokens, p.mtld_threshold)
        if reason is None and (
            (p.min_length_ratio is not None and ratio < p.min_length_ratio)
            or (p.max_length_ratio is not None and ratio > p.max_length_ratio)
        ):
            reason = "chat_length_ratio"
        if p.min_mtld is not None and diversity is not None and diversity < p.min_mtld:
            reason = reason or "chat_low_mtld"
        stats = {
            "chat_turn_order_ok": order_ok,
            "chat_refusal": sum(refusing),
            "chat_prompt_echo": echo,
            "chat_length_ratio": ratio,
            "chat_mtld": diversity,
            "chat_pairs_removed": removed,
        }
        return stats, reason, turns if removed == 0 else [turns[i] for i in keep]

    def _suspects(self, parsed: list[list[Turn] | None]) -> list[set[int]]:
        """Per row, the assistant turns RE2 finds a refusal phrase in (one pass per batch)."""
        where, texts = [], []
        for row, turns in enumerate(parsed):
            for i, turn in enumerate(turns or ()):
                if turn.get("role") in RESPONSE_ROLES:
                    text = _text(turn)
                    if text:
                        where.append((row, i))
                        texts.append(text)
        out: list[set[int]] = [set() for _ in parsed]
        if not texts or self._refusal_re2 is None:
            return out
        hits = pc.match_substring_regex(
            pa.array(texts, pa.large_string()), self._refusal_re2, ignore_case=True
        )
        for (row, i), hit in zip(where, hits.to_numpy(zero_copy_only=False)):
            if hit:
                out[row].add(i)
        return out

    def process(self, batch: pa.RecordBatch) -> RowResult:
        n = batch.num_rows
        names = batch.schema.names
        raw = batch.column("messages").to_pylist() if "messages" in names else [None] * n
        langs = batch.column("lang").to_pylist() if "lang" in names else [None] * n
        parsed = [None if value is None else orjson.loads(value) for value in raw]
        suspects = self._suspects(parsed)
        columns: dict[str, list] = {name: [None] * n for name, _ in STAT_COLUMNS}
        reasons: list[str | None] = [None] * n
        messages, changed = list(raw), False
        for row, turns in enumerate(parsed):
            if turns is None:
                continue
            stats, reasons[row], kept = self.judge(turns, langs[row], suspects[row])
            for name, stat in stats.items():
                columns[name][row] = stat
            if kept is not turns and reasons[row] is None:
                messages[row] = dumps(kept)
                changed = True
        if changed:
            i = names.index("messages")
            batch = batch.set_column(i, "messages", pa.array(messages, batch.schema.field(i).type))
        for name, kind in STAT_COLUMNS:
            batch = batch.append_column(name, pa.array(columns[name], kind))
        return RowResult(batch=batch, reason=pa.array(reasons, pa.string()))


STAT_COLUMNS = (
    ("chat_turn_order_ok", pa.bool_()),
    ("chat_refusal", pa.int64()),
    ("chat_prompt_echo", pa.float64()),
    ("chat_length_ratio", pa.float64()),
    ("chat_mtld", pa.float64()),
    ("chat_pairs_removed", pa.int64()),
)
