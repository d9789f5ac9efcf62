"""A 2-D loss-landscape slice: jaxnn.landscape.slice_2d vs Li et al.'s point-by-point loop.

Command::

    python -m benchmarks run landscape [--quick] [--out DIR]

What is measured: the time to evaluate the loss of the MNIST-1D MLP
40-256-256-10 (at its He-normal initialization, key 0) over the 4000
training examples on a 51 x 51 grid (``--quick``: 11 x 11 on the first 1000
examples) spanned by two filter-normalized random directions
(``random_direction``, keys 1 and 2), coordinates in [-1, 1].

How:

* Reference (Li et al. 2018, ``plot_surface.py``): a Python loop over the
  grid points; at each point the parameters ``params + a dx + b dy`` are
  formed on the host (NumPy), passed to a jit-compiled loss over the whole
  dataset, and the value is read back (``float``) before the next point.
* jaxnn: ``slice_2d(loss_fn, params, dx, dy, xs, ys, chunk_size=c)`` with the
  default chunk size (``c=None``) and several explicit ones: one compiled
  program, vmapped over chunks of points.
* Both must give the same Z (relative difference <= 1e-3, else an error).
* The same grid is also timed on the first 100 examples only (loop vs the
  default chunk size): an overhead-bound regime where a point costs about
  as much as one Python iteration, to show where batching the points pays.
* ``time_interleaved`` with one timed round after a warm-up round (each
  round evaluates the whole grid, so one round is seconds to minutes).
* Ceiling: the float32 matrix-multiply rate measured in the same run (a
  jitted ``a @ b`` on 2048 x 2048 matrices, 1024 with ``--quick``; FLOPs
  ``2 m n k``; probed before and after the slices, the faster kept). The
  work is the MLP's forward matrix-product FLOPs,
  ``2 n (40*256 + 256*256 + 256*10)`` per point for ``n`` examples
  (biases, ReLU and the loss are not counted), times the grid points.

Landscape studies (same model and directions):

* Convexity map (``landscape.convexity_map``, Li et al. 2018 §6): a 9 x 9 grid
  (``--quick``: 3 x 3) over the first 1000 examples (quick: 100), 20 Lanczos
  steps per point (quick: 10), against the per-point loop of Li et al.'s
  ``plot_hessian_eig.py`` (two ``hessian_top_eigenvalues`` calls per point, for
  ``f`` and ``-f``, the same number of steps, ``tol=0`` so neither stops early);
  ``convexity_map`` runs with ``chunk_size=9`` (on a CPU the memory-budget
  default is 1 point per chunk, about 1.8x slower than 9 here).
  Reported: ``convexity_points_per_second`` and ``convexity_speedup_vs_loop``.
* Resume overhead: ``compute_surface`` (loss and accuracy from one forward pass)
  on the slice grid with ``path=`` (a fresh HDF5 file per call, every block
  flushed) vs ``path=None``, interleaved, 3 rounds, min times;
  ``resume_overhead`` is ``t(path) / t(no path) - 1`` (target < 5 %), and
  ``blocking_overhead`` is ``t(no path) / t(slice_2d with the same chunk) - 1``.

Summary: ``speedup_vs_loop`` (loop time / slice_2d time at the default chunk
size), ``fraction_of_matmul_peak`` and ``points_per_second`` (default chunk
size), with ``best_*`` counterparts over the chunk sizes tried,
``best_chunk_size``, ``loop_fraction_of_matmul_peak`` (how close the
reference already is to the ceiling) and ``speedup_vs_loop_100_examples``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks._common import print_table, time_interleaved, write_result
from benchmarks._models import MLP_SIZES, jaxnn_mlp, mlp_flops, mnist1d_arrays, target
from jaxnn import landscape, losses

NAME = "landscape"
GRID, QUICK_GRID = 51, 11
EXAMPLES, QUICK_EXAMPLES = 4000, 1000
CHUNKS, QUICK_CHUNKS = (None, 1, 4, 16, 64), (None, 1, 16)
MATMUL, QUICK_MATMUL = 2048, 1024
SMALL = 100  # examples in the overhead-bound comparison
CONVEXITY, QUICK_CONVEXITY = (9, 1000, 20), (3, 100, 10)  # grid, examples, Lanczos steps
CONVEXITY_CHUNK = 9  # points per vmapped chunk (the CPU default, 1, runs a point at a time)


def reference_loop(loss_fn, params, dx, dy, xs, ys) -> np.ndarray:
    """Li et al.'s method: one jit-compiled loss call per grid point, parameters built on host."""
    jit_loss = jax.jit(loss_fn)
    p0, u, v = (jax.device_get(t) for t in (params, dx, dy))
    z = np.empty((len(ys), len(xs)), np.float32)
    for i, b in enumerate(np.asarray(ys, np.float32)):
        for j, a in enumerate(np.asarray(xs, np.float32)):
            point = jax.tree.map(lambda w, d1, d2: w + a * d1 + b * d2, p0, u, v)  # noqa: B023
            z[i, j] = float(jit_loss(point))
    return z


