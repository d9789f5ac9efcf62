"""Run the experiments, check their claims and build the gallery.

Every option works before or after the subcommand. Examples:

  python -m experiments list                       names and claims (no JAX import)
  python -m experiments run batchnorm adam_anatomy --quick
  python -m experiments all --quick --skip 'sharp*' --out /tmp/res
  python -m experiments all --resume               rerun only what changed or is missing
  python -m experiments gallery --out results      rebuild results/index.html

Installed with `pip install -e .`, `jaxnn-experiments ...` does the same from any folder.
Exit codes: 0 every claim holds, 1 a claim fails (or an experiment raised),
2 usage error (unknown name, a pattern matching nothing, a bad --out).
Experiments are the modules of the experiments folder that follow the
contract (see harness/registry.py); $JAXNN_EXPERIMENTS_DIR points elsewhere.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness import registry
from harness.common import Progress, UsageError, add_selection, check_out, code_version
from harness.common import entries_folder as _folder

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m experiments",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_selection(parser, top=True, out_default="results")
    parser.add_argument("--resume", action="store_true", help=_RESUME)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    helps = {
        "list": "list the experiments and their claims",
        "run": "run the named experiments, then refresh DIR/index.html",
        "all": "run every experiment, then write DIR/index.html",
        "gallery": "rebuild DIR/index.html from the results already in DIR",
    }
    examples = {
        "list": "python -m experiments list --only 'adam*'",
        "run": "python -m experiments run batchnorm adam_anatomy --quick --out /tmp/res",
        "all": "python -m experiments all --quick --resume --skip 'sharp*'",
        "gallery": "python -m experiments gallery --out results",
    }
    for name, text in helps.items():
        p = sub.add_parser(name, help=text, description=text, epilog=f"example: {examples[name]}")
        if name == "run":
            p.add_argument("names", nargs="+", metavar="NAME", help="experiment names")
        add_selection(p, top=False, out_default="results")
        p.add_argument("--resume", action="store_true", default=argparse.SUPPRESS, help=_RESUME)
    return parser


_RESUME = (
    "skip experiments whose DIR/NAME/metrics.json has the same config and code version "
    "(module source hash + jaxnn version)"
)


def _list(entries: Sequence[registry.Entry]) -> int:
    width = max(len(e.name) for e in entries)
    for e in entries:
        print(f"{e.name:{width}s}  {e.claim}")
    return 0


def _config_of(module: Any, quick: bool) -> Any:
    return module.Config.quick() if quick else module.Config()


def _up_to_date(entry: registry.Entry, out: Path, config: Any) -> dict | None:
    """The metrics already in `out` if they match `config` and the code version, else None."""
    from jaxnn.results import read_json, to_jsonable

    path = out / entry.name / "metrics.json"
    if not path.exists():
        return None
    try:
        metrics = read_json(path)
    except ValueError:
        return None
    same = metrics.get("config") == to_jsonable(dataclasses.asdict(config))
    if same and metrics.get("code_version") == code_version(entry.path) and "error" not in metrics:
        return metrics
    return None


def _failure(entry: registry.Entry, out: Path, seconds: float) -> dict:
    """A metrics record for an experiment that raised (written so the gallery shows it)."""
    from jaxnn.results import write_json

    metrics = {
        "name": entry.name,
        "claim": entry.claim,
        "claim_holds": False,
        "error": traceback.format_exc(),
        "checks": [],
        "numbers": {},
        "figures": [],
        "seconds": round(seconds, 3),
    }
    write_json(out / entry.name / "metrics.json", metrics)
    return metrics


def _run_entry(entry: registry.Entry, quick: bool, out: Path, resume: bool) -> tuple[dict, bool]:
    """Run (or, with `resume`, reuse) one experiment: `(metrics, reused)`."""
    start = time.perf_counter()
    try:
        module = registry.load(entry)
        config = _config_of(module, quick)
        if resume and (done := _up_to_date(entry, out, config)) is not None:
            return done, True
        return module.run(config, out), False
    except Exception:
        return _failure(entry, out, time.perf_counter() - start), False


def _previous_seconds(out: Path, names: Sequence[str]) -> dict[str, float]:
    import json

    found = {}
    for name in names:
        try:
            found[name] = float(json.loads((out / name / "metrics.json").read_text())["seconds"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return found


def _report(results: Sequence[dict], index: Path) -> int:
    failed = [m for m in results if not m["claim_holds"]]
    if failed:
        print(f"\nFailed claims ({len(failed)}):")
        for m in failed:
            print(f"  {m['name']}: {m['claim']}")
            if m.get("error"):
                print(f"    raised {m['error'].strip().splitlines()[-1]}")
            for c in m.get("checks", []):
                if not c["holds"]:
                    print(f"    failed check {c['name']}: {c['value']!r} ({c.get('detail', '')})")
    held = len(results) - len(failed)
    print(f"\n{held}/{len(results)} claims hold. Gallery: {index}")
    return 0 if not failed else 1


def _compute(chosen: Sequence[registry.Entry], entries, args: argparse.Namespace) -> int:
    from harness.gallery import collect, write_gallery
    from jaxnn.results import remove_stale_temporaries

    out = args.out
    stale = remove_stale_temporaries(out)
    if stale:
        print(f"Removed {len(stale)} temporary file(s) left by an interrupted run.")
    names = [e.name for e in chosen]
    progress = Progress(names, _previous_seconds(out, names))
    results = []
    try:
        for k, entry in enumerate(chosen):
            progress.begin(k, entry.name)
            start = time.perf_counter()
            metrics, reused = _run_entry(entry, args.quick, out, args.resume)
            verdict = "holds" if metrics["claim_holds"] else "DOES NOT HOLD"
            verdict += " (up to date, skipped)" if reused else ""
            progress.end(k, entry.name, time.perf_counter() - start, verdict)
            results.append(metrics)
    except KeyboardInterrupt:
        write_gallery(out, collect(out, [e.name for e in entries]))
        print(
            f"\nInterrupted after {len(results)} of {len(chosen)}; the finished results are "
            "kept. Run the same command with --resume to continue.",
            file=sys.stderr,
        )
        return 130
    index = write_gallery(out, collect(out, [e.name for e in entries]))
    return _report(results, index)


def _gallery(entries: Sequence[registry.Entry], out: Path) -> int:
    from harness.gallery import collect, write_gallery

    results = collect(out, [e.name for e in entries])
    if not results:
        raise UsageError(f"No results in {out}: run some experiments first (e.g. `all --quick`).")
    index = write_gallery(out, results)
    held = sum(bool(m["claim_holds"]) for m in results)
    print(f"{held}/{len(results)} claims hold. Gallery: {index}")
    return 0 if held == len(results) else 1


def main(argv: Sequence[str] | None = None) -> int:
    """The `python -m experiments` / `jaxnn-experiments` command; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        entries = registry.discover(_folder("experiment"), "experiment")
        if args.command == "list":
            return _list(registry.select(entries, (), args.only, args.skip))
        args.out = check_out(args.out)
        if args.command == "gallery":
            return _gallery(entries, args.out)
        names = args.names if args.command == "run" else ()
        chosen = registry.select(entries, names, args.only, args.skip)
    except (UsageError, registry.RegistryError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return _compute(chosen, entries, args)
