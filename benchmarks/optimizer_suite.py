"""Optimizer suite: jaxnn.suite's DeepOBS-style protocol, from the command line.

Command::

    python -m benchmarks run optimizer_suite [--quick] [--out DIR] [--optimizer MODULE:FACTORY]

`--optimizer my_opts:sign_sgd` (repeatable) adds `sign_sgd(learning_rate)`
from the importable module `my_opts` to the built-in optimizers; the factory
contract, a complete sign-SGD example and the protocol are in `jaxnn.suite`.
Writes `DIR/optimizer_suite.json` (with the machine block) and, in
`DIR/optimizer_suite/`, `table.md`, `profile.png`, `lr_sensitivity.png` and
`convergence.png`, and prints the tables.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks._common import print_table, write_result
from jaxnn import suite

NAME = "optimizer_suite"
BUILTIN = suite.BUILTIN
QUICK_PROBLEMS = suite.QUICK_PROBLEMS


def _print(result: dict, quick: bool) -> None:
    score, tau_max = result["profile"]["score"], result["profile"]["tau_max"]
    cols = ["problem", "optimizer", "lr", "steps to target", "final loss", "test acc"]
    cols += ["cos steps", "cos final loss", "ms/step"]
    print_table(
        suite.table_rows(result["results"]), cols, f"{NAME} ({'quick' if quick else 'full'})"
    )
    print_table(
        [{"problem": p, **w} for p, w in result["winners"].items()],
        ["problem", "optimizer", "schedule", "median_steps", "final_loss_mean"],
        title="winners (fewest median steps to target)",
    )
    print_table(
        [{"entry": k, "score": v} for k, v in sorted(score.items(), key=lambda kv: -kv[1])],
        ["entry", "score"],
        title=f"performance-profile score (area on [1, {tau_max:g}])",
    )


def run(
    quick: bool,
    out_dir: str | Path,
    extra_optimizers: Sequence[str | Callable] = (),
    *,
    problems: Sequence[str] | None = None,
) -> dict:
    """Run `jaxnn.suite.run_suite`, write `out_dir/optimizer_suite.json` and the files, print.

    Args:
      quick: the smoke-test variant.
      out_dir: output folder.
      extra_optimizers: `"module:factory"` specs (or factories) benchmarked with the
        built-ins; a bad one raises `ValueError` before anything runs.
      problems: run only these problems (default: all of the variant's).
    """
    result = suite.run_suite(
        extra_optimizers, quick=quick, problems=problems, out_dir=Path(out_dir) / NAME
    )
    write_result(out_dir, NAME, result)
    _print(result, quick)
    return result
