"""Hessian curvature of a ~1e5-parameter MLP: HVP cost vs a gradient, top eigenvalue, spectrum.

Command::

    python -m benchmarks run hessian [--quick] [--out DIR]

What is measured, for the MNIST-1D MLP 40-300-300-10 (105,610 parameters,
He-normal init with key 0) and its mean cross-entropy over the 4000
training examples (``--quick``: the first 1000):

* one Hessian-vector product, ``jaxnn.landscape.hvp`` (forward-over-reverse),
  relative to one gradient (``jax.grad``) and one loss evaluation; a
  reverse-over-reverse HVP is timed alongside for reference (full run only);
* ``hessian_top_eigenvalues(loss_fn, params, key, k=1)`` (Lanczos, default
  ``num_iters=100``, ``tol=1e-6``): seconds to the top eigenvalue, with and
  without compilation, and the number of HVPs it used;
* ``hessian_spectrum(loss_fn, params, key, order=90, num_runs=3)``
  (``--quick``: ``order=10``): seconds with and without compilation.

How: each function is jit-compiled; the loss / gradient / HVP are timed with
``time_interleaved`` (compile first, block, interleave, min and median).
The eigenvalue and spectrum calls are timed once cold (the first call: trace,
compile and run) and then warm (3 further calls, 1 with ``--quick``, min
kept).
``lanczos_overhead`` is the warm Lanczos time per HVP divided by one HVP
(above 1: the time spent in re-orthogonalization and the loop).

Summary: ``hvp_over_grad`` (min HVP time / min gradient time),
``top_eigenvalue_seconds`` (warm), ``top_eigenvalue_seconds_cold``,
``spectrum_seconds`` (warm), ``spectrum_seconds_cold``, ``top_eigenvalue``,
``lanczos_matvecs`` and ``lanczos_overhead``.
"""

from __future__ import annotations

import time
from pathlib import Path

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from benchmarks._common import print_table, time_interleaved, write_result
from benchmarks._models import jaxnn_mlp, mnist1d_arrays
from jaxnn import landscape, losses

NAME = "hessian"
SIZES = (300, 300, 10)  # 40*300 + 300 + 300*300 + 300 + 300*10 + 10 = 105,610 parameters
EXAMPLES, QUICK_EXAMPLES = 4000, 1000
ORDER, QUICK_ORDER = 90, 10
NUM_RUNS = 3


def _reverse_over_reverse(loss_fn):
    """`(p, v) -> H v` as the gradient of `<grad L(p), v>` (for reference)."""
    g = jax.grad(loss_fn)

    def dot(a, b):
        return sum(
            jnp.vdot(u, w) for u, w in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
        )

    return lambda p, v: jax.grad(lambda q: dot(g(q), v))(p)


def _cold_then_warm(fn, repeats: int) -> tuple[float, float, object]:
    """(first-call seconds, min of `repeats` further calls, last output)."""
    start = time.perf_counter()
    out = jax.block_until_ready(fn())
    cold = time.perf_counter() - start
    warm = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = jax.block_until_ready(fn())
        warm.append(time.perf_counter() - start)
    return cold, min(warm), out


def run(quick: bool, out_dir: str | Path) -> dict:
    n_examples = QUICK_EXAMPLES if quick else EXAMPLES
    order = QUICK_ORDER if quick else ORDER
    repeats = 3 if quick else 10
    warm_repeats = 1 if quick else 3
    x, y = mnist1d_arrays()
    x, y = x[:n_examples], y[:n_examples]
    model = jaxnn_mlp(SIZES)
    _, params, state = jax.jit(model.init, static_argnums=1)(jax.random.key(0), (-1, 40))
    n_params = int(ravel_pytree(params)[0].size)
    loss_fn = landscape.model_loss(model, state, (x, y), losses.softmax_cross_entropy)
    v = landscape.random_direction(jax.random.key(1), params, norm=None, ignore=None)

    loss = jax.jit(loss_fn)
    grad = jax.jit(jax.grad(loss_fn))
    hvp = jax.jit(lambda p, t: landscape.hvp(loss_fn, p, t))
    candidates = {
        "loss": lambda: loss(params),
        "grad": lambda: grad(params),
        "hvp": lambda: hvp(params, v),
    }
    if not quick:
        rev_rev = jax.jit(_reverse_over_reverse(loss_fn))
        candidates["hvp_reverse_over_reverse"] = lambda: rev_rev(params, v)
    t = time_interleaved(candidates, repeats)
    top_cold, top_warm, eig = _cold_then_warm(
        lambda: landscape.hessian_top_eigenvalues(loss_fn, params, jax.random.key(2), k=1),
        warm_repeats,
    )
    spec_cold, spec_warm, _ = _cold_then_warm(
        lambda: landscape.hessian_spectrum(
            loss_fn, params, jax.random.key(3), order=order, num_runs=NUM_RUNS
        ),
        warm_repeats,
    )
    matvecs = int(eig.num_matvecs)
    hvp_s, grad_s = t["hvp"]["min"], t["grad"]["min"]
    rows = [
        {"what": name, "seconds": timing["min"], "over_grad": timing["min"] / grad_s}
        for name, timing in t.items()
    ]
    rows += [
        {"what": "top eigenvalue (k=1), warm", "seconds": top_warm, "over_grad": top_warm / grad_s,
         "hvps": matvecs},
        {"what": "top eigenvalue (k=1), with compile", "seconds": top_cold,
         "over_grad": top_cold / grad_s, "hvps": matvecs},
        {"what": f"spectrum ({NUM_RUNS} runs x order {order}), warm", "seconds": spec_warm,
         "over_grad": spec_warm / grad_s, "hvps": NUM_RUNS * order},
        {"what": f"spectrum ({NUM_RUNS} runs x order {order}), with compile",
         "seconds": spec_cold, "over_grad": spec_cold / grad_s, "hvps": NUM_RUNS * order},
    ]  # fmt: skip
    print_table(
        rows,
        ["what", "seconds", "over_grad", "hvps"],
        title=f"{NAME}: MLP 40-300-300-10 ({n_params} parameters), {n_examples} examples",
    )
    summary = {
        "hvp_over_grad": hvp_s / grad_s,
        "top_eigenvalue_seconds": top_warm,
        "top_eigenvalue_seconds_cold": top_cold,
        "spectrum_seconds": spec_warm,
        "spectrum_seconds_cold": spec_cold,
        "top_eigenvalue": float(eig.eigenvalues[0]),
        "lanczos_matvecs": matvecs,
        "lanczos_overhead": top_warm / max(matvecs, 1) / hvp_s,
        "grad_over_loss": grad_s / t["loss"]["min"],
    }
    result = {
        "config": {
            "model": "MLP 40-300-300-10",
            "parameters": n_params,
            "examples": n_examples,
            "spectrum": {"order": order, "num_runs": NUM_RUNS},
            "top_eigenvalues": {"k": 1, "num_iters": 100, "tol": 1e-6, "method": "lanczos"},
            "repeats": repeats,
            "warm_repeats": warm_repeats,
        },
        "rows": rows,
        "timings": t,
        "summary": summary,
    }
    write_result(out_dir, NAME, result)
    return result
