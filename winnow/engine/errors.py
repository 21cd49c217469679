"""How a run reports that it stopped."""

from __future__ import annotations


class RunFailed(Exception):
    """A run that stopped; ``exit_code`` is what the CLI returns."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code