def matmul_rate(m: int, repeats: int = 3) -> float:
    """FLOP/s of a jitted float32 `a @ b` with `m x m` operands (`2 m^3` FLOPs)."""
    a = jax.random.normal(jax.random.key(0), (m, m), jnp.float32)
    b = jax.random.normal(jax.random.key(1), (m, m), jnp.float32)
    mm = jax.jit(jnp.matmul)
    t = time_interleaved({"matmul": lambda: mm(a, b)}, repeats)["matmul"]
    return 2 * m**3 / t["min"]


def _time_slices(loss_fn, params, dx, dy, xs, ys, chunks):
    """Time the loop and slice_2d at each chunk size, interleaved; check they agree.

    Returns (timings, chunk size slice_2d used per candidate, max relative Z difference).
    """
    outputs: dict[str, Any] = {}  # the last Z of each candidate, compared after timing
    chunk_used: dict[str, int] = {}

    def candidate(name, fn):
        def call():
            out = fn()
            if name != "loop":
                out, info = out
                chunk_used[name] = info.chunk_size
            outputs[name] = out
            return out

        return call

    loop = lambda: reference_loop(loss_fn, params, dx, dy, xs, ys)
    candidates = {"loop": candidate("loop", loop)}
    for c in chunks:
        slice_c = lambda c=c: landscape.slice_2d(
            loss_fn, params, dx, dy, xs, ys, chunk_size=c, return_info=True
        )
        candidates[f"chunk={c}"] = candidate(f"chunk={c}", slice_c)
    t = time_interleaved(candidates, repeats=1)
    z_ref = np.asarray(outputs["loop"])
    z_max_diff = max(
        float(np.max(np.abs(np.asarray(z) - z_ref) / np.abs(z_ref))) for z in outputs.values()
    )
    if not z_max_diff <= 1e-3:
        raise RuntimeError(
            f"landscape: slice_2d and the reference loop disagree (largest relative difference "
            f"of Z {z_max_diff:.3g} > 1e-3); the timing would compare different computations."
        )
    return t, chunk_used, z_max_diff


def _convexity(model, state, params, dx, dy, x, y, quick: bool) -> dict:
    """convexity_map vs Li et al.'s per-point eigen-solver loop (see the module docstring)."""
    grid, examples, steps = QUICK_CONVEXITY if quick else CONVEXITY
    loss_fn = landscape.model_loss(model, state, (x[:examples], y[:examples]),
                                   losses.softmax_cross_entropy)  # fmt: skip
    neg = lambda p: -loss_fn(p)
    xs = ys = jnp.linspace(-1.0, 1.0, grid)
    key = jax.random.key(0)

    def loop():
        out = []
        for b in np.asarray(ys):
            for a in np.asarray(xs):
                p = jax.tree.map(lambda w, u, v: w + a * u + b * v, params, dx, dy)  # noqa: B023
                hi = landscape.hessian_top_eigenvalues(loss_fn, p, key, num_iters=steps, tol=0.0)
                lo = landscape.hessian_top_eigenvalues(neg, p, key, num_iters=steps, tol=0.0)
                out.append(float(-lo.eigenvalues[0]) / float(hi.eigenvalues[0]))
        return jnp.abs(jnp.asarray(out))

    vmapped = lambda: landscape.convexity_map(loss_fn, params, dx, dy, xs, ys, num_iters=steps,
                                              chunk_size=CONVEXITY_CHUNK)  # fmt: skip
    t = time_interleaved({"loop": loop, "convexity_map": vmapped}, repeats=1)
    points = grid * grid
    return {
        "grid": [grid, grid], "examples": examples, "lanczos_steps": steps,
        "chunk_size": CONVEXITY_CHUNK,
        "loop_seconds": t["loop"]["min"], "seconds": t["convexity_map"]["min"],
        "points_per_second": points / t["convexity_map"]["min"],
        "speedup_vs_loop": t["loop"]["min"] / t["convexity_map"]["min"],
    }  # fmt: skip


