"""Loss functions side by side: MSE, MAE, Huber and cross-entropy, and their gradients.

Command::

    python -m experiments run loss_functions [--quick]

Runtime: about a second (quick and full are the same computation).

Expected result, with the losses of `jaxnn.losses` and gradients by `jax.grad`:

* regression losses of the residual e = prediction − target: MSE = e² grows
  quadratically (gradient 2e, unbounded), MAE = |e| linearly (gradient ±1),
  Huber(δ = 1) is ½e² inside |e| ≤ δ and linear outside, so its gradient is
  the residual clipped to [−δ, δ] — robust to outliers, smooth at 0;
* cross-entropy of the true class with predicted probability p is −log p: a
  confident wrong answer (p = 0.01) costs log 100 ≈ 4.61 > 4, while a confident
  right one (p = 0.99) costs ≈ 0.01;
* d CE / d logits = softmax(logits) − onehot(label) exactly (checked on random
  logits, float64, to 1e-12).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from experiments._common import Checks, Timer, experiment_dir, finish
from jaxnn import activations, losses, plotting

ORDER = 50  # place in the gallery and in `list`
NAME = "loss_functions"
CLAIM = (
    "Cross-entropy of a confident wrong answer (p = 0.01) exceeds 4 (−log 0.01 ≈ 4.6), and "
    "d(CE)/d(logits) = softmax − onehot; MSE, MAE and Huber differ in how they weigh outliers."
)


@dataclasses.dataclass(frozen=True)
class Config:
    residual_max: float = 3.0  # regression curves are drawn for e in [-residual_max, residual_max]
    num_points: int = 241  # grid points of the curves (odd: e = 0 is on the grid)
    huber_delta: float = 1.0  # Huber threshold between quadratic and linear parts
    wrong_prob: float = 0.01  # probability given to the true class by a confident wrong answer
    ce_threshold: float = 4.0  # its cross-entropy must exceed this
    batch: int = 16  # random logits for the softmax − onehot gradient check
    num_classes: int = 5  # classes of that check
    seed: int = 0  # numpy seed of the random logits and labels

    @classmethod
    def quick(cls) -> Config:
        return cls()


def _two_class_logits(p: jax.Array) -> jax.Array:
    """Logits whose softmax is exactly (p, 1 − p): the true class 0 gets p."""
    return jnp.log(jnp.stack([p, 1.0 - p]))[None, :]


def _compute(config: Config, e, ps, logits, labels) -> dict:
    """Every curve and gradient of the experiment, in one compiled program."""
    zeros = jnp.zeros_like(e)
    delta = config.huber_delta
    fns = {
        "MSE": lambda p, r: losses.mse(p, zeros, reduction=r),
        "MAE": lambda p, r: losses.mae(p, zeros, reduction=r),
        f"Huber (δ={delta:g})": lambda p, r: losses.huber(p, zeros, delta, reduction=r),
    }
    label = jnp.zeros((1,), jnp.int32)
    ce = lambda p: losses.softmax_cross_entropy(_two_class_logits(p), label)  # noqa: E731
    g = jax.grad(lambda z: losses.softmax_cross_entropy(z, labels, reduction="sum"))(logits)
    expected = activations.softmax(logits) - jax.nn.one_hot(labels, config.num_classes)
    return {
        "value": {k: f(e, "none") for k, f in fns.items()},
        # The sum over independent elements has gradient = the per-element derivative.
        "grad": {k: jax.grad(f)(e, "sum") for k, f in fns.items()},
        "ce_curve": jax.vmap(ce)(ps),
        "ce_wrong": ce(jnp.asarray(config.wrong_prob)),
        "ce_right": ce(jnp.asarray(1.0 - config.wrong_prob)),
        "ce_grad_error": jnp.max(jnp.abs(g - expected)),
    }


def run(config: Config, out_dir) -> dict:
    checks = Checks()
    with Timer() as timer, jax.enable_x64(True):
        e = np.linspace(-config.residual_max, config.residual_max, config.num_points)
        ps = np.logspace(-3, 0, 61)[:-1]
        rng = np.random.default_rng(config.seed)
        logits = 3.0 * rng.standard_normal((config.batch, config.num_classes))
        labels = rng.integers(0, config.num_classes, config.batch).astype(np.int32)
        out = jax.tree.map(
            lambda a: np.asarray(a, np.float64),
            jax.jit(lambda *a: _compute(config, *a))(e, ps, logits, labels),
        )
        value, grad = out["value"], out["grad"]
        huber_name = f"Huber (δ={config.huber_delta:g})"
        quad = np.abs(e) <= config.huber_delta
        huber_value_err = float(np.max(np.abs(value[huber_name][quad] - 0.5 * e[quad] ** 2)))
        huber_grad_err = float(
            np.max(np.abs(grad[huber_name] - np.clip(e, -config.huber_delta, config.huber_delta)))
        )
        checks.add(
            "Huber = ½e² for |e| ≤ δ, gradient = clip(e, −δ, δ)",
            [huber_value_err, huber_grad_err],
            huber_value_err < 1e-12 and huber_grad_err < 1e-12,
            "max errors of the value and of the gradient",
        )
        nz = e != 0  # |e| has no derivative at 0 (JAX returns a subgradient there)
        checks.add(
            "MSE gradient 2e, MAE gradient sign(e)",
            [float(np.max(np.abs(grad["MSE"]))), float(np.max(np.abs(grad["MAE"])))],
            np.allclose(grad["MSE"], 2 * e) and np.allclose(grad["MAE"][nz], np.sign(e[nz])),
            "max |gradient|: MSE's grows with the residual, MAE's is bounded by 1 (e ≠ 0)",
        )
        ce_wrong, ce_right = float(out["ce_wrong"]), float(out["ce_right"])
        checks.add(
            f"CE at p(true) = {config.wrong_prob:g}",
            ce_wrong,
            ce_wrong > config.ce_threshold and abs(ce_wrong + np.log(config.wrong_prob)) < 1e-12,
            f"= −log p = {-np.log(config.wrong_prob):.4f} > {config.ce_threshold:g}",
        )
        gerr = float(out["ce_grad_error"])
        checks.add(
            "max |d CE/d logits − (softmax − onehot)|",
            gerr,
            gerr < 1e-12,
            f"{config.batch} random examples, {config.num_classes} classes, float64",
        )
        numbers = {
            "residuals": e,
            "regression_loss": value,
            "regression_grad": grad,
            "ce_confident_wrong": ce_wrong,
            "ce_confident_right": ce_right,
            "ce_curve": {"p_true": ps, "ce": out["ce_curve"]},
            "ce_grad_max_error": gerr,
            "mae_grad_at_zero": float(grad["MAE"][~nz][0]) if (~nz).any() else None,
        }
        figures = [
            _plot(
                config,
                e,
                value,
                grad,
                ps,
                out["ce_curve"],
                ce_wrong,
                experiment_dir(out_dir, NAME),
            )
        ]
    return finish(NAME, CLAIM, config, checks, numbers, figures, out_dir, timer.seconds)


def _plot(config, e, value, grad, ps, ce_curve, ce_wrong, folder) -> str:
    fig, axes = plotting.new_figure(
        ncols=3,
        size=(5.0, 4.2),
        title=(
            "MSE, MAE and Huber weigh outliers differently; "
            "cross-entropy punishes a confident wrong answer"
        ),
    )
    ax1, ax2, ax3 = axes.flat
    for k in value:
        ax1.plot(e, value[k], label=k)
        ax2.plot(e, grad[k], label=k)
    ax1.set_ylim(0, config.residual_max**2)
    ax1.set_title("regression losses")
    ax2.set_title("d loss / d prediction")
    for ax in (ax1, ax2):
        ax.set_xlabel("residual e = prediction − target")
        ax.axhline(0, color="k", lw=0.5)
        plotting.legend(ax)
    ax3.semilogx(ps, ce_curve, label="CE = −log p")
    ax3.plot(
        [config.wrong_prob], [ce_wrong], "ro", label=f"p = {config.wrong_prob:g}: {ce_wrong:.2f}"
    )
    ax3.axhline(
        config.ce_threshold, color="gray", ls=":", label=f"threshold {config.ce_threshold:g}"
    )
    ax3.set_xlabel("predicted probability of the true class")
    ax3.set_ylabel("cross-entropy (nats)")
    ax3.set_title("cross-entropy punishes confident mistakes")
    plotting.legend(ax3)
    name = "loss_functions.png"
    plotting.save(fig, folder / name)
    return name
