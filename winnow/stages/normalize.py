"""Text normalisation: mojibake repair, Unicode NFC, whitespace."""

from __future__ import annotations

import functools
import re
import unicodedata

import ftfy
import pyarrow as pa
import pyarrow.compute as pc
from ftfy.badness import BADNESS_RE

from winnow.chat.edits import map_slots
from winnow.stages.base import Params, RowResult, RowStage, register
from winnow.stages.textops import nfc_suspect_re2, rewrite_rows, verbose_to_re2

MOJIBAKE_RE2 = verbose_to_re2(BADNESS_RE.pattern)
"""ftfy's own "looks like mojibake" test, compiled for Arrow so only suspect rows reach ftfy."""
_FTFY = ftfy.TextFixerConfig(
    unescape_html=False,
    remove_terminal_escapes=True,
    fix_latin_ligatures=False,
    fix_character_width=False,
    uncurl_quotes=False,
    fix_line_breaks=False,
    remove_control_chars=False,
    normalization=None,
)
"""ftfy limited to encoding repair: mojibake, C1 controls, lossy sequences, terminal escapes."""

_ODD_SPACES = re.compile("[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_LINE_ENDS = r"[ \t]*(\n)(?:[ \t]*(\n))+|[ \t]+(\n)"
"""Trailing spaces go; two or more line breaks (with only blanks between) become one blank line."""


class NormalizeParams(Params):
    fix_mojibake: bool = True
    """Repair text decoded with the wrong codec (ftfy), only on rows ftfy's detector flags."""
    nfc: bool = True
    """Unicode canonical composition (NFC)."""
    whitespace: bool = True
    """Unicode spaces → ' ', CRLF → LF, no trailing spaces, at most one blank line, trimmed."""


@register
class Normalize(RowStage):
    """Repair and canonicalise text so later hashes and statistics compare like with like."""

    name = "normalize"
    ParamsModel = NormalizeParams
    summary = "mojibake repair (ftfy), Unicode NFC, whitespace cleanup"
    origin = "ftfy (Speer 2019); NFC + whitespace cleanup as in CCNet / data-juicer mappers"

    def normalize(self, text: pa.Array) -> pa.Array:
        p = self.params
        if not len(text):
            return text
        if p.fix_mojibake:
            suspect = pc.match_substring_regex(text, MOJIBAKE_RE2)
            text = rewrite_rows(text, suspect, lambda s: ftfy.fix_text(s, _FTFY))
        if p.nfc or p.whitespace:
            text = rewrite_rows(
                text, pc.match_substring_regex(text, self._suspect), self._fix_unicode
            )
        if p.whitespace:
            text = pc.replace_substring(text, "\r\n", "\n")
            text = pc.replace_substring_regex(text, _LINE_ENDS, r"\1\2\3")
            text = pc.utf8_trim_whitespace(text)
        return text

    @functools.cached_property
    def _suspect(self) -> str:
        """Rows that may need Python: Unicode spaces or characters that can break NFC."""
        classes = []
        if self.params.whitespace:
            classes.append(_ODD_SPACES.pattern[1:-1])
        if self.params.nfc:
            classes.append(nfc_suspect_re2()[1:-1])
        return "[" + "".join(classes) + "]"

    def _fix_unicode(self, s: str) -> str:
        if self.params.whitespace and _ODD_SPACES.search(s):
            s = _ODD_SPACES.sub(" ", s)
        if self.params.nfc and not unicodedata.is_normalized("NFC", s):
            s = unicodedata.normalize("NFC", s)
        return s

    def process(self, batch: pa.RecordBatch) -> RowResult:
        i = batch.schema.get_field_index("text")
        batch = batch.set_column(i, "text", self.normalize(batch.column(i)))
        j = batch.schema.get_field_index("messages")
        if j >= 0:  # chat turns: each slot normalised on its own (the view follows)
            batch = batch.set_column(j, "messages", map_slots(batch.column(j), self.normalize))
        return RowResult(batch=batch)
