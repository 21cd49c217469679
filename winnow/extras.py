"""Optional dependencies: which extra installs each, and one clear error when one is missing
(the CLI prints its line and exits 2, never a traceback)."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType


class MissingExtra(RuntimeError):
    """A feature whose optional dependency is not installed; the message names the extra."""


def missing(module: str) -> bool:
    """Whether ``module`` cannot be imported here (without importing it)."""
    try:
        return importlib.util.find_spec(module) is None
    except (ImportError, ValueError):
        return True


def require(module: str, extra: str, what: str) -> ModuleType:
    """``module``, imported, or ``MissingExtra`` naming ``pip install 'winnow[extra]'``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(f"{what} needs {module}: pip install 'winnow[{extra}]'") from None
