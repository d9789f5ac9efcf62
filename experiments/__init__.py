"""Reproductions of the classic pictures of how networks train.

Run from the repository root::

    python -m experiments list
    python -m experiments run NAME [--quick] [--out DIR]
    python -m experiments all [--quick] [--out DIR]

Each experiment is one module here with a docstring (command, runtime,
expected result), a `Config` dataclass with a `quick()` variant, and
`run(config, out_dir) -> metrics`, which computes, draws its figures from the
numbers, and writes `out_dir/NAME/metrics.json` atomically. The claim each
experiment checks is in `metrics["claim"]`, and whether it held in
`metrics["claim_holds"]`.
"""

from experiments._registry import EXPERIMENTS, get, names

__all__ = ["EXPERIMENTS", "get", "names"]
