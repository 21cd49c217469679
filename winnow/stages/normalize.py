"""Text normalisation: mojibake repair, Unicode NFC, whitespace."""

from __future__ import annotations

import unicodedata

import ftfy
import pyarrow as pa
import pyarrow.compute as pc

from winnow.stages.base import Params, RowResult, RowStage, register
from winnow.stages.textops import MOJIBAKE_RE2, map_where, not_nfc

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

_ODD_SPACES = "[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]"


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
        if p.fix_mojibake and len(text):
            suspect = pc.match_substring_regex(text, MOJIBAKE_RE2)
            text = map_where(text, suspect, lambda s: ftfy.fix_text(s, _FTFY))
        if p.nfc and len(text):
            text = map_where(text, not_nfc(text), lambda s: unicodedata.normalize("NFC", s))
        if p.whitespace:
            text = pc.replace_substring_regex(text, _ODD_SPACES, " ")
            text = pc.replace_substring(text, "\r\n", "\n")
            text = pc.replace_substring_regex(text, r"[ \t]+\n", "\n")
            text = pc.replace_substring_regex(text, r"\n{3,}", "\n\n")
            text = pc.utf8_trim_whitespace(text)
        return text

    def process(self, batch: pa.RecordBatch) -> RowResult:
        i = batch.schema.get_field_index("text")
        batch = batch.set_column(i, "text", self.normalize(batch.column(i)))
        messages = batch.column("messages")
        if messages.null_count < len(messages):
            batch = batch.set_column(
                batch.schema.get_field_index("messages"),
                "messages",
                self._normalize_turns(messages),
            )
        return RowResult(batch=batch)

    def _normalize_turns(self, messages: pa.ListArray) -> pa.ListArray:
        turns = messages.flatten()
        content = self.normalize(turns.field("content"))
        fixed = pa.StructArray.from_arrays([turns.field("role"), content], fields=list(turns.type))
        offsets = messages.offsets
        if messages.offset:
            offsets = pc.subtract(offsets, offsets[0])
        return pa.ListArray.from_arrays(offsets, fixed, type=messages.type, mask=messages.is_null())