def _resume_overhead(model, state, params, dx, dy, x, y, xs, ys) -> dict:
    """compute_surface with path= (fresh file per call) vs without vs slice_2d."""

    def joint(p):
        out, _ = model.apply(p, state, x, train=False)
        acc = jnp.mean(jnp.argmax(out, axis=-1) == y).astype(out.dtype)
        return {"loss": losses.softmax_cross_entropy(out, y), "accuracy": acc}

    chunk = landscape.default_chunk_size(params, len(xs) * len(ys), lambda p: joint(p)["loss"])
    loss_only = lambda p: joint(p)["loss"]
    folder = tempfile.mkdtemp(prefix="jaxnn-bench-")
    target_file = Path(folder) / "surface.h5"

    def with_path():
        target_file.unlink(missing_ok=True)
        s = landscape.compute_surface(joint, params, dx, dy, xs, ys, path=target_file,
                                      chunk_size=chunk, progress=False)  # fmt: skip
        return jnp.asarray(s.values["loss"])

    def no_path():
        s = landscape.compute_surface(joint, params, dx, dy, xs, ys, chunk_size=chunk,
                                      progress=False)  # fmt: skip
        return jnp.asarray(s.values["loss"])

    sliced = lambda: landscape.slice_2d(loss_only, params, dx, dy, xs, ys, chunk_size=chunk)
    t = time_interleaved({"path": with_path, "no_path": no_path, "slice_2d": sliced},
                         repeats=3)  # fmt: skip
    target_file.unlink(missing_ok=True)
    Path(folder).rmdir()
    return {
        "chunk_size": chunk,
        "seconds_path": t["path"]["min"],
        "seconds_no_path": t["no_path"]["min"],
        "seconds_slice_2d": t["slice_2d"]["min"],
        "resume_overhead": t["path"]["min"] / t["no_path"]["min"] - 1,
        "blocking_overhead": t["no_path"]["min"] / t["slice_2d"]["min"] - 1,
    }  # fmt: skip


