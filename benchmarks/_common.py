"""What every benchmark shares: the machine block, fair timing, the JSON and the table.

Timing rules (applied by `time_interleaved`):

1. every candidate is called once first, so compilation is not timed;
2. each call ends with `jax.block_until_ready` on its output;
3. the candidates being compared are interleaved (A, B, A, B, ...) so a
   slow period of the machine hits both sides alike;
4. each candidate is repeated and both the minimum and the median are kept;
   ratios are computed from the same run (min over min, and median over median).
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxnn.results import to_jsonable, write_json

__all__ = ["machine", "time_interleaved", "Timing", "write_result", "print_table"]


def machine() -> dict[str, Any]:
    """CPU model, core count, device kind and count, and library versions."""
    devices = jax.devices()

    def version(pkg: str) -> str | None:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return None

    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "backend": jax.default_backend(),
        "device_kind": devices[0].device_kind,
        "device_count": len(devices),
        "process_count": jax.process_count(),
        "versions": {p: version(p) for p in ("jax", "jaxlib", "optax", "flax", "numpy", "jaxnn")},
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


class Timing(dict):
    """`{"min": s, "median": s, "repeats": n, "all": [...]}` for one candidate."""


def time_interleaved(
    candidates: Mapping[str, Callable[[], Any]], repeats: int, *, inner: int = 1
) -> dict[str, Timing]:
    """Time zero-argument callables, interleaved, after one warm-up call each.

    Args:
      candidates: name -> callable returning JAX arrays (blocked on).
      repeats: number of timed rounds.
      inner: calls per timed sample (for sub-millisecond work); times are per call.

    Returns:
      name -> Timing with per-call seconds.
    """
    for fn in candidates.values():
        jax.block_until_ready(fn())
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            start = time.perf_counter()
            for _ in range(inner):
                out = fn()
            jax.block_until_ready(out)
            samples[name].append((time.perf_counter() - start) / inner)
    return {
        name: Timing(min=min(s), median=statistics.median(s), repeats=len(s), all=s)
        for name, s in samples.items()
    }


def write_result(out_dir: str | Path, name: str, result: dict[str, Any]) -> Path:
    """Add the machine block and write `out_dir/name.json` atomically."""
    result = {"benchmark": name, "machine": machine(), **result}
    _check_summary_finite(name, result["summary"])
    return write_json(Path(out_dir) / f"{name}.json", result)


def _check_summary_finite(name: str, summary: Mapping[str, Any]) -> None:
    for key, value in summary.items():
        if isinstance(value, (int, float, np.floating)) and not np.isfinite(value):
            raise ValueError(f"Benchmark {name}: summary value {key} = {value} is not finite.")


def print_table(rows: list[Mapping[str, Any]], columns: list[str], title: str = "") -> None:
    """Print `rows` as a fixed-width table with the given `columns`."""

    def fmt(v: Any) -> str:
        v = to_jsonable(v)
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    cells = [[fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    if title:
        print(f"\n{title}")
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
