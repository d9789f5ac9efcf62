"""Command line: `python -m benchmarks list | run NAME [--quick] [--out DIR] [--optimizer M:F]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks._registry import get, names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the benchmarks")
    run = sub.add_parser("run", help="run one benchmark")
    run.add_argument("name")
    run.add_argument("--quick", action="store_true", help="the smoke-test variant")
    run.add_argument("--out", type=Path, default=Path("results/benchmarks"))
    run.add_argument(
        "--optimizer",
        action="append",
        default=[],
        metavar="MODULE:FACTORY",
        help="(optimizer_suite) add a user optimizer: a factory taking learning_rate",
    )
    args = parser.parse_args(argv)
    if args.command == "list":
        for name in names():
            print(f"{name:18s} {(get(name).__doc__ or '').strip().splitlines()[0]}")
        return 0
    module = get(args.name)
    kwargs = {"extra_optimizers": args.optimizer} if args.optimizer else {}
    if kwargs and args.name != "optimizer_suite":
        parser.error("--optimizer applies to the optimizer_suite benchmark only.")
    module.run(quick=args.quick, out_dir=args.out, **kwargs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
