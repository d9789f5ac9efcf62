"""Two stacked linear layers are one linear layer; a ReLU between them is what adds power.

Command::

    python -m experiments run linear_collapse [--quick]

Runtime: ~5 s quick, ~8 s full (2-core CPU, mostly compilation).

Expected result.

* Collapse. serial(Dense(h), Dense(m)) computes (x w₁ + b₁) w₂ + b₂ = x W + B
  with W = w₁ w₂ and B = b₁ w₂ + b₂. (jaxnn kernels are (in, out) and act on
  row vectors; in column-vector notation this is W = w₂·w₁, B = w₂·b₁ + b₂.)
  On random inputs the stack and the single layer agree to float32 round-off
  (max difference < 1e-5).
* Consequence. Trained on a non-linear target (y = sin(3x) on [−1.5, 1.5]) the
  linear stack can do no better than the least-squares straight line — its
  final MSE matches the closed-form line fit — while the same stack with a
  ReLU between the layers fits the curve at least 10× better (in practice
  ~100–1000×).

Both models are trained full-batch (deterministic) with `jaxnn.train.optimize`
and `jaxnn.optim.adam`; the learning rate is tuned per model by a `vmap` over a
log grid × seeds (grid and pick are in the numbers; the pick minimizes the
median final MSE over seeds, and the reported MSE is that median).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from experiments._common import Checks, Timer, experiment_dir, finish, log_grid
from jaxnn import initializers, layers, losses, optim, plotting, train

ORDER = 10  # place in the gallery and in `list`
NAME = "linear_collapse"
CLAIM = (
    "Two stacked linear layers equal one linear layer (W = w₂·w₁, B = w₂·b₁ + b₂; max "
    "difference < 1e-5); with a ReLU between them the fit of a non-linear target improves "
    "at least 10×."
)


@dataclasses.dataclass(frozen=True)
class Config:
    collapse_dims: tuple[int, int, int] = (4, 16, 3)  # (in, hidden, out) of the collapse check
    collapse_points: int = 256  # random inputs on which the stack and W, B are compared
    collapse_tol: float = 1e-5  # max |stack(x) − (x W + B)| allowed (float32)
    hidden: int = 32  # width of the hidden layer of both fitted models
    num_points: int = 256  # training inputs, evenly spaced on [-x_max, x_max]
    x_max: float = 1.5  # input range of the target
    frequency: float = 3.0  # target y = sin(frequency * x)
    num_steps: int = 3000  # full-batch Adam steps
    lr_low: float = 1e-3  # learning-rate log grid (tuned per model)
    lr_high: float = 1e-1  # (high end of the learning-rate grid)
    lr_num: int = 7  # (points of the learning-rate grid)
    num_seeds: int = 5  # initializations per learning rate
    min_improvement: float = 10.0  # required ratio MSE(linear) / MSE(ReLU)
    seed: int = 0  # key of the initializations and of the collapse check

    @classmethod
    def quick(cls) -> Config:
        return cls(num_steps=1500, lr_num=4, lr_low=3e-3, num_seeds=2)


def _model(hidden: int, relu: bool):
    mid = [layers.Relu] if relu else []
    return layers.serial(layers.Dense(hidden), *mid, layers.Dense(1))


def _collapse(config: Config, key) -> dict:
    d_in, h, d_out = config.collapse_dims
    b_init = initializers.normal(0.5)  # nonzero biases, so that B is tested too
    model = layers.serial(layers.Dense(h, b_init=b_init), layers.Dense(d_out, b_init=b_init))

    @jax.jit
    def compare(key):
        kp, kx = jax.random.split(key)
        _, params, state = model.init(kp, (-1, d_in))
        x = jax.random.normal(kx, (config.collapse_points, d_in))
        stacked, _ = model.apply(params, state, x)
        l1, l2 = params
        w = l1["w"] @ l2["w"]
        b = l1["b"] @ l2["w"] + l2["b"]
        single, _ = layers.Dense(d_out).apply({"w": w, "b": b}, (), x)
        return jnp.max(jnp.abs(stacked - single)), jnp.max(jnp.abs(stacked)), w, b

    diff, scale, w, b = compare(key)
    return {"max_abs_diff": float(diff), "max_abs_output": float(scale), "W": w, "B": b}


def _fit(config: Config, model, data, lrs, key):
    """Train one model for every (lr, seed); return final MSE (L, S) and predictions."""
    x, y = data
    keys = jax.random.split(key, config.num_seeds)

    def one(lr, k):
        _, params, state = model.init(k, (-1, 1))

        def loss_fn(p):
            return losses.mse(model.apply(p, state, x)[0], y)

        final, hist = train.optimize(loss_fn, optim.adam(lr), params, config.num_steps)
        return hist["loss"][-1], model.apply(final, state, x)[0]

    per_seed = jax.vmap(one, in_axes=(None, 0))
    mse, pred = jax.jit(jax.vmap(per_seed, in_axes=(0, None)))(jnp.asarray(lrs), keys)
    return np.asarray(mse, np.float64), np.asarray(pred)


def run(config: Config, out_dir) -> dict:
    checks = Checks()
    with Timer() as timer:
        k_collapse, k_fit = jax.random.split(jax.random.key(config.seed))
        col = _collapse(config, k_collapse)
        checks.add(
            "max |stack(x) − (x W + B)|",
            col["max_abs_diff"],
            col["max_abs_diff"] < config.collapse_tol,
            f"W = w₁ w₂, B = b₁ w₂ + b₂ (row vectors); {config.collapse_points} random inputs, "
            f"outputs up to {col['max_abs_output']:.2f}; float32",
        )

        xs = np.linspace(-config.x_max, config.x_max, config.num_points, dtype=np.float32)
        x = xs[:, None]
        y = np.sin(config.frequency * x).astype(np.float32)
        design = np.concatenate([x, np.ones_like(x)], axis=1).astype(np.float64)
        coef, *_ = np.linalg.lstsq(design, y.astype(np.float64), rcond=None)
        line_mse = float(np.mean((design @ coef - y) ** 2))

        lrs = log_grid(config.lr_low, config.lr_high, config.lr_num)
        fits = {}
        for name, relu in (("linear", False), ("relu", True)):
            mse, pred = _fit(config, _model(config.hidden, relu), (x, y), lrs, k_fit)
            median = np.median(mse, axis=1)
            i = int(np.argmin(median))
            best_seed = int(np.argmin(mse[i]))
            fits[name] = {
                "lr_grid": lrs,
                "mse_grid": mse,
                "lr_pick": float(lrs[i]),
                "mse": float(median[i]),
                "prediction": pred[i, best_seed, :, 0],
            }
        lin, rel = fits["linear"]["mse"], fits["relu"]["mse"]
        checks.add(
            "trained linear stack vs least-squares line",
            {"linear_stack_mse": lin, "least_squares_line_mse": line_mse},
            abs(lin - line_mse) <= 0.01 * line_mse,
            "a linear stack is a line: it reaches, and cannot beat, the line's MSE (within 1%)",
        )
        ratio = lin / rel
        checks.add(
            "MSE(linear stack) / MSE(with ReLU)",
            ratio,
            ratio >= config.min_improvement,
            f"≥ {config.min_improvement:g}; MSE {lin:.4g} vs {rel:.4g}",
        )
        numbers = {
            "collapse": col,
            "least_squares_line": {"slope": coef[0, 0], "intercept": coef[1, 0], "mse": line_mse},
            "fits": {
                k: {kk: vv for kk, vv in v.items() if kk != "prediction"} for k, v in fits.items()
            },
            "improvement": ratio,
        }
        figures = [_plot(config, xs, y[:, 0], design @ coef, fits, experiment_dir(out_dir, NAME))]
    return finish(NAME, CLAIM, config, checks, numbers, figures, out_dir, timer.seconds)


def _plot(config, xs, y, line, fits, folder) -> str:
    fig, axes = plotting.new_figure(
        ncols=2,
        size=(6.0, 4.5),
        title=(
            "two stacked linear layers are one linear layer; a ReLU between them fits ≥ 10× better"
        ),
    )
    ax1, ax2 = axes.flat
    ax1.plot(xs, y, "k", lw=2.5, alpha=0.4, label=f"target sin({config.frequency:g}x)")
    ax1.plot(xs, line[:, 0], "C2", ls=":", lw=2.5, label="least-squares line")
    ax1.plot(
        xs,
        fits["linear"]["prediction"],
        "C0--",
        label=f"Dense–Dense (median MSE {fits['linear']['mse']:.3g})",
    )
    ax1.plot(
        xs,
        fits["relu"]["prediction"],
        "C3",
        label=f"Dense–ReLU–Dense (median MSE {fits['relu']['mse']:.2g})",
    )
    ax1.set_xlabel("x")
    ax1.set_ylabel("y")
    ax1.set_title(f"width {config.hidden}: without a non-linearity the stack is a line")
    plotting.legend(ax1, outside="below", ncol=2)
    for name, c in (("linear", "C0"), ("relu", "C3")):
        f = fits[name]
        grid_mse = np.asarray(f["mse_grid"])
        med = np.median(grid_mse, axis=1)
        ax2.loglog(f["lr_grid"], med, "o-", color=c, label=f"{name}: median over seeds")
        ax2.fill_between(f["lr_grid"], grid_mse.min(1), grid_mse.max(1), color=c, alpha=0.2, lw=0)
        ax2.plot([f["lr_pick"]], [f["mse"]], "*", ms=14, color=c)
    plotting.log_ticks(ax2.xaxis)
    plotting.log_ticks(ax2.yaxis)
    ax2.set_xlabel("Adam learning rate")
    ax2.set_ylabel("final training MSE (band: range over seeds)")
    ax2.set_title("learning-rate sweep (★ = pick): ReLU ≥ 10× lower")
    plotting.legend(ax2, outside="below")
    name = "linear_collapse.png"
    plotting.save(fig, folder / name)
    return name
