"""Shared terminal output for commands: one console for results, one for messages."""

from __future__ import annotations

from rich.console import Console

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_FAILED = 3


def say(message: str) -> None:
    """Progress and diagnostics go to stderr, so stdout stays machine-readable."""
    err.print(message, markup=False)
