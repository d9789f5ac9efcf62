"""Run the benchmarks: speed against the peers and the machine, and the optimizer suite.

Every option works before or after the subcommand. Examples:

  python -m benchmarks list
  python -m benchmarks run optimizer_step train_step --quick
  python -m benchmarks all --quick --skip optimizer_suite --out /tmp/bench
  python -m benchmarks run optimizer_suite --quick --optimizer my_opts:sign_sgd

Optimizer-suite plug-in: --optimizer MODULE:FACTORY (repeatable) adds
FACTORY from the importable MODULE (run from its folder or put it on
PYTHONPATH). FACTORY(learning_rate) must return an optax-style pair with
init(params) -> state and update(grads, state, params) -> (updates, state);
learning_rate arrives as a schedule step -> rate with traced values (the
suite vmaps over rates), so never call float() on it or branch on it. Each
way a factory can be wrong gets its own error before anything runs. A
complete sign-SGD example is in jaxnn.suite's docstring.

Installed with `pip install -e .`, `jaxnn-bench ...` does the same from any folder.
Each benchmark writes DIR/NAME.json; a speed target is met when the ratio's
interval measured in the same run reaches it (the noise band and the machine
load are recorded next to it). Missed targets are listed at the end and in
DIR/summary.json. Exit codes: 0 every benchmark ran (missed targets included),
1 a benchmark raised, 2 usage error. $JAXNN_BENCHMARKS_DIR points the registry
at another folder.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness import registry
from harness.common import Progress, UsageError, add_selection, check_out
from harness.common import entries_folder as _folder

__all__ = ["main"]

_OPT_HELP = "(optimizer_suite) add a user optimizer FACTORY(learning_rate) from MODULE; repeatable"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_selection(parser, top=True, out_default="results/benchmarks")
    parser.add_argument(
        "--optimizer", action="append", default=[], metavar="MODULE:FACTORY", help=_OPT_HELP
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    helps = {
        "list": "list the benchmarks",
        "run": "run the named benchmarks",
        "all": "run every benchmark",
    }
    examples = {
        "list": "python -m benchmarks list",
        "run": "python -m benchmarks run optimizer_suite --quick --optimizer my_opts:sign_sgd",
        "all": "python -m benchmarks all --quick --skip optimizer_suite --out /tmp/bench",
    }
    for name, text in helps.items():
        p = sub.add_parser(name, help=text, description=text, epilog=f"example: {examples[name]}")
        if name == "run":
            p.add_argument("names", nargs="+", metavar="NAME", help="benchmark names")
        add_selection(p, top=False, out_default="results/benchmarks")
        p.add_argument(
            "--optimizer",
            action="append",
            default=argparse.SUPPRESS,
            metavar="MODULE:FACTORY",
            help=_OPT_HELP,
        )
    return parser


def _missed(result: dict[str, Any]) -> dict[str, Any]:
    return {k: t for k, t in (result.get("targets") or {}).items() if not t.get("met", True)}


def _run_one(entry: registry.Entry, args: argparse.Namespace) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        module = registry.load(entry)
        kwargs = {"extra_optimizers": args.optimizer} if entry.name == "optimizer_suite" else {}
        result = module.run(quick=args.quick, out_dir=args.out, **kwargs)
        record = {"ok": True, "missed_targets": _missed(result)}
    except Exception:
        record = {"ok": False, "error": traceback.format_exc()}
    return {**record, "seconds": round(time.perf_counter() - start, 3)}


def _finish(records: dict[str, dict[str, Any]], out: Path) -> int:
    from jaxnn.results import write_json

    missed = {n: r["missed_targets"] for n, r in records.items() if r.get("missed_targets")}
    errors = [n for n, r in records.items() if not r["ok"]]
    for name in errors:
        print(f"\n{name} raised:\n{records[name]['error']}", file=sys.stderr)
    if missed:
        print("\nMissed targets (each benchmark's JSON has the interval, noise band and load):")
        for name, targets in missed.items():
            for key, t in targets.items():
                print(f"  {name}.{key}: {t.get('target', key)} (value {t.get('value')})")
    path = write_json(out / "summary.json", {"benchmarks": records, "missed_targets": missed})
    print(f"\n{len(records) - len(errors)}/{len(records)} benchmarks ran. Summary: {path}")
    return 1 if errors else 0


def _check_optimizers(specs: Sequence[str]) -> None:
    """Each `--optimizer` spec loaded and checked before any benchmark runs."""
    if not specs:
        return
    from jaxnn.suite import load_optimizer

    for spec in specs:
        try:
            load_optimizer(spec)
        except ValueError as err:
            raise UsageError(str(err)) from err


def main(argv: Sequence[str] | None = None) -> int:
    """The `python -m benchmarks` / `jaxnn-bench` command; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        entries = registry.discover(_folder("benchmark"), "benchmark")
        chosen = registry.select(
            entries, getattr(args, "names", ()), args.only, args.skip, kind="benchmark"
        )
        if args.command == "list":
            width = max(len(e.name) for e in chosen)
            for e in chosen:
                print(f"{e.name:{width}s}  {e.summary}")
            return 0
        if args.optimizer and "optimizer_suite" not in [e.name for e in chosen]:
            raise UsageError("--optimizer applies to the optimizer_suite benchmark only.")
        args.out = check_out(args.out)
        _check_optimizers(args.optimizer)
    except (UsageError, registry.RegistryError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    progress = Progress([e.name for e in chosen], {})
    records = {}
    for k, entry in enumerate(chosen):
        progress.begin(k, entry.name)
        records[entry.name] = _run_one(entry, args)
        verdict = "ran" if records[entry.name]["ok"] else "RAISED"
        progress.end(k, entry.name, records[entry.name]["seconds"], verdict)
    return _finish(records, args.out)
