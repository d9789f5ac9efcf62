"""What both command lines share: folders, the `--out` check, options, progress and code versions.

Nothing here imports JAX: `list` and `--help` answer at once. The modules
that compute are imported by the command that runs them.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "ROOT",
    "UsageError",
    "add_selection",
    "check_out",
    "code_version",
    "entries_folder",
    "Progress",
]

ROOT = Path(__file__).resolve().parent.parent  # the repository checkout
_ENV = {"experiment": "JAXNN_EXPERIMENTS_DIR", "benchmark": "JAXNN_BENCHMARKS_DIR"}


class UsageError(Exception):
    """A usage error: printed as one sentence, exit code 2."""


def entries_folder(kind: str) -> Path:
    """`ROOT/experiments` or `ROOT/benchmarks`, or the folder named by
    `$JAXNN_EXPERIMENTS_DIR` / `$JAXNN_BENCHMARKS_DIR`."""
    default = ROOT / ("experiments" if kind == "experiment" else "benchmarks")
    return Path(os.environ.get(_ENV[kind]) or default)


def check_out(out: Path) -> Path:
    """`out`, created if missing, after checking it is a writable folder (else `UsageError`)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder; pass a folder for the results.")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as err:
        raise UsageError(f"--out {out} is not a writable folder ({err.strerror}).") from err
    return out


def code_version(source: str | Path) -> dict[str, str]:
    """What a result was computed with: the SHA-256 of the module's source and jaxnn's version."""
    digest = hashlib.sha256(Path(source).read_bytes()).hexdigest()[:16]
    try:
        version = metadata.version("jaxnn")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return {"source_sha256": digest, "jaxnn": version}


def add_selection(parser: argparse.ArgumentParser, *, top: bool, out_default: str) -> None:
    """Options shared by the top level and every subcommand (`top=False`: no defaults,
    so an option given after the subcommand overrides one given before it)."""
    sup: dict[str, Any] = {} if top else {"default": argparse.SUPPRESS}
    parser.add_argument(
        "--quick",
        action="store_true",
        help="the seconds-long variants (what the tests run)",
        **sup,
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help=f"results folder, checked before anything runs (default: {out_default})",
        **({"default": Path(out_default)} if top else sup),  # type: ignore[arg-type]
    )
    for flag, what in (("--only", "run only names matching"), ("--skip", "skip names matching")):
        parser.add_argument(
            flag,
            action="append",
            metavar="PATTERN",
            help=f"{what} this glob pattern (repeatable), e.g. 'adam*'",
            **({"default": []} if top else sup),  # type: ignore[arg-type]
        )


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    """`[k/N] NAME …` at the start of each entry, with elapsed time and an ETA.

    The ETA adds, for each entry not finished, its runtime from an earlier
    result if there is one, else the mean of the entries finished so far.
    """

    def __init__(self, names: Sequence[str], previous: dict[str, float], stream=None) -> None:
        self.names, self.previous = list(names), dict(previous)
        self.durations: dict[str, float] = {}
        self.start = time.perf_counter()
        self.stream = stream or sys.stdout

    def _eta(self, remaining: Sequence[str]) -> str:
        mean = sum(self.durations.values()) / len(self.durations) if self.durations else None
        guesses = [self.previous.get(n, mean) for n in remaining]
        known = [g for g in guesses if g is not None]
        if len(known) < len(guesses):
            return "ETA unknown"
        return f"ETA {_clock(sum(known))}"

    def begin(self, k: int, name: str) -> None:
        """Announce entry `k` (0-based) before it runs."""
        elapsed = time.perf_counter() - self.start
        eta = self._eta(self.names[k:])
        n = len(self.names)
        print(f"[{k + 1}/{n}] {name} … (elapsed {_clock(elapsed)}, {eta})", file=self.stream)
        self.stream.flush()

    def end(self, k: int, name: str, seconds: float, verdict: str) -> None:
        """Report entry `k` finished."""
        self.durations[name] = seconds
        n = len(self.names)
        print(f"[{k + 1}/{n}] {name} {verdict} ({seconds:.1f} s)", file=self.stream)
        self.stream.flush()
