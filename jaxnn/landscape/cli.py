"""`python -m jaxnn.landscape`: surfaces, Hessian summaries and trajectory planes of your model.

Commands (each writes into `--out DIR`, default `results/landscape`):

* `surface`: metrics on a 2-D grid (or 1-D with `--ydir none`) around the
  model's parameters along filter-normalized random directions (or directions
  read from a Li et al. direction file); writes `surface.h5` (Li et al.'s
  layout, resumable with `--resume`), `surface_{contour,filled,3d}.png`,
  `surface.vtk` (ParaView) and `surface.html` (interactive 3-D page).
* `hessian`: top-k eigenvalues (Lanczos), Hutchinson trace, epsilon-sharpness
  and the spectral density (SLQ); writes `hessian.json` and `hessian_density.png`.
* `trajectory`: PCA directions of saved checkpoints (a directory of `.npz`
  files, read in name order; each holds the parameter leaves either as
  `arr_0, arr_1, ...` in `jax.tree.leaves` order, i.e. `np.savez(path,
  *jax.tree.leaves(params))`, or under their `jax.tree_util.keystr` paths),
  the surface on that plane around the last checkpoint with the projected
  path drawn on it; writes `trajectory.json`, `trajectory_*.png` and `surface.h5`.

`--model MODULE:FACTORY` names a function returning `(layer, params, state)`
(a jaxnn layer, or a flax/equinox model through `jaxnn.adapters`) and
`--data MODULE:FACTORY` one returning `(x, y)`. The loss is softmax cross-entropy
when `y` holds integer class ids (accuracy available), else mean squared error.
Exit status: 0 done, 2 usage error (bad arguments, an existing surface without
`--resume`, a surface file from another run).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import losses
from jaxnn.landscape._cli_args import join_grids, parser
from jaxnn.landscape._hdf5 import load_directions
from jaxnn.landscape.compute import compute_curve, compute_surface
from jaxnn.landscape.curvature import (
    hessian_spectrum,
    hessian_top_eigenvalues,
    hessian_trace,
    spectral_density,
)
from jaxnn.landscape.directions import random_direction
from jaxnn.landscape.epsilon_sharpness import sharpness
from jaxnn.landscape.trajectory import pca_directions, project
from jaxnn.results import write_json


class UsageError(Exception):
    """Bad command-line input (exit status 2)."""


def _factory(spec: str, what: str):
    if ":" not in spec:
        raise UsageError(f"--{what} must be MODULE:FACTORY (e.g. mypkg.models:mlp), got {spec!r}.")
    module, name = spec.split(":", 1)
    sys.path.insert(0, os.getcwd())
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise UsageError(f"--{what} {spec!r} could not be imported: {err}.") from err
    return fn()


def _grid(spec: str, flag: str) -> np.ndarray:
    try:
        lo, hi, num = spec.split(":")
        lo, hi, num = float(lo), float(hi), int(num)
    except ValueError as err:
        raise UsageError(f"{flag} must be MIN:MAX:NUM (e.g. -1:1:51), got {spec!r}.") from err
    if num < 1:
        raise UsageError(f"{flag} needs NUM >= 1 points, got {num}.")
    return np.linspace(lo, hi, num, dtype=np.float32)


def _problem(args):
    """(layer, params, state, joint metric fn, names available)."""
    layer, params, state = _factory(args.model, "model")
    x, y = _factory(args.data, "data")
    x, y = jnp.asarray(x), jnp.asarray(y)
    classify = jnp.issubdtype(y.dtype, jnp.integer)

    def joint(p):
        out, _ = layer.apply(p, state, x, train=False)
        if not classify:
            return {"loss": losses.mse(out, y)}
        acc = jnp.mean(jnp.argmax(out, axis=-1) == y).astype(out.dtype)
        return {"loss": losses.softmax_cross_entropy(out, y), "accuracy": acc}

    names = ("loss", "accuracy") if classify else ("loss",)
    return layer, params, joint, names


def _metrics(joint, names, wanted: str):
    chosen = [m.strip() for m in wanted.split(",") if m.strip()]
    bad = [m for m in chosen if m not in names]
    if bad or not chosen:
        raise UsageError(f"--metric {wanted!r}: available metrics are {list(names)}.")
    return lambda p: {k: v for k, v in joint(p).items() if k in chosen}


def _direction(spec: str, layer, params, seed: int, norm, ignore, axis: int):
    if spec.startswith("random"):
        seed = int(spec.split(":", 1)[1]) if ":" in spec else seed
        extra = {"filter_axis": layer.filter_axis} if hasattr(layer, "filter_axis") else {}
        d = random_direction(jax.random.key(seed), params, norm=norm, ignore=ignore, **extra)
        return d, {"key": seed, "norm": norm, "ignore": ignore,
                   "filter_axis": getattr(layer, "filter_axis", -1)}  # fmt: skip
    if not os.path.exists(spec):
        raise UsageError(f"direction {spec!r} is neither 'random[:SEED]', 'none' nor a file.")
    dirs = load_directions(spec, like=params)
    if axis >= len(dirs):
        raise UsageError(f"{spec!r} holds {len(dirs)} direction(s); it has no direction {axis}.")
    return dirs[axis], {"file": os.path.abspath(spec), "index": axis}


def _surface_path(out: Path, name: str, resume: bool) -> Path:
    path = out / f"{name}.h5"
    if path.exists() and not resume:
        raise UsageError(f"{path} exists; pass --resume to continue it or choose another --out.")
    return path


def _write_views(surface, prefix: Path, metric: str, log: bool, path=None) -> list[str]:
    from jaxnn import plotting  # matplotlib only when figures are drawn

    if surface.ys is None:
        fig, ax = plotting.new_figure()
        plotting.curves(ax, surface.xs, {k: v for k, v in surface.values.items()},
                        xlabel="alpha", ylabel="value", logy=log)  # fmt: skip
        return [plotting.save(fig, f"{prefix}_curve.png")]
    files = plotting.surface_pngs(surface.xs, surface.ys, surface.values[metric], str(prefix),
                                  label=metric, log=log, path=path)  # fmt: skip
    files.append(str(surface.to_vtk(f"{prefix}.vtk", metric, log=log)))
    files.append(str(surface.to_html(f"{prefix}.html", metric, log=log)))
    return files


def cmd_surface(args) -> dict:
    layer, params, joint, names = _problem(args)
    metrics = _metrics(joint, names, args.metric)
    out = Path(args.out)
    path = _surface_path(out, "surface", args.resume)
    norm = None if args.norm == "none" else args.norm
    ignore = None if args.ignore == "none" else args.ignore
    xs = _grid(args.grid, "--grid")
    dx, ix = _direction(args.xdir, layer, params, 1, norm, ignore, 0)
    common = dict(path=path, chunk_size=args.chunk_size, progress=not args.no_progress,
                  config=vars(args))  # fmt: skip
    if args.ydir == "none":
        surf = compute_curve(metrics, params, dx, xs, direction_info={"x": ix}, **common)
    else:
        ys = _grid(args.ygrid or args.grid, "--ygrid")
        dy, iy = _direction(args.ydir, layer, params, 2, norm, ignore, 1)
        surf = compute_surface(metrics, params, dx, dy, xs, ys, direction_info={"x": ix, "y": iy},
                               **common)  # fmt: skip
    files = [str(path)] + _write_views(surf, out / "surface", "loss", args.log)
    return {"files": files, "points": int(surf.done.sum())}


def cmd_hessian(args) -> dict:
    _, params, joint, _ = _problem(args)
    loss = lambda p: joint(p)["loss"]
    key = jax.random.key(args.seed)
    top = hessian_top_eigenvalues(loss, params, key, k=args.top_k, num_iters=args.iters)
    trace = hessian_trace(loss, params, key, num_samples=args.trace_samples)
    n = sum(int(np.size(x)) for x in jax.tree.leaves(params))
    spec = hessian_spectrum(loss, params, key, order=min(args.order, n), num_runs=args.runs)
    lo, hi = float(spec.nodes.min()), float(spec.nodes.max())
    pad = 0.05 * (hi - lo) + 1e-6
    grid = jnp.linspace(lo - pad, hi + pad, 400)
    density = spectral_density(spec.nodes, spec.weights, grid, sigma=max(pad / 5, 1e-6))
    result = {
        "top_eigenvalues": np.asarray(top.eigenvalues).tolist(),
        "residuals": np.asarray(top.residuals).tolist(),
        "trace": float(trace.estimate),
        "trace_standard_error": float(trace.standard_error),
        "sharpness_eps_1e-3": float(sharpness(loss, params, epsilon=1e-3)),
        "num_params": n,
    }
    out = Path(args.out)
    from jaxnn import plotting

    fig, ax = plotting.new_figure()
    plotting.spectral_density(ax, grid, density)
    files = [plotting.save(fig, out / "hessian_density.png")]
    files.append(str(write_json(out / "hessian.json", result)))
    return dict(result, files=files)


def _load_checkpoints(directory: str, params) -> list:
    folder = Path(directory)
    files = sorted(folder.glob("*.npz")) if folder.is_dir() else []
    if len(files) < 2:
        raise UsageError(
            f"--checkpoints {directory!r} must be a directory with at least 2 .npz files."
        )
    leaves_with_path, treedef = jax.tree_util.tree_flatten_with_path(params)
    names = [jax.tree_util.keystr(p) for p, _ in leaves_with_path]
    points = []
    for f in files:
        with np.load(f) as data:
            keys = (
                names if all(n in data for n in names) else [f"arr_{i}" for i in range(len(names))]
            )
            missing = [k for k in keys if k not in data]
            if missing:
                raise UsageError(
                    f"{f} lacks arrays {missing[:3]}; save np.savez(f, *jax.tree.leaves(params))."
                )
            leaves = [np.asarray(data[k]) for k in keys]
        for (p, ref), leaf in zip(leaves_with_path, leaves, strict=True):
            if np.shape(ref) != leaf.shape:
                raise UsageError(f"{f}: leaf {jax.tree_util.keystr(p)} has shape {leaf.shape}, "
                                 f"the model's has {np.shape(ref)}.")  # fmt: skip
        points.append(jax.tree.unflatten(treedef, [jnp.asarray(x) for x in leaves]))
    return points


def cmd_trajectory(args) -> dict:
    _, params, joint, names = _problem(args)
    points = _load_checkpoints(args.checkpoints, params)
    pca = pca_directions(points)
    (dx, dy), ratio = pca[0], pca[1]
    center = points[-1]
    coords = np.asarray(project(points, center, dx, dy))
    span = float(np.abs(coords).max()) * 1.3 + 1e-6
    xs = ys = np.linspace(-span, span, _grid(args.grid, "--grid").shape[0], dtype=np.float32)
    out = Path(args.out)
    path = _surface_path(out, "surface", args.resume)
    info = {"pca": args.checkpoints}
    loss = _metrics(joint, names, "loss")
    progress = not args.no_progress
    surf = compute_surface(
        loss, center, dx, dy, xs, ys, path=path, progress=progress, direction_info=info
    )
    result = {"explained_variance_ratio": np.asarray(ratio).tolist(), "coords": coords.tolist(),
              "num_checkpoints": len(points)}  # fmt: skip
    off_plane = getattr(pca, "off_plane", None)
    if off_plane is not None:
        result["off_plane"] = np.asarray(off_plane).tolist()
    files = _write_views(surf, out / "trajectory", "loss", args.log, path=coords)
    files += [str(path), str(write_json(out / "trajectory.json", result))]
    return dict(result, files=files)


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status (0 done, 2 usage error)."""
    args = parser().parse_args(join_grids(sys.argv[1:] if argv is None else list(argv)))
    run = {"surface": cmd_surface, "hessian": cmd_hessian, "trajectory": cmd_trajectory}
    try:
        result = run[args.command](args)
    except (UsageError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps({k: v for k, v in result.items() if k != "coords"}, indent=1, default=str))
    return 0
