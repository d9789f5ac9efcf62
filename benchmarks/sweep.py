"""`sweep` (one compiled program over a learning-rate x seed grid) vs the same runs in a loop.

Command::

    python -m benchmarks run sweep [--quick] [--out DIR]

What is measured, for five model sizes trained with ``jaxnn.optim.adam(lr)``
by ``jaxnn.train.train_scan`` (``STEPS`` steps of batch ``BATCH``):

* ``quadratic``: least squares ``mean((a @ w - b)^2)``, ``w`` of 10, on 256
  synthetic rows (a quadratic in ``w``);
* ``logreg``: logistic (softmax) regression 40 -> 10 on MNIST-1D;
* ``mlp_small``: MLP 40-32-10 on MNIST-1D;
* ``mlp_large``: MLP 40-256-256-10 on MNIST-1D;
* ``cnn``: the 1-D CNN of ``benchmarks/_models.py`` on MNIST-1D.

The grid is ``NUM_LRS`` learning rates (log-spaced 1e-3 .. 1e-1.5) x
``NUM_SEEDS`` seeds; a seed sets the initial weights and the data order.

How: ``run(lr, seed)`` returns the per-step loss history.
``sweep``: ``jaxnn.train.sweep(run, {"lr": lrs, "seed": seeds})`` with the
default chunk size (reported per model as ``chunk_size`` with the estimated
``bytes_per_run``). ``sequential``: ``jax.jit(run)`` compiled once and called
once per grid point with traced arguments, dispatched back to back and
blocked on at the end. The full run also times fixed chunk sizes
(``chunk_1``, ``chunk_8``, ``chunk_all``): these are the measurements the CPU
chunk rule in ``jaxnn/train/_sweep.py`` is calibrated on. ``time_interleaved``
(compile first, block, interleave, min and median); speedups are min over
min. Both sides must compute the same runs: the first recorded loss of every
run must agree to 1e-5 relative (the loss before any update; later steps
differ by float32 summation order, vmapped vs not, amplified by training).

Calibration (2-core x86 CPU, XLA:CPU, 16 lr x 4 seeds x 100 steps, shared
with other jobs, so noisy): the table is in the README's "Sweeps" section and
the module docstring of ``jaxnn/train/_sweep.py``; for least squares the rule's
chunk (21) and chunks of 8 were fastest (1.23x), for softmax regression the
rule's chunk of 2 (1.02x); all 64 runs in one chunk was the slowest choice
for every model measured.

Summary: ``speedup_vs_sequential`` (the smallest over the models),
``speedup_<model>`` and ``chunk_<model>`` per model.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import jaxnn.optim as jo
from benchmarks._common import print_table, time_interleaved, worst_ratio_target, write_result
from benchmarks._models import jaxnn_cnn, jaxnn_mlp, mnist1d_arrays
from jaxnn import layers, train
from jaxnn.train import sweep, sweep_bytes_per_run, sweep_chunk_size

NAME = "sweep"
NUM_LRS, NUM_SEEDS, STEPS = 16, 4, 100
QUICK_LRS, QUICK_SEEDS, QUICK_STEPS = 2, 2, 5
BATCH = 128
MODELS = ("quadratic", "logreg", "mlp_small", "mlp_large", "cnn")
SMALL = ("quadratic", "logreg", "mlp_small")  # the ">= 3x" models (see the README)


def _quadratic_run(steps: int) -> Callable:
    rng = np.random.default_rng(0)
    a = jnp.asarray(rng.normal(size=(256, 10)), jnp.float32)
    b = jnp.asarray(rng.normal(size=(256,)), jnp.float32)

    def loss(params, batch):
        xa, xb = batch
        return jnp.mean((xa @ params["w"] - xb) ** 2)

    loss_fn = train.stateless(loss)

    def run(lr, seed):
        key = jax.random.key(seed)
        w = {"w": jax.random.normal(jax.random.fold_in(key, 1), (10,))}
        _, hist = train.train_scan(
            loss_fn, jo.adam(lr), w, (a, b), key=key, num_steps=steps, batch_size=32
        )
        return hist["loss"]

    return run


def _model_run(model: layers.Layer, x: jax.Array, y: jax.Array, steps: int) -> Callable:
    loss_fn = train.supervised_loss(model)
    shape = (-1, *x.shape[1:])

    def run(lr, seed):
        k_init, k_train = jax.random.split(jax.random.key(seed))
        _, params, state = model.init(k_init, shape)
        _, hist = train.train_scan(
            loss_fn, jo.adam(lr), params, (x, y), key=k_train, num_steps=steps,
            batch_size=BATCH, model_state=state,
        )  # fmt: skip
        return hist["loss"]

    return run


def make_runs(steps: int) -> dict[str, Callable]:
    """model name -> `run(lr, seed) -> loss history (steps,)`."""
    x, y = mnist1d_arrays()
    return {
        "quadratic": _quadratic_run(steps),
        "logreg": _model_run(layers.Dense(10), x, y, steps),
        "mlp_small": _model_run(jaxnn_mlp((32, 10)), x, y, steps),
        "mlp_large": _model_run(jaxnn_mlp((256, 256, 10)), x, y, steps),
        "cnn": _model_run(jaxnn_cnn(), x[..., None], y, steps),
    }


def _one_model(name: str, run: Callable, grid: dict, repeats: int, scan_chunks: bool) -> dict:
    runs = int(np.prod([v.shape[0] for v in grid.values()]))
    single = jax.jit(run)
    points = [(lr, s) for lr in grid["lr"] for s in grid["seed"]]
    out: dict = {}

    def sequential():
        out["sequential"] = [single(lr, s) for lr, s in points]
        return out["sequential"]

    def swept(chunk=None, tag="sweep"):
        def go():
            out[tag] = sweep(run, grid, chunk_size=chunk)
            return out[tag]

        return go

    candidates = {"sweep": swept(), "sequential": sequential}
    if scan_chunks:
        for c in (1, 8, runs):
            candidates[f"chunk_{'all' if c == runs else c}"] = swept(c, f"chunk_{c}")
    t = time_interleaved(candidates, repeats)
    a = np.asarray(out["sweep"]).reshape(runs, -1)
    b = np.stack([np.asarray(h) for h in out["sequential"]])
    first = float(np.max(np.abs(a[:, 0] - b[:, 0]) / np.abs(b[:, 0])))
    if not first <= 1e-5:
        raise RuntimeError(
            f"sweep/{name}: the first losses of sweep and of the loop differ by {first:.3g} "
            "relative (allowed 1e-5): they do not compute the same runs."
        )
    per_run = sweep_bytes_per_run(run, grid)
    row = {
        "model": name,
        "runs": runs,
        "bytes_per_run": per_run,
        "chunk_size": sweep_chunk_size(per_run, runs),
        "sweep_seconds": t["sweep"]["min"],
        "sequential_seconds": t["sequential"]["min"],
        "speedup_vs_sequential": t["sequential"]["min"] / t["sweep"]["min"],
        "speedup_median": t["sequential"]["median"] / t["sweep"]["median"],
        "first_loss_max_relative_difference": first,
        "timings": t,
    }
    for tag in candidates:
        if tag.startswith("chunk_"):
            row[f"speedup_{tag}"] = t["sequential"]["min"] / t[tag]["min"]
    return row


def run(quick: bool, out_dir: str | Path) -> dict:
    num_lrs, num_seeds, steps = (
        (QUICK_LRS, QUICK_SEEDS, QUICK_STEPS) if quick else (NUM_LRS, NUM_SEEDS, STEPS)
    )
    repeats = 1 if quick else 3
    grid = {"lr": jnp.logspace(-3.0, -1.5, num_lrs), "seed": jnp.arange(num_seeds)}
    rows = [
        _one_model(name, fn, grid, repeats, scan_chunks=not quick)
        for name, fn in make_runs(steps).items()
    ]
    columns = ["model", "bytes_per_run", "chunk_size", "sweep_seconds", "sequential_seconds",
               "speedup_vs_sequential", "speedup_median"]  # fmt: skip
    if not quick:
        columns += ["speedup_chunk_1", "speedup_chunk_8", "speedup_chunk_all"]
    print_table(
        rows,
        columns,
        title=f"{NAME}: {num_lrs} lr x {num_seeds} seeds x {steps} steps of adam "
        f"(batch {BATCH}), sweep vs a loop of jit(run)",
    )
    speed = {r["model"]: r["speedup_vs_sequential"] for r in rows}
    summary = {
        "speedup_vs_sequential": min(speed.values()),
        **{f"speedup_{m}": v for m, v in speed.items()},
        **{f"chunk_{r['model']}": r["chunk_size"] for r in rows},
    }
    summary["speedup_small_models"] = min(speed[m] for m in SMALL)
    result = {
        "config": {
            "models": list(MODELS),
            "learning_rates": np.asarray(grid["lr"]).tolist(),
            "seeds": num_seeds,
            "steps": steps,
            "batch": BATCH,
            "optimizer": "jaxnn.optim.adam(lr)",
            "repeats": repeats,
        },
        "rows": rows,
        "summary": summary,
        "targets": {  # decided within the noise of the run: the paired rounds' interval
            "every_size": worst_ratio_target(
                "sweep time / sequential time <= 1.0 (sweep >= 1.0x) for every model size (CPU)",
                [(r["timings"]["sweep"], r["timings"]["sequential"]) for r in rows],
                at_most=1.0,
            ),
            "small_models": worst_ratio_target(
                "sweep time / sequential time <= 1/3 (sweep >= 3x) for the small models (CPU)",
                [(r["timings"]["sweep"], r["timings"]["sequential"])
                 for r in rows if r["model"] in SMALL],  # fmt: skip
                at_most=1 / 3,
            ),
        },
    }
    write_result(out_dir, NAME, result)
    return result
