"""Whether `fit` shows its progress bar."""

from __future__ import annotations

import sys


def show_progress(progress: bool | None) -> bool:
    """`progress` if given; else True only when stdout and stderr are terminals."""
    if progress is not None:
        return bool(progress)
    try:
        return sys.stdout.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False
