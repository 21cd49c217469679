"""Imported once by the worker fork server, so every worker starts warm: stage modules
loaded and the Unicode tables behind ``normalize`` computed."""

from winnow.engine import segment, write  # noqa: F401
from winnow.stages.textops import nfc_suspect_re2

nfc_suspect_re2()
