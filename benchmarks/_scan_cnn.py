"""The 1-D CNN trained inside `lax.scan`: jaxnn's `train_scan` vs flax.linen + optax.

Used by `benchmarks/train_step.py`. Three programs, each one `jax.jit` of a whole
run of `num_steps` Adam steps on MNIST-1D batches of 128:

* ``jaxnn``: `jaxnn.train.train_scan(supervised_loss(cnn), adam(1e-3), ...)` with
  the library's default `Conv` (``impl="auto"``: patches x matmul on CPU);
* ``jaxnn_lax``: the same with `Conv(..., impl="lax")`, the old path
  (`lax.conv_general_dilated` inside the scan);
* ``flax``: the same architecture in flax.linen, `optax.adam(1e-3)`, the same
  batches (the permutations `train_scan` draws, rebuilt from its documented
  key schedule), loss and gradient norm per step, inside one `lax.scan`.

All three start from the same weights; before timing, the loss curves must agree
(relative 1e-3 over the run: float32 rounding of two different programs grows
slowly along an Adam trajectory) or the benchmark stops.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
import optax
from jax import lax

import jaxnn.optim as jo
from benchmarks._common import time_interleaved
from benchmarks._models import CNN_CHANNELS, FlaxCNN, cnn_to_flax
from jaxnn import layers, train

__all__ = ["scan_cnn_rows"]

LR = 1e-3
BATCH = 128


def _cnn(impl: str) -> layers.Layer:
    """`benchmarks._models.jaxnn_cnn` with the given `Conv` implementation."""
    stack = []
    for c in CNN_CHANNELS:
        stack += [layers.Conv(c, 5, impl=impl), layers.Relu, layers.MaxPool(2)]
    return layers.serial(*stack, layers.Flatten, layers.Dense(10))


def _jaxnn_run(impl: str, x, y, num_steps: int):
    loss_fn = train.supervised_loss(_cnn(impl))

    def run(params, key):
        _, hist = train.train_scan(
            loss_fn, jo.adam(LR), params, (x, y), key=key, num_steps=num_steps, batch_size=BATCH
        )
        return hist["loss"]

    return jax.jit(run)


def _flax_run(x, y, num_steps: int):
    module, tx, n = FlaxCNN(), optax.adam(LR), x.shape[0]

    def indices(key):  # train_scan's schedule: one permutation per epoch, remainder dropped
        per_epoch = n // BATCH
        keys = jax.random.split(key, -(-num_steps // per_epoch))
        perms = jax.vmap(lambda k: jax.random.permutation(k, n))(keys)[:, : per_epoch * BATCH]
        return perms.reshape(-1, BATCH)[:num_steps]

    def run(variables, key):
        data_key, _ = jax.random.split(key)

        def body(carry, idx):
            v, opt_state = carry
            loss_fn = lambda v: optax.softmax_cross_entropy_with_integer_labels(
                module.apply(v, x[idx]), y[idx]
            ).mean()
            loss, grads = jax.value_and_grad(loss_fn)(v)
            updates, opt_state = tx.update(grads, opt_state, v)
            norm = optax.tree.norm(grads)
            return (optax.apply_updates(v, updates), opt_state), (loss, norm)

        _, (losses, _) = lax.scan(body, (variables, tx.init(variables)), indices(data_key))
        return losses

    return jax.jit(run)


def _band(ours: list[float], theirs: list[float]) -> list[float]:
    """Range of the per-round ratios of interleaved samples: the noise band of the ratio."""
    ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
    return [min(ratios), max(ratios)]


def scan_cnn_rows(x, y, *, num_steps: int, repeats: int) -> tuple[list[dict], dict[str, Any]]:
    """Time the three runs; return one row per candidate and the summary numbers."""
    x = x[..., None]
    _, params, _ = jax.jit(_cnn("auto").init, static_argnums=1)(jax.random.key(0), (-1, 40, 1))
    key = jax.random.key(1)
    fns = {
        "jaxnn": _jaxnn_run("auto", x, y, num_steps),
        "jaxnn_lax": _jaxnn_run("lax", x, y, num_steps),
        "flax": _flax_run(x, y, num_steps),
    }
    args = {"jaxnn": params, "jaxnn_lax": params, "flax": cnn_to_flax(params)}
    curves = {k: np.asarray(f(args[k], key)) for k, f in fns.items()}
    ref = curves["flax"]
    disagreement = {k: float(np.max(np.abs(c - ref) / np.abs(ref))) for k, c in curves.items()}
    if not all(np.isfinite(d) and d <= 1e-3 for d in disagreement.values()):
        raise RuntimeError(
            f"train_step scan CNN: the loss curves of jaxnn and flax disagree from the same "
            f"weights and batches (largest relative differences {disagreement}, limit 1e-3); "
            "the timing would compare different computations."
        )
    t = time_interleaved({k: (lambda f=f, a=args[k]: f(a, key)) for k, f in fns.items()}, repeats)
    flax_t = t["flax"]
    rows = [
        {
            "model": "cnn",
            "program": f"{num_steps} steps in one lax.scan",
            "candidate": k,
            "conv": {"jaxnn": "auto (patches on CPU)", "jaxnn_lax": "lax", "flax": "flax"}[k],
            "ms_per_step": 1e3 * t[k]["min"] / num_steps,
            "ms_per_step_median": 1e3 * t[k]["median"] / num_steps,
            "ratio_vs_flax": t[k]["min"] / flax_t["min"],
            "ratio_vs_flax_median": t[k]["median"] / flax_t["median"],
            "ratio_vs_flax_band": _band(t[k]["all"], flax_t["all"]),
            "max_relative_loss_difference_vs_flax": disagreement[k],
            "timings": t[k],
        }
        for k in fns
    ]
    new, old = t["jaxnn"], t["jaxnn_lax"]
    summary = {
        "scan_cnn_ratio_vs_flax": new["min"] / flax_t["min"],
        "scan_cnn_ratio_of_medians_vs_flax": new["median"] / flax_t["median"],
        "scan_cnn_ratio_band_vs_flax": _band(new["all"], flax_t["all"]),
        "scan_conv_lax_over_auto": old["min"] / new["min"],
        "scan_conv_lax_over_auto_median": old["median"] / new["median"],
    }
    return rows, summary
