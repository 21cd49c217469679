"""C4's line and document rules (Raffel et al. 2020, section 2.2), with datatrove's
definitions and defaults (``C4QualityFilter``): lines need terminal punctuation and three
words; lines mentioning javascript or cookie/terms policies and lines with a >1000-char word
are removed; documents with "lorem ipsum" or "{" or fewer than five sentences are dropped.

Like datatrove, the stage rewrites ``text`` to the kept lines (``remove_lines: false`` keeps
the text and only decides). Sentences are counted with spaCy's sentencizer rules over the
document language's words (``winnow.text.languages``).

C4 was English-only. A deliberate difference from datatrove for other languages (English
decisions are unchanged): a line may end in any script's terminal punctuation (datatrove's
list: 。 ！ । ؟ …) and its words are counted by the language's segmenter, so Chinese and
Japanese lines are not all removed for lacking "." and spaces. Thai marks sentence ends
with spaces, not punctuation, so C4's line rule still removes Thai text.
"""

from __future__ import annotations

import re

import pyarrow as pa
from pydantic import Field

from winnow.stages.base import RowResult, RowStage, register, with_text
from winnow.stages.quality.base import LanguageParams, document_languages, punctuation
from winnow.text.languages import segmenter
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


class C4Params(LanguageParams):
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

    def _lines(self, text: str, lang: str) -> tuple[str | None, str, int, int]:
        p = self.params
        words_of = segmenter(lang)
        english_rules = lang == "en"
        end_punctuation = END_PUNCTUATION if english_rules else END_PUNCTUATION + punctuation()[1]
        sentences, kept, removed = 0, [], 0
        for line in text.splitlines():
            line = line.strip()
            words = line.split() if english_rules or words_of is english() else None
            if (
                p.max_word_length != -1
                and len(line) > p.max_word_length
                and max(map(len, line.split())) > p.max_word_length
            ):
                removed += 1
                continue
            if p.remove_citations:
                line = CITATION.sub("", line)
            if p.filter_no_terminal_punct and (
                not line.endswith(end_punctuation) or line.endswith("...")
            ):
                removed += 1
                continue
            if words is None:
                words = words_of.words(line)
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
        originals = [text or "" for text in batch.column("text").to_pylist()]
        langs = document_languages(batch, originals, self.params.language)
        for text, lang in zip(originals, langs):
            reason, kept, n_removed, n_sentences = self._lines(text, lang)
            texts.append(kept if reason is None and self.params.remove_lines else text)
            reasons.append(reason)
            removed.append(n_removed)
            sentences.append(n_sentences)
        batch = with_text(batch, texts)
        batch = batch.append_column("c4_lines_removed", pa.array(removed, pa.int64()))
        batch = batch.append_column("c4_sentences", pa.array(sentences, pa.int64()))
        reason = pa.array(reasons, pa.string())
        return RowResult(batch=batch, reason=reason)
