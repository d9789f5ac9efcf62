"""Benchmarks: jaxnn's speed against optax, flax, the reference landscape method
and the hardware's limits, and a fair optimizer benchmark suite.

Run from the repository root::

    python -m benchmarks list
    python -m benchmarks run NAME [--quick] [--out DIR]

Each benchmark is one module here with `run(quick: bool, out_dir) -> dict`,
writing `out_dir/NAME.json` (with a "machine" and a "summary" block) and
printing a table.
"""

from benchmarks._registry import BENCHMARKS, get, names

__all__ = ["BENCHMARKS", "get", "names"]
