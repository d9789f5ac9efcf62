"""One training step (forward, backward, Adam update) with jaxnn vs flax.linen + optax.

Command::

    python -m benchmarks run train_step [--quick] [--out DIR]

What is measured: the time of one jit-compiled training step on MNIST-1D
batches for

* the MLP 40-256-256-10 at batch 128 and 1024, and
* a small 1-D CNN (Conv(16, 5), ReLU, MaxPool(2), Conv(32, 5), ReLU,
  MaxPool(2), Dense(10)) at batch 128 (and 1024 in the full run),

(``--quick``: the MLP and the CNN at batch 128 only, few repeats), and the
1-D CNN trained inside ``lax.scan`` (``benchmarks/_scan_cnn.py``): a whole run of
200 Adam steps (``--quick``: 10) with ``jaxnn.train.train_scan`` vs the same model
in flax.linen + optax inside one ``lax.scan``, plus jaxnn with the old
``Conv(impl="lax")`` path, so the gain of the CPU patches path is measured in
the same run.

How:

* jaxnn side: ``jaxnn.layers`` model, ``jaxnn.train.make_train_step(
  supervised_loss(model), jaxnn.optim.adam(1e-3))``, i.e. the library's own
  step as users call it (it also splits the step key and returns the
  gradient's global norm).
* Peer side: the same architecture in ``flax.linen``, ``optax.adam(1e-3)``,
  ``optax.softmax_cross_entropy_with_integer_labels``, one ``jax.jit``
  function returning the same metrics (loss and ``optax.tree.norm`` of the
  gradient) so both sides do the same work.
* Both start from the same weights (jaxnn's init copied into flax's layout)
  and neither donates its arguments. Before timing, three steps are run on
  each side and the losses and final parameters must agree (relative
  1e-4); otherwise the benchmark stops with an error.
* ``time_interleaved``: compile first, block, interleave, min and median;
  fast steps are timed in groups of calls (``inner``).
* Timing-free evidence: each row records XLA's cost analysis of both
  compiled steps (FLOPs, bytes accessed, instruction count), so a ratio
  away from 1 can be told apart from machine noise.

Summary: ``max_ratio_vs_flax`` (jaxnn min time / flax min time, worst over
the configurations), ``median_ratio_vs_flax``, ``max_ratio_of_medians_vs_flax``
(from median times) and ``samples_per_second`` of jaxnn on the MLP at the
largest batch run. Inside the scan: ``scan_cnn_ratio_vs_flax`` (min over min),
``scan_cnn_ratio_of_medians_vs_flax``, ``scan_cnn_ratio_band_vs_flax`` (the range
of the ratios of interleaved samples: the noise band), and
``scan_conv_lax_over_auto`` (old path time / new path time, min and median).
Targets: the steps ``<= 1.0`` x flax, the scanned CNN ``<= 1.1`` x flax.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import jax
import numpy as np
import optax

import jaxnn.optim as jo
from benchmarks._common import (
    print_table,
    ratio_target,
    time_interleaved,
    worst_ratio_target,
    write_result,
)
from benchmarks._models import (
    FlaxCNN,
    FlaxMLP,
    cnn_to_flax,
    hlo_ops,
    inner_for,
    jaxnn_cnn,
    jaxnn_mlp,
    mlp_to_flax,
    mnist1d_arrays,
)
from benchmarks._scan_cnn import scan_cnn_rows
from jaxnn import train

NAME = "train_step"
LR = 1e-3
CONFIGS = (("mlp", 128), ("mlp", 1024), ("cnn", 128), ("cnn", 1024))
QUICK_CONFIGS = (("mlp", 128), ("cnn", 128))


def _models(kind: str):
    """(jaxnn layer, flax module, param copier, input reshaper) for `kind`."""
    if kind == "mlp":
        return jaxnn_mlp(), FlaxMLP(), mlp_to_flax, lambda x: x
    return jaxnn_cnn(), FlaxCNN(), cnn_to_flax, lambda x: x[..., None]


class _JaxnnStep:
    def __init__(self, model, params, model_state, batch):
        opt = jo.adam(LR)
        self.step = train.make_train_step(train.supervised_loss(model), opt)
        self.state = train.init_train_state(params, opt, jax.random.key(1), model_state)
        self.batch = batch

    def __call__(self):
        self.state, metrics = self.step(self.state, self.batch)
        return metrics["loss"]

    @property
    def params(self):
        return self.state.params

    def compiled(self):
        return self.step.lower(self.state, self.batch).compile()


class _FlaxStep:
    def __init__(self, module, variables, batch):
        tx = optax.adam(LR)

        def step(variables, opt_state, batch):
            x, y = batch

            def loss_fn(v):
                logits = module.apply(v, x)
                return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

            loss, grads = jax.value_and_grad(loss_fn)(variables)
            updates, opt_state = tx.update(grads, opt_state, variables)
            variables = optax.apply_updates(variables, updates)
            return variables, opt_state, {"loss": loss, "grad_norm": optax.tree.norm(grads)}

        self.step = jax.jit(step)
        self.variables, self.opt_state = variables, tx.init(variables)
        self.batch = batch

    def __call__(self):
        self.variables, self.opt_state, metrics = self.step(
            self.variables, self.opt_state, self.batch
        )
        return metrics["loss"]

    def compiled(self):
        return self.step.lower(self.variables, self.opt_state, self.batch).compile()


def _program_cost(step) -> dict:
    """FLOPs, bytes accessed and instruction count of the compiled step (cached: no recompile)."""
    compiled = step.compiled()
    cost = compiled.cost_analysis()
    return {
        "flops": int(cost.get("flops", 0)),
        "bytes_accessed": int(cost.get("bytes accessed", 0)),
        "hlo_ops": len(hlo_ops(compiled.as_text())),
    }


def _check_agree(ours: _JaxnnStep, theirs: _FlaxStep, to_flax, label: str) -> float:
    """Run 3 steps on each side; raise unless losses and parameters agree. Returns max rel diff."""
    worst = 0.0
    for _ in range(3):
        a, b = float(ours()), float(theirs())
        worst = max(worst, abs(a - b) / max(abs(b), 1e-12))
    pa = jax.device_get(jax.tree.leaves(to_flax(ours.params)))
    pb = jax.device_get(jax.tree.leaves(theirs.variables))
    for x, y in zip(pa, pb, strict=True):
        worst = max(worst, float(np.max(np.abs(x - y)) / (np.max(np.abs(y)) + 1e-12)))
    if not np.isfinite(worst) or worst > 1e-4:
        raise RuntimeError(
            f"train_step {label}: jaxnn and flax disagree after 3 steps from the same weights "
            f"(largest relative difference {worst:.3g} > 1e-4); the timing would compare "
            "different computations."
        )
    return worst


def _step_row(kind: str, batch_size: int, x_all, y_all, repeats: int, quick: bool) -> dict:
    """Time one jit-compiled training step of `kind` at `batch_size`, jaxnn vs flax."""
    model, module, to_flax, shape = _models(kind)
    x, y = shape(x_all[:batch_size]), y_all[:batch_size]
    init = jax.jit(model.init, static_argnums=1)  # one compile, not one per eager op
    _, params, model_state = init(jax.random.key(0), (-1, *x.shape[1:]))
    ours = _JaxnnStep(model, params, model_state, (x, y))
    theirs = _FlaxStep(module, to_flax(params), (x, y))
    disagreement = _check_agree(ours, theirs, to_flax, f"{kind} batch {batch_size}")
    inner = inner_for(ours, min_seconds=0.005 if quick else 0.02)
    t = time_interleaved({"jaxnn": ours, "flax": theirs}, repeats, inner=inner)
    return {
        "model": kind,
        "batch": batch_size,
        "jaxnn_ms": 1e3 * t["jaxnn"]["min"],
        "flax_ms": 1e3 * t["flax"]["min"],
        "ratio": t["jaxnn"]["min"] / t["flax"]["min"],
        "ratio_median": t["jaxnn"]["median"] / t["flax"]["median"],
        "jaxnn_samples_per_second": batch_size / t["jaxnn"]["min"],
        "flax_samples_per_second": batch_size / t["flax"]["min"],
        "max_relative_disagreement": disagreement,
        "jaxnn_program": _program_cost(ours),
        "flax_program": _program_cost(theirs),
        "inner": inner,
        "timings": t,
    }


def _targets(rows: list[dict], scan_rows: list[dict]) -> dict:
    """Speed targets decided within the noise of the run (`jaxnn.timing.ratio_target`)."""
    pairs = [(r["timings"]["jaxnn"], r["timings"]["flax"]) for r in rows]
    scan = {r["candidate"]: r["timings"] for r in scan_rows}
    return {
        "ratio_vs_flax": worst_ratio_target(
            "jaxnn / flax step time <= 1.0 for every model and batch", pairs, at_most=1.0
        ),
        "scan_cnn_ratio_vs_flax": ratio_target(
            "1-D CNN inside lax.scan: jaxnn / flax <= 1.1", scan["jaxnn"], scan["flax"], at_most=1.1
        ),
    }


def run(quick: bool, out_dir: str | Path) -> dict:
    configs = QUICK_CONFIGS if quick else CONFIGS
    repeats = 3 if quick else 20
    x_all, y_all = mnist1d_arrays()
    rows = [_step_row(kind, b, x_all, y_all, repeats, quick) for kind, b in configs]
    print_table(
        rows,
        ["model", "batch", "jaxnn_ms", "flax_ms", "ratio", "ratio_median",
         "jaxnn_samples_per_second"],
        title=f"{NAME}: one Adam training step, jaxnn vs flax.linen + optax",
    )  # fmt: skip
    scan_steps, scan_repeats = (10, 3) if quick else (200, 10)
    scan_rows, scan_summary = scan_cnn_rows(
        x_all, y_all, num_steps=scan_steps, repeats=scan_repeats
    )
    print_table(
        scan_rows,
        ["candidate", "conv", "ms_per_step", "ms_per_step_median", "ratio_vs_flax",
         "ratio_vs_flax_median", "ratio_vs_flax_band"],
        title=f"{NAME}: the 1-D CNN, {scan_steps} Adam steps inside one lax.scan",
    )  # fmt: skip
    ratios = [r["ratio"] for r in rows]
    headline = max((r for r in rows if r["model"] == "mlp"), key=lambda r: r["batch"])
    summary = {
        "max_ratio_vs_flax": max(ratios),
        "median_ratio_vs_flax": statistics.median(ratios),
        "max_ratio_of_medians_vs_flax": max(r["ratio_median"] for r in rows),
        "samples_per_second": headline["jaxnn_samples_per_second"],
        "samples_per_second_batch": headline["batch"],
        **scan_summary,
    }
    config = {
        "configs": [list(c) for c in configs],
        "optimizer": f"adam({LR})",
        "mlp": "40-256-256-10",
        "cnn": "Conv(16,5)-ReLU-MaxPool(2)-Conv(32,5)-ReLU-MaxPool(2)-Dense(10)",
        "repeats": repeats,
        "scan_steps": scan_steps,
        "scan_repeats": scan_repeats,
    }
    result = {
        "config": config,
        "rows": rows,
        "scan_rows": scan_rows,
        "summary": summary,
        "targets": _targets(rows, scan_rows),
    }
    write_result(out_dir, NAME, result)
    return result
