"""Console scripts `jaxnn-experiments` and `jaxnn-bench`: launch the checkout's harness.

The experiments, the benchmarks and their runner (`harness/`) live in the
repository next to `jaxnn/` and are not installed (only `jaxnn` is). With an
editable install (`pip install -e .`) this module sits in that checkout, so
the launcher puts the checkout on `sys.path` and hands over to
`harness.experiments_cli.main` / `harness.bench_cli.main`. The harness is
imported by name here, at call time, because it is a plug-in of the
checkout, not a dependency of the library; with a non-editable install there
is no checkout and the scripts say so (exit code 2).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

__all__ = ["bench", "experiments"]

_CHECKOUT = Path(__file__).resolve().parent.parent


def _launch(module: str) -> int:
    if not (_CHECKOUT / "harness" / "__init__.py").exists():
        print(
            f"error: {_CHECKOUT} is not a jaxnn source checkout. The experiments and "
            "benchmarks run from the repository: clone it and `pip install -e .` there.",
            file=sys.stderr,
        )
        return 2
    if str(_CHECKOUT) not in sys.path:
        sys.path.insert(0, str(_CHECKOUT))
    return importlib.import_module(module).main()


def experiments() -> int:
    """`jaxnn-experiments ...` = `python -m experiments ...` run from the checkout."""
    return _launch("harness.experiments_cli")


def bench() -> int:
    """`jaxnn-bench ...` = `python -m benchmarks ...` run from the checkout."""
    return _launch("harness.bench_cli")
