"""Shared output: rich consoles for results (stdout) and messages (stderr), and the global flags."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from rich.console import Console


@dataclass
class State:
    debug: bool = False
    quiet: bool = False


state = State()
# piped output (files, tests, CI logs) gets wide tables rather than names cut to fit 80 columns
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, soft_wrap=True)


def error(message: str) -> None:
    """One line on stderr (errors must stay one line: no wrapping, no markup)."""
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)


def warn(message: str) -> None:
    err.print(f"warning: {message}", markup=False, highlight=False, soft_wrap=True)


def info(message: str) -> None:
    if not state.quiet:
        err.print(message, markup=False, highlight=False)
