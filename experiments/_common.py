"""What every experiment shares: claim checks, the metrics file, and timing.

An experiment records each number its claim rests on with `Checks.add`, then
calls `finish`, which writes `out_dir/NAME/metrics.json` atomically::

    {"name", "claim", "claim_holds", "checks": [{"name", "value", "holds", "detail"}],
     "numbers": {...}, "config": {...}, "figures": ["fig.png", ...], "seconds",
     "code_version": {"source_sha256", "jaxnn"}}

`claim_holds` is true exactly when every check holds. Non-finite numbers are
written as `null` with their kind under `KEY_nonfinite` (`jaxnn.results`);
arrays in `numbers` with at least `NPZ_MIN_SIZE` elements go to the sibling
`metrics.npz` and are referenced from the JSON. `code_version` (the hash of
the experiment module's source and jaxnn's version) and `config` are what
`python -m experiments all --resume` compares to decide a result is current.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import jax.numpy as jnp

from harness.common import code_version
from jaxnn import data
from jaxnn.results import to_jsonable, write_json
from jaxnn.tuning import log_grid

__all__ = ["Checks", "finish", "experiment_dir", "Timer", "log_grid", "mnist1d_splits"]

NPZ_MIN_SIZE = 1000  # arrays in `numbers` this large go to metrics.npz


class Checks:
    """An ordered list of named, numeric sub-claims."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, name: str, value: Any, holds: bool, detail: str = "") -> bool:
        """Record check `name` with its measured `value`; returns `holds`."""
        holds = bool(holds)
        self.items.append(
            {"name": name, "value": to_jsonable(value), "holds": holds, "detail": detail}
        )
        return holds

    def all_hold(self) -> bool:
        return bool(self.items) and all(c["holds"] for c in self.items)


def experiment_dir(out_dir: str | Path, name: str) -> Path:
    """`out_dir/name`, created if missing."""
    path = Path(out_dir) / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def finish(
    name: str,
    claim: str,
    config: Any,
    checks: Checks,
    numbers: dict[str, Any],
    figures: list[str],
    out_dir: str | Path,
    seconds: float,
) -> dict[str, Any]:
    """Assemble the metrics dict, write it atomically, and return it (all lists, no npz refs)."""
    metrics = {
        "name": name,
        "claim": claim,
        "claim_holds": checks.all_hold(),
        "checks": checks.items,
        "numbers": numbers,
        "config": to_jsonable(dataclasses.asdict(config)),
        "figures": list(figures),
        "seconds": round(float(seconds), 3),
        "code_version": code_version(sys.modules[type(config).__module__].__file__),
    }
    write_json(experiment_dir(out_dir, name) / "metrics.json", metrics, npz_min_size=NPZ_MIN_SIZE)
    return to_jsonable(metrics)


class Timer:
    """`with Timer() as t: ...` then `t.seconds`."""

    def __enter__(self) -> Timer:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._start


def mnist1d_splits(num_train: int, num_val: int) -> dict:
    """MNIST-1D as `{"train", "val", "test"}` `(x, y)` device arrays.

    `train` is the first `num_train` training examples and `val` the last
    `num_val` (disjoint while `num_train + num_val <= 4000`); `test` is the
    official 1000-example test split.
    """
    ds = data.mnist1d()
    n, v = num_train, num_val
    return {
        "train": (jnp.asarray(ds.x_train[:n]), jnp.asarray(ds.y_train[:n])),
        "val": (jnp.asarray(ds.x_train[-v:]), jnp.asarray(ds.y_train[-v:])),
        "test": (jnp.asarray(ds.x_test), jnp.asarray(ds.y_test)),
    }
