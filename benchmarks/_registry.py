"""The ordered list of benchmarks."""

from __future__ import annotations

import importlib
from types import ModuleType

BENCHMARKS: tuple[str, ...] = (
    "optimizer_step",
    "train_step",
    "landscape",
    "hessian",
    "sweep",
    "optimizer_suite",
)


def names() -> tuple[str, ...]:
    """Names of the benchmarks whose module exists."""
    return tuple(n for n in BENCHMARKS if importlib.util.find_spec(f"benchmarks.{n}") is not None)


def get(name: str) -> ModuleType:
    """Import benchmark `name` (a clear error for an unknown name)."""
    if name not in BENCHMARKS:
        raise SystemExit(f"Unknown benchmark {name!r}. Known benchmarks: {', '.join(BENCHMARKS)}.")
    return importlib.import_module(f"benchmarks.{name}")
