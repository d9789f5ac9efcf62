"""Command line: `python -m experiments list | run NAME | all [--quick] [--out DIR]`."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from experiments._gallery import write_gallery
from experiments._registry import get, names


def _run_one(name: str, quick: bool, out: Path) -> dict:
    module = get(name)
    config = module.Config.quick() if quick else module.Config()
    start = time.perf_counter()
    metrics = module.run(config, out)
    verdict = "holds" if metrics["claim_holds"] else "DOES NOT HOLD"
    print(f"{name:28s} {verdict:14s} {time.perf_counter() - start:7.1f} s  {metrics['claim']}")
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the experiments")
    run = sub.add_parser("run", help="run one experiment")
    run.add_argument("name")
    every = sub.add_parser("all", help="run every experiment and write DIR/index.html")
    for p in (run, every):
        p.add_argument("--quick", action="store_true", help="the seconds-long variant")
        p.add_argument("--out", type=Path, default=Path("results"), help="output folder")
    args = parser.parse_args(argv)

    if args.command == "list":
        for name in names():
            print(f"{name:28s} {get(name).CLAIM}")
        return 0
    if args.command == "run":
        metrics = _run_one(args.name, args.quick, args.out)
        return 0 if metrics["claim_holds"] else 1
    results = [_run_one(name, args.quick, args.out) for name in names()]
    index = write_gallery(args.out, results)
    held = sum(m["claim_holds"] for m in results)
    print(f"\n{held}/{len(results)} claims hold. Gallery: {index}")
    return 0 if held == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
