"""The argument parser of `python -m jaxnn.landscape` (private to `jaxnn.landscape.cli`)."""

from __future__ import annotations

import argparse

EXAMPLE = """example:
  python -m jaxnn.landscape surface --model mypkg.models:mlp --data mypkg.data:train \\
      --grid -1:1:51 --metric loss,accuracy --out results/landscape
  (mypkg/models.py: def mlp(): return layer, params, state   # e.g. from jaxnn.layers
   mypkg/data.py:   def train(): return x, y)
  python -m jaxnn.landscape surface ... --resume      # continue a killed run
  python -m jaxnn.landscape hessian --model mypkg.models:mlp --data mypkg.data:train --top-k 5
  python -m jaxnn.landscape trajectory --model mypkg.models:mlp --data mypkg.data:train \\
      --checkpoints runs/ckpts      # a directory of .npz parameter files
"""


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m jaxnn.landscape",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Loss-landscape studies of your own model.",
    )
    sub = top.add_subparsers(dest="command", required=True)
    cmds = {}
    for name, text in (("surface", "metrics on a 1-D/2-D grid"), ("hessian", "curvature summary"),
                       ("trajectory", "PCA plane of saved checkpoints")):  # fmt: skip
        p = sub.add_parser(name, help=text, epilog=EXAMPLE,
                           formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
        p.add_argument(
            "--model", required=True, help="MODULE:FACTORY returning (layer, params, state)"
        )
        p.add_argument("--data", required=True, help="MODULE:FACTORY returning (x, y)")
        p.add_argument("--out", default="results/landscape", help="output directory")
        p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
        p.add_argument("--log", action="store_true", help="log-scaled figures and exports")
        cmds[name] = p
    s = cmds["surface"]
    s.add_argument("--grid", default="-1:1:51", help="x grid MIN:MAX:NUM")
    s.add_argument("--ygrid", default=None, help="y grid (default: --grid)")
    s.add_argument("--xdir", default="random:1", help="random[:SEED] or a direction .h5 file")
    s.add_argument(
        "--ydir", default="random:2", help="random[:SEED], a direction .h5 file, or none (1-D)"
    )
    s.add_argument("--norm", default="filter", choices=("filter", "layer", "model", "none"))
    s.add_argument("--ignore", default="biasbn", choices=("biasbn", "none"))
    s.add_argument("--metric", default="loss,accuracy", help="comma-separated: loss, accuracy")
    s.add_argument("--chunk-size", type=int, default=None, help="grid points per vmapped chunk")
    s.add_argument("--resume", action="store_true", help="continue an existing surface.h5")
    h = cmds["hessian"]
    h.add_argument("--top-k", type=int, default=3)
    h.add_argument("--iters", type=int, default=100, help="Lanczos steps for the top-k")
    h.add_argument("--trace-samples", type=int, default=100)
    h.add_argument("--order", type=int, default=60, help="SLQ Lanczos order")
    h.add_argument("--runs", type=int, default=4, help="SLQ runs")
    h.add_argument("--seed", type=int, default=0)
    t = cmds["trajectory"]
    t.add_argument("--checkpoints", required=True, help="directory of .npz parameter files")
    t.add_argument("--grid", default="-1:1:31", help="grid size NUM is used (range from the path)")
    t.add_argument("--resume", action="store_true", help="continue an existing surface.h5")
    return top


def join_grids(argv: list[str]) -> list[str]:
    """`--grid -1:1:51` -> `--grid=-1:1:51` (argparse takes `-1:1:51` for an option)."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] in ("--grid", "--ygrid") and i + 1 < len(argv):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out
