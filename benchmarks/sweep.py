"""A learning-rate x seed sweep: one vmapped train_scan vs the same runs one after another.

Command::

    python -m benchmarks run sweep [--quick] [--out DIR]

What is measured: training the MNIST-1D MLP 40-256-256-10 with
``jaxnn.optim.adam(lr)`` for 16 learning rates (log-spaced from 1e-4 to
10^-1.5) x 4 seeds, 300 steps of batch 128 each (``--quick``: 4 x 2 runs of
30 steps). A seed sets both the initial weights and the data order.

How:

* One run is ``train(lr, key)``: initialise the model from ``key``, build
  ``adam(lr)`` (``lr`` traced) and call ``jaxnn.train.train_scan``; it
  returns the per-step loss history.
* Vmapped: ``jax.jit(vmap(vmap(train, (None, 0)), (0, None)))(lrs, keys)``,
  all runs in one compiled program.
* Sequential: ``jax.jit(train)`` compiled once and called once per
  (lr, key) pair with the values as traced arguments (no recompilation),
  the calls dispatched back to back and blocked on at the end.
* Both must compute the same runs: the first step's losses must agree to
  1e-5 and the first 10 steps' to 1e-3 relative, otherwise the benchmark
  stops with an error. Later steps are only reported (median and max
  relative difference of the final losses, runs within 1e-2): float32
  rounding differs between a batched and an unbatched matrix product, and
  at the largest learning rates training amplifies it until individual
  trajectories part (chaotic, not a bug).
* ``time_interleaved`` (compile first, block, interleave, min and median).
* Ceiling: the float32 matmul rate (``benchmarks.landscape.matmul_rate``,
  probed before and after, the faster kept). Work per step is counted as
  3 x the forward matrix-product FLOPs of a batch (forward + backward),
  so ``max_possible_speedup = 1 / sequential fraction of matmul peak``: a
  sequential sweep that already runs its matrix products near the peak
  leaves vmap nothing to win on that device.

Summary: ``speedup_vs_sequential`` (sequential min time / vmapped min time),
``runs_per_second`` and ``steps_per_second`` (vmapped, summed over runs),
``sequential_fraction_of_matmul_peak`` and ``max_possible_speedup``.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import jaxnn.optim as jo
from benchmarks._common import print_table, time_interleaved, write_result
from benchmarks._models import MLP_SIZES, jaxnn_mlp, mlp_flops, mnist1d_arrays, target
from benchmarks.landscape import matmul_rate
from jaxnn import train

NAME = "sweep"
NUM_LRS, NUM_SEEDS, STEPS = 16, 4, 300
QUICK_LRS, QUICK_SEEDS, QUICK_STEPS = 4, 2, 30
BATCH = 128
EARLY = 10  # steps over which vmapped and sequential histories must agree to 1e-3


def make_train(num_steps: int):
    """`train(lr, key) -> loss history (num_steps,)` for the MNIST-1D MLP with adam(lr)."""
    x, y = mnist1d_arrays()
    model = jaxnn_mlp()
    loss_fn = train.supervised_loss(model)

    def run_one(lr, key):
        k_init, k_train = jax.random.split(key)
        _, params, state = model.init(k_init, (-1, 40))
        _, history = train.train_scan(
            loss_fn,
            jo.adam(lr),
            params,
            (x, y),
            key=k_train,
            num_steps=num_steps,
            batch_size=BATCH,
            model_state=state,
        )
        return history["loss"]

    return run_one


def run(quick: bool, out_dir: str | Path) -> dict:
    num_lrs, num_seeds, steps = (
        (QUICK_LRS, QUICK_SEEDS, QUICK_STEPS) if quick else (NUM_LRS, NUM_SEEDS, STEPS)
    )
    repeats = 1 if quick else 3
    lrs = jnp.logspace(-4.0, -1.5, num_lrs)
    keys = jax.random.split(jax.random.key(0), num_seeds)
    run_one = make_train(steps)

    vmapped = jax.jit(jax.vmap(jax.vmap(run_one, in_axes=(None, 0)), in_axes=(0, None)))
    single = jax.jit(run_one)
    pairs = [(lr, k) for lr in lrs for k in keys]

    outputs = {}  # the last result of each side, compared after timing

    def batched():
        outputs["vmapped"] = vmapped(lrs, keys)
        return outputs["vmapped"]

    def sequential():
        outputs["sequential"] = [single(lr, k) for lr, k in pairs]
        return outputs["sequential"]

    peak = matmul_rate(1024 if quick else 2048)
    t = time_interleaved({"vmapped": batched, "sequential": sequential}, repeats)
    peak = max(peak, matmul_rate(1024 if quick else 2048))

    a = np.asarray(outputs["vmapped"]).reshape(num_lrs * num_seeds, steps)
    b = np.stack([np.asarray(h) for h in outputs["sequential"]])
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.abs(a - b) / np.abs(b)  # (runs, steps)
    rel = np.where(np.isnan(a) & np.isnan(b), 0.0, rel)  # both diverged alike: agreement
    first = float(np.max(rel[:, 0]))
    early = float(np.max(rel[:, :EARLY]))
    final = rel[:, -1]
    if not (first <= 1e-5 and early <= 1e-3):
        raise RuntimeError(
            f"sweep: vmapped and sequential runs disagree (first-step losses differ by "
            f"{first:.3g} relative, the first {EARLY} steps by {early:.3g}; allowed 1e-5 "
            "and 1e-3): they do not compute the same training runs."
        )
    runs = num_lrs * num_seeds
    flops = 3 * mlp_flops(40, MLP_SIZES, BATCH) * steps * runs  # forward + ~2x for backward
    rows = [
        {
            "method": name,
            "seconds": timing["min"],
            "seconds_median": timing["median"],
            "runs_per_second": runs / timing["min"],
            "steps_per_second": runs * steps / timing["min"],
            "speedup_vs_sequential": t["sequential"]["min"] / timing["min"],
            "gflop_per_s": flops / timing["min"] / 1e9,
            "fraction_of_matmul_peak": flops / timing["min"] / peak,
            "timings": timing,
        }
        for name, timing in t.items()
    ]
    print_table(
        rows,
        ["method", "seconds", "seconds_median", "runs_per_second", "steps_per_second",
         "speedup_vs_sequential", "fraction_of_matmul_peak"],
        title=f"{NAME}: {num_lrs} learning rates x {num_seeds} seeds x {steps} steps "
        f"(batch {BATCH}; matmul peak {peak / 1e9:.3g} GFLOP/s)",
    )  # fmt: skip
    summary = {
        "speedup_vs_sequential": rows[0]["speedup_vs_sequential"],
        "runs_per_second": rows[0]["runs_per_second"],
        "steps_per_second": rows[0]["steps_per_second"],
        "first_loss_max_relative_difference": first,
        f"first_{EARLY}_steps_max_relative_difference": early,
        "final_loss_median_relative_difference": float(np.median(final)),
        "final_loss_max_relative_difference": float(np.max(final)),
        "runs_with_final_loss_within_1e-2": int(np.sum(final <= 1e-2)),
        "best_final_loss": float(np.min(a[:, -1])),
        "sequential_fraction_of_matmul_peak": rows[1]["fraction_of_matmul_peak"],
        "max_possible_speedup": 1 / rows[1]["fraction_of_matmul_peak"],
        "matmul_gflop_per_s": peak / 1e9,
    }
    result = {
        "config": {
            "learning_rates": np.asarray(lrs).tolist(),
            "seeds": num_seeds,
            "steps": steps,
            "batch": BATCH,
            "optimizer": "jaxnn.optim.adam(lr)",
            "model": "MLP 40-256-256-10",
            "repeats": repeats,
        },
        "final_losses": {
            "vmapped": a[:, -1].reshape(num_lrs, num_seeds).tolist(),
            "sequential": b[:, -1].reshape(num_lrs, num_seeds).tolist(),
        },
        "rows": rows,
        "summary": summary,
        "targets": {
            "speedup_vs_sequential": target(
                "speedup_vs_sequential >= 4 (2 cores)",
                summary["speedup_vs_sequential"],
                summary["speedup_vs_sequential"] >= 4,
            )
        },
    }
    write_result(out_dir, NAME, result)
    return result
