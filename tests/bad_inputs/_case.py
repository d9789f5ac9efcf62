"""One row of the bad-input table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple


class Case(NamedTuple):
    """A bad input and the answer it must get.

    id:     short unique name of the row (shown by pytest).
    call:   a zero-argument function that feeds the bad input to the public API.
    error:  the exception type that must be raised (ValueError, TypeError, ...).
    words:  fragments the message must contain (case-insensitive), e.g. the
            argument's name and the offending shape, so the user knows what to fix.
    """

    id: str
    call: Callable[[], Any]
    error: type[BaseException]
    words: tuple[str, ...]
