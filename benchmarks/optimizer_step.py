"""One optimizer step (update + apply) of each jaxnn.optim alias vs optax's, and memory bandwidth.

Command::

    python -m benchmarks run optimizer_step [--quick] [--out DIR]

What is measured: for sgd, momentum, nesterov, adagrad, rmsprop, adam and
adamw, the time of one step ``(params, state, grads) -> (params, state)``
(``update`` then ``apply_updates``) on parameter trees of about 1e4, 1e6 and
1e7 float32 values (``--quick``: 1e4 and 1e6), split over 8 leaves (4
square kernels ``(d, d)`` and 4 biases ``(d,)``).

How:

* Each side is one ``jax.jit`` function with ``donate_argnums=(0, 1)``
  (params and state are updated in place; the gradients are reused every
  call), the same for jaxnn and optax. Hyperparameters are the aliases'
  defaults with ``learning_rate=1e-3``.
* ``benchmarks._common.time_interleaved``: compile first, block on the
  output, jaxnn and optax interleaved, min and median kept. Small trees are
  timed in groups of calls (``inner``) so a sample lasts >= 10 ms (4 ms
  with ``--quick``).
* The ceiling is memory bandwidth, measured in the same run by a jitted,
  donated ``x + 1.0`` over a 1e8-byte float32 array (XLA cannot elide it; it
  reads and writes every byte: 2e8 bytes per call), probed before the first
  row and again after each row; the fastest probe sets the ceiling.
* Bytes moved per step = reads of params, grads and state + writes of params
  and state = ``2 nbytes(params) + nbytes(grads) + 2 nbytes(state)``, the
  least traffic any implementation needs; ``fraction_of_bandwidth`` is
  ``bytes / time / bandwidth`` (above 1 means the tree sits in cache).
* A timing-free check: ``same_program`` is true when the two compiled HLO
  programs have the same instructions (names, metadata and parameter
  numbers stripped; compared at the largest size): XLA then runs the same
  code for both, and any measured ratio away from 1 is machine noise.
  ``hlo_ops`` gives both programs' instruction counts.

Summary: ``max_ratio`` and ``median_ratio`` of ``jaxnn min time / optax min
time`` over the optimizers at the large sizes (1e6 and 1e7; 1e6 only with
``--quick``), ``max_ratio_of_medians`` (the same from median times, less
sensitive to one lucky sample on a loaded machine),
``best_fraction_of_bandwidth`` (jaxnn, large sizes), ``bandwidth_gb_per_s``
and ``optimizers_with_identical_hlo``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import optax

import jaxnn.optim as jo
from benchmarks._common import print_table, time_interleaved, worst_ratio_target, write_result
from benchmarks._models import hlo_ops, inner_for, tree_nbytes

NAME = "optimizer_step"
LR = 1e-3
SIZES = (10_000, 1_000_000, 10_000_000)
QUICK_SIZES = (10_000, 1_000_000)
LARGE = 1_000_000  # sizes >= LARGE enter the summary
BANDWIDTH_BYTES = 100_000_000

# name -> (jaxnn factory, optax factory), each taking the learning rate.
OPTIMIZERS: dict[str, tuple[Callable[[float], Any], Callable[[float], Any]]] = {
    "sgd": (jo.sgd, optax.sgd),
    "momentum": (lambda lr: jo.momentum(lr, 0.9), lambda lr: optax.sgd(lr, momentum=0.9)),
    "nesterov": (
        lambda lr: jo.nesterov(lr, 0.9),
        lambda lr: optax.sgd(lr, momentum=0.9, nesterov=True),
    ),
    "adagrad": (jo.adagrad, optax.adagrad),
    "rmsprop": (jo.rmsprop, optax.rmsprop),
    "adam": (jo.adam, optax.adam),
    "adamw": (jo.adamw, optax.adamw),
}


def make_tree(size: int, key: jax.Array) -> dict:
    """About `size` float32 values: 4 kernels `(d, d)` and 4 biases `(d,)`, `4 (d^2 + d) ~ size`."""
    d = max(1, round((math.sqrt(1 + size) - 1) / 2))
    keys = jax.random.split(key, 8)
    return {
        f"layer{i}": {
            "w": jax.random.normal(keys[2 * i], (d, d)) / math.sqrt(d),
            "b": 0.01 * jax.random.normal(keys[2 * i + 1], (d,)),
        }
        for i in range(4)
    }


class _Stepper:
    """Zero-argument callable running `step` on its own (donated) params and state."""

    def __init__(self, opt: Any, apply_updates: Callable, params: Any, grads: Any):
        def step(params, state, grads):
            updates, state = opt.update(grads, state, params)
            return apply_updates(params, updates), state

        self.step = jax.jit(step, donate_argnums=(0, 1))
        self.params = jax.tree.map(jnp.copy, params)  # private buffers: they get donated
        self.state = opt.init(self.params)
        self.grads = grads

    def __call__(self):
        self.params, self.state = self.step(self.params, self.state, self.grads)
        return self.params

    def hlo(self) -> str:
        return self.step.lower(self.params, self.state, self.grads).compile().as_text()


class _Bump:
    """Donated `x + 1.0` over a float32 array of `nbytes` bytes (reads and writes each byte)."""

    def __init__(self, nbytes: int):
        self.fn = jax.jit(lambda x: x + 1.0, donate_argnums=0)
        self.x = jnp.zeros((nbytes // 4,), jnp.float32)

    def __call__(self):
        self.x = self.fn(self.x)
        return self.x


def _compare_programs(ours: _Stepper, theirs: _Stepper) -> dict:
    a, b = hlo_ops(ours.hlo()), hlo_ops(theirs.hlo())
    return {"same_program": a == b, "hlo_ops": [len(a), len(b)]}


def run(quick: bool, out_dir: str | Path) -> dict:
    sizes = QUICK_SIZES if quick else SIZES
    repeats = 3 if quick else 20
    bump = _Bump(BANDWIDTH_BYTES)
    probes: list[float] = []  # bandwidth probe times, spread over the run; the best is kept
    probes += time_interleaved({"bump": bump}, repeats)["bump"]["all"]
    rows = []
    for size in sizes:
        params = make_tree(size, jax.random.key(0))
        grads = jax.tree.map(lambda p: 0.1 * jnp.ones_like(p), params)
        n = sum(x.size for x in jax.tree.leaves(params))
        for name, (make_jaxnn, make_optax) in OPTIMIZERS.items():
            ours = _Stepper(make_jaxnn(LR), jo.apply_updates, params, grads)
            theirs = _Stepper(make_optax(LR), optax.apply_updates, params, grads)
            inner = inner_for(ours, min_seconds=0.004 if quick else 0.01)
            inner_for(theirs)  # compile the peer too before timing
            t = time_interleaved({"jaxnn": ours, "optax": theirs}, repeats, inner=inner)
            probes += time_interleaved({"bump": bump}, 2)["bump"]["all"]
            moved = 2 * tree_nbytes(params) + tree_nbytes(grads) + 2 * tree_nbytes(ours.state)
            rows.append(
                {
                    "optimizer": name,
                    "size": n,
                    "bytes_per_step": moved,
                    "jaxnn_us": 1e6 * t["jaxnn"]["min"],
                    "optax_us": 1e6 * t["optax"]["min"],
                    "ratio": t["jaxnn"]["min"] / t["optax"]["min"],
                    "ratio_median": t["jaxnn"]["median"] / t["optax"]["median"],
                    **(_compare_programs(ours, theirs) if size == sizes[-1] else {}),
                    "inner": inner,
                    "timings": t,
                }
            )
    bandwidth = 2 * bump.x.nbytes / min(probes)
    for r in rows:
        r["jaxnn_fraction_of_bandwidth"] = r["bytes_per_step"] / r["jaxnn_us"] * 1e6 / bandwidth
        r["optax_fraction_of_bandwidth"] = r["bytes_per_step"] / r["optax_us"] * 1e6 / bandwidth
    print_table(
        rows,
        ["optimizer", "size", "jaxnn_us", "optax_us", "ratio", "ratio_median",
         "jaxnn_fraction_of_bandwidth", "same_program"],
        title=f"{NAME}: one step, jitted and donated (bandwidth {bandwidth / 1e9:.3g} GB/s)",
    )  # fmt: skip
    large = [r for r in rows if r["size"] >= LARGE]
    ratios = [r["ratio"] for r in large]
    summary = {
        "max_ratio": max(ratios),
        "median_ratio": statistics.median(ratios),
        "max_ratio_of_medians": max(r["ratio_median"] for r in large),
        "best_fraction_of_bandwidth": max(r["jaxnn_fraction_of_bandwidth"] for r in large),
        "bandwidth_gb_per_s": bandwidth / 1e9,
        "optimizers_with_identical_hlo": sum(1 for r in rows if r.get("same_program", False)),
    }
    result = {
        "config": {
            "sizes": list(sizes),
            "leaves": 8,
            "learning_rate": LR,
            "repeats": repeats,
            "donate_argnums": [0, 1],
            "bandwidth_probe_bytes": BANDWIDTH_BYTES,
            "summary_sizes": [s for s in sizes if s >= LARGE],
        },
        "rows": rows,
        "summary": summary,
        "targets": {
            "ratio_vs_optax": worst_ratio_target(  # met within the run's noise
                "jaxnn / optax <= 1.0 for every optimizer at the large sizes",
                [(r["timings"]["jaxnn"], r["timings"]["optax"]) for r in large],
                at_most=1.0,
            )
        },
    }
    write_result(out_dir, NAME, result)
    return result
