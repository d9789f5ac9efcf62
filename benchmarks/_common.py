"""What every benchmark shares: the machine block, the JSON and the table.

Timing (`time_interleaved`, `Timing`) and speed targets decided within the
noise of the run (`ratio_target`) are library features, `jaxnn.timing`; they
are re-exported here for the benchmark modules.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxnn.results import to_jsonable, write_json
from jaxnn.timing import Timing, machine_load, ratio_target, time_interleaved

__all__ = [
    "Timing",
    "machine",
    "print_table",
    "ratio_target",
    "time_interleaved",
    "worst_ratio_target",
    "write_result",
]

NPZ_MIN_SIZE = 1000  # arrays this large go to the sibling .npz


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
        "load": machine_load(),
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


def worst_ratio_target(
    description: str, pairs: list[tuple[Mapping, Mapping]], *, at_most: float
) -> dict[str, Any]:
    """`ratio_target` over several (ours, peer) timing pairs: met when every pair's interval
    reaches `at_most`; the value, interval and spread reported are the worst pair's."""
    entries = [ratio_target(description, ours, peer, at_most=at_most) for ours, peer in pairs]
    worst = max(entries, key=lambda e: e["interval"][0])
    return {**worst, "met": all(e["met"] for e in entries), "pairs": len(entries)}


def write_result(out_dir: str | Path, name: str, result: dict[str, Any]) -> Path:
    """Add the machine block and write `out_dir/name.json` atomically.

    Arrays of `NPZ_MIN_SIZE` or more values go to the sibling `name.npz`,
    referenced from the JSON (`jaxnn.results.read_json(path, arrays=True)`).
    """
    result = {"benchmark": name, "machine": machine(), **result}
    _check_summary_finite(name, result["summary"])
    return write_json(Path(out_dir) / f"{name}.json", result, npz_min_size=NPZ_MIN_SIZE)


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
