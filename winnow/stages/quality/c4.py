"""C4's line and document rules (Raffel et al. 2020, section 2.2), with datatrove's
definitions and defaults (``C4QualityFilter``): lines need terminal punctuation and three
words; lines mentioning javascript or cookie/terms policies and lines with a >1000-char word
are removed; documents with "lorem ipsum" or "{" or fewer than five sentences are dropped.

Like datatrove, the stage rewrites ``text`` to the kept lines (``remove_lines: false`` keeps
the text and only decides). Sentences are counted with spaCy's English sentencizer rules.
Scripts whose sentences end in other marks (。 ।) have no kept lines and are dropped as
``too_few_sentences``, as in datatrove; C4 itself was English-only.
"""

from __future__ import annotations

import re

import pyarrow as pa
from pydantic import Field

from winnow.stages.base import Params, RowResult, RowStage, register, with_text
from winnow.text.words import english

CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
END_PUNCTUATION = (".", "?", "!", '"', "'")
POLICY_SUBSTRINGS = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)


class C4Params(Params):
    remove_citations: bool = True
    filter_no_terminal_punct: bool = True
    min_num_sentences: int = Field(5, ge=-1)
    """-1 disables."""
    min_words_per_line: int = Field(3, ge=-1)
    max_word_length: int = Field(1000, ge=-1)
    filter_lorem_ipsum: bool = True
    filter_javascript: bool = True
    filter_curly_bracket: bool = True
    filter_policy: bool = True
    remove_lines: bool = True
    """Rewrite the text to the kept lines, as C4 and datatrove do."""


@register
class C4Quality(RowStage):
    """C4's heuristics; reasons as datatrove names them."""

    name = "c4_quality"
    ParamsModel = C4Params
    summary = (
        "C4 line rules (terminal punctuation, 3 words, javascript, policy), "
        "lorem ipsum, curly bracket, 5 sentences"
    )
    origin = "C4 (Raffel et al. 2020) via datatrove C4QualityFilter, same defaults"

    def _lines(self, text: str) -> tuple[str | None, str, int, int]:
        p = self.params
        words_of = english()
        sentences, kept, removed = 0, [], 0
        for line in text.splitlines():
            line = line.strip()
            words = line.split()
            if (
                p.max_word_length != -1
                and len(line) > p.max_word_length
                and max(map(len, words)) > p.max_word_length
            ):
                removed += 1
                continue
            if p.remove_citations:
                line = CITATION.sub("", line)
            if p.filter_no_terminal_punct and (
                not line.endswith(END_PUNCTUATION) or line.endswith("...")
            ):
                removed += 1
                continue
            if len(words) < p.min_words_per_line:
                removed += 1
                continue
            lower = line.lower()
            if p.filter_lorem_ipsum and "lorem ipsum" in lower:
                return "lorem_ipsum", text, removed, sentences
            if p.filter_javascript and "javascript" in lower:
                removed += 1
                continue
            if p.filter_curly_bracket and "{" in line:
                return "curly_bracket", text, removed, sentences
            if p.filter_policy and any(s in lower for s in POLICY_SUBSTRINGS):
                removed += 1
                continue
            if p.min_num_sentences != -1:
                sentences += words_of.sentence_count(line)
            kept.append(line)
        if sentences < p.min_num_sentences:
            return "too_few_sentences", text, removed, sentences
        return None, "\n".join(kept).strip(), removed, sentences

    def process(self, batch: pa.RecordBatch) -> RowResult:
        texts, reasons, removed, sentences = [], [], [], []
        for text in batch.column("text").to_pylist():
            reason, kept, n_removed, n_sentences = self._lines(text or "")
            texts.append(kept if reason is None and self.params.remove_lines else text)
            reasons.append(reason)
            removed.append(n_removed)
            sentences.append(n_sentences)
        batch = with_text(batch, texts)
        batch = batch.append_column("c4_lines_removed", pa.array(removed, pa.int64()))
        batch = batch.append_column("c4_sentences", pa.array(sentences, pa.int64()))
        reason = pa.array(reasons, pa.string())
        return RowResult(batch=batch, reason=reason)