def run(quick: bool, out_dir: str | Path) -> dict:
    grid = QUICK_GRID if quick else GRID
    n_examples = QUICK_EXAMPLES if quick else EXAMPLES
    chunks = QUICK_CHUNKS if quick else CHUNKS
    mm_size = QUICK_MATMUL if quick else MATMUL
    rates = [matmul_rate(mm_size)]

    x, y = mnist1d_arrays()
    x, y = x[:n_examples], y[:n_examples]
    model = jaxnn_mlp()
    _, params, state = jax.jit(model.init, static_argnums=1)(jax.random.key(0), (-1, 40))
    loss_fn = landscape.model_loss(model, state, (x, y), losses.softmax_cross_entropy)
    dx = landscape.random_direction(jax.random.key(1), params)
    dy = landscape.random_direction(jax.random.key(2), params)
    xs = ys = jnp.linspace(-1.0, 1.0, grid)

    t, chunk_used, z_max_diff = _time_slices(loss_fn, params, dx, dy, xs, ys, chunks)
    # The same grid in an overhead-bound regime: a tiny dataset, so each point is cheap.
    small_data = (x[:SMALL], y[:SMALL])
    small_loss = landscape.model_loss(model, state, small_data, losses.softmax_cross_entropy)
    t_small, small_chunks, small_diff = _time_slices(small_loss, params, dx, dy, xs, ys, (None,))
    z_max_diff = max(z_max_diff, small_diff)
    convexity = _convexity(model, state, params, dx, dy, x, y, quick)
    resume = _resume_overhead(model, state, params, dx, dy, x, y, xs, ys)
    rates.append(matmul_rate(mm_size))
    peak = max(rates)

    points = grid * grid
    rows = []
    for examples, timings, used in ((n_examples, t, chunk_used), (SMALL, t_small, small_chunks)):
        flops = mlp_flops(40, MLP_SIZES, examples) * points
        for name, timing in timings.items():
            seconds = timing["min"]
            rows.append(
                {
                    "examples": examples,
                    "method": name,
                    "chunk_size": None if name == "loop" else used[name],
                    "seconds": seconds,
                    "points_per_second": points / seconds,
                    "gflop_per_s": flops / seconds / 1e9,
                    "fraction_of_matmul_peak": flops / seconds / peak,
                    "speedup_vs_loop": timings["loop"]["min"] / seconds,
                    "timings": timing,
                }
            )
    print_table(
        rows,
        ["examples", "method", "chunk_size", "seconds", "points_per_second", "gflop_per_s",
         "fraction_of_matmul_peak", "speedup_vs_loop"],
        title=f"{NAME}: {grid}x{grid} slice over {n_examples} examples "
        f"(matmul peak {peak / 1e9:.3g} GFLOP/s)",
    )  # fmt: skip
    main = [r for r in rows if r["examples"] == n_examples]
    default = next(r for r in main if r["method"] == "chunk=None")
    best = max((r for r in main if r["method"] != "loop"), key=lambda r: r["points_per_second"])
    small = next(r for r in rows if r["examples"] == SMALL and r["method"] == "chunk=None")
    summary = {
        "speedup_vs_loop": default["speedup_vs_loop"],
        "fraction_of_matmul_peak": default["fraction_of_matmul_peak"],
        "points_per_second": default["points_per_second"],
        "default_chunk_size": default["chunk_size"],
        "best_speedup_vs_loop": best["speedup_vs_loop"],
        "best_fraction_of_matmul_peak": best["fraction_of_matmul_peak"],
        "best_chunk_size": best["chunk_size"],
        "loop_fraction_of_matmul_peak": main[0]["fraction_of_matmul_peak"],
        "matmul_gflop_per_s": peak / 1e9,
        f"speedup_vs_loop_{SMALL}_examples": small["speedup_vs_loop"],
        "z_max_relative_difference": z_max_diff,
        "convexity_points_per_second": convexity["points_per_second"],
        "convexity_speedup_vs_loop": convexity["speedup_vs_loop"],
        "resume_overhead": resume["resume_overhead"],
        "blocking_overhead": resume["blocking_overhead"],
    }
    print_table([convexity], ["grid", "examples", "lanczos_steps", "loop_seconds", "seconds",
                              "points_per_second", "speedup_vs_loop"],
                title=f"{NAME}: convexity map vs per-point loop")  # fmt: skip
    print_table([resume], ["chunk_size", "seconds_path", "seconds_no_path", "seconds_slice_2d",
                           "resume_overhead", "blocking_overhead"],
                title=f"{NAME}: compute_surface with a file vs without")  # fmt: skip
    result = {
        "config": {
            "grid": [grid, grid],
            "examples": n_examples,
            "model": "MLP 40-256-256-10 at init (key 0)",
            "directions": "random_direction(norm='filter', ignore='biasbn'), keys 1 and 2",
            "chunk_sizes": list(chunks),
            "matmul_size": mm_size,
            "flops_per_point": mlp_flops(40, MLP_SIZES, n_examples),
            "overhead_bound_examples": SMALL,
            "repeats": 1,
        },
        "rows": rows,
        "convexity": convexity,
        "resume": resume,
        "summary": summary,
        "targets": {
            "speedup_vs_loop": target(
                "speedup_vs_loop >= 3", summary["speedup_vs_loop"], summary["speedup_vs_loop"] >= 3
            ),
            "fraction_of_matmul_peak": target(
                "fraction_of_matmul_peak >= 0.5",
                summary["fraction_of_matmul_peak"],
                summary["fraction_of_matmul_peak"] >= 0.5,
            ),
            "resume_overhead": target(
                "resume_overhead < 0.05",
                summary["resume_overhead"],
                summary["resume_overhead"] < 0.05,
            ),
        },
    }
    write_result(out_dir, NAME, result)
    return result
