"""Universal approximation: one hidden ReLU layer fits a smooth curve better as it widens.

Command::

    python -m experiments run universal_approximation [--quick]

Runtime: ~7 s quick, ~20 s full (2-core CPU).

Expected result. A network x ↦ Dense(1)(ReLU(Dense(w)(x))) is a piecewise-linear
function with at most w kinks. Fitted to f(x) = sin(2πx) on [−1, 1] (two full
periods, so a handful of pieces are needed), the error on a dense grid of 1001
points falls with the width w = 1, 2, 4, …, 64: from ≈ 0.4 (the variance of f
is 0.5; one kink cannot follow two periods) to below 1e-2 (in practice ~2e-4)
at w = 64.

"Falls with width", precisely: let E(w) be the dense-grid MSE of the best run
at width w, "best" meaning the lowest final *training* loss over the learning
rates and seeds. Then E(2w) ≤ 1.25·E(w) for every doubling (non-increasing up
to a 25% tolerance, because at large widths the error is limited by the finite
training budget rather than by the width), E(64) < 1e-2 and E(1)/E(64) ≥ 100.

How all widths train in one compiled program: every network has 64 hidden
units, and a 0/1 mask keeps the first w. The mask multiplies the first layer's
kernel and bias and the output kernel, so the masked units output relu(0) = 0,
contribute nothing and receive exactly zero gradient — Adam then leaves them at
zero update, and the network *is* a width-w network. The output kernel is
scaled by √(64/w) at initialization so its first w rows are He-normal for
fan-in w, as a real width-w layer's. A check compares the masked network with a
genuine `serial(Dense(w), Relu, Dense(1))` holding the same weights. The
first layer's biases are drawn N(0, 1) instead of the default zeros: with zero
biases every kink −b/w starts at x = 0 and narrow networks get stuck far more
often. Training
is full-batch Adam via `jaxnn.train.optimize`, one `vmap` over
widths × learning rates × seeds; the learning-rate grid and each width's pick
are in the numbers.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from experiments._common import Checks, Timer, experiment_dir, finish, log_grid
from jaxnn import initializers, layers, losses, optim, plotting, train

ORDER = 40  # place in the gallery and in `list`
NAME = "universal_approximation"
CLAIM = (
    "One hidden ReLU layer of width 1, 2, 4, …, 64 fits sin(2πx): the error falls with width "
    "(best-of-runs MSE non-increasing up to 25% per doubling) and is < 1e-2 at width 64."
)


@dataclasses.dataclass(frozen=True)
class Config:
    widths: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)  # hidden widths (the last is the maximum)
    num_train: int = 128  # training inputs, evenly spaced on [-1, 1]
    num_test: int = 1001  # dense grid on [-1, 1] on which the error is measured
    periods: float = 2.0  # target sin(2π · periods/2 · x): `periods` full periods on [-1, 1]
    bias_std: float = 1.0  # first-layer biases ~ N(0, bias_std²): kinks −b/w spread over x
    num_steps: int = 6000  # full-batch Adam steps
    lr_low: float = 1e-2  # learning-rate log grid
    lr_high: float = 1e-1  # (high end of the learning-rate grid)
    lr_num: int = 4  # (points of the learning-rate grid)
    num_seeds: int = 8  # initializations per (width, learning rate)
    tolerance: float = 1.25  # E(2w) <= tolerance * E(w) counts as "non-increasing"
    max_error_at_widest: float = 1e-2  # E(64) must be below this
    min_total_drop: float = 100.0  # E(1) / E(64) must be at least this
    seed: int = 0  # key of the initializations

    @classmethod
    def quick(cls) -> Config:
        return cls(num_steps=2500, num_seeds=5, lr_num=3)


def _target(config: Config, x: np.ndarray) -> np.ndarray:
    return np.sin(np.pi * config.periods * x).astype(np.float32)


def _masked(params, mask):
    """Zero every hidden unit outside `mask` (first layer's kernel and bias, output kernel)."""
    first, relu, out = params
    first = {"w": first["w"] * mask[None, :], "b": first["b"] * mask}
    return first, relu, {"w": out["w"] * mask[:, None], "b": out["b"]}


def _train_all(config: Config, model, x, y, x_test, y_test, lrs):
    """Train every (width, lr, seed); return train MSE, test MSE, test predictions, params."""
    width_max = max(config.widths)
    widths = jnp.asarray(config.widths, jnp.float32)
    keys = jax.random.split(jax.random.key(config.seed), config.num_seeds)

    def one(width, lr, key):
        _, params, state = model.init(key, (-1, 1))
        mask = (jnp.arange(width_max) < width).astype(jnp.float32)
        first, relu, out = params
        out = {"w": out["w"] * jnp.sqrt(width_max / width), "b": out["b"]}  # He for fan-in w
        params = (first, relu, out)

        def loss_fn(p):
            return losses.mse(model.apply(_masked(p, mask), state, x)[0], y)

        final, hist = train.optimize(loss_fn, optim.adam(lr), params, config.num_steps)
        final = _masked(final, mask)
        test_pred = model.apply(final, state, x_test)[0]
        return hist["loss"][-1], losses.mse(test_pred, y_test), test_pred[:, 0], final

    run_seeds = jax.vmap(one, in_axes=(None, None, 0))
    run_lrs = jax.vmap(run_seeds, in_axes=(None, 0, None))
    run_widths = jax.vmap(run_lrs, in_axes=(0, None, None))
    train_mse, test_mse, pred, params = jax.jit(run_widths)(widths, jnp.asarray(lrs), keys)
    f64 = lambda a: np.asarray(a, np.float64)  # noqa: E731
    return f64(train_mse), f64(test_mse), np.asarray(pred), params


def run(config: Config, out_dir) -> dict:
    checks = Checks()
    with Timer() as timer:
        if list(config.widths) != sorted(config.widths):
            raise ValueError(f"widths must be increasing; got {config.widths}.")
        width_max = max(config.widths)
        model = layers.serial(
            layers.Dense(width_max, b_init=initializers.normal(config.bias_std)),
            layers.Relu,
            layers.Dense(1),
        )
        x = np.linspace(-1, 1, config.num_train, dtype=np.float32)[:, None]
        x_test = np.linspace(-1, 1, config.num_test, dtype=np.float32)[:, None]
        y, y_test = _target(config, x), _target(config, x_test)
        lrs = log_grid(config.lr_low, config.lr_high, config.lr_num)
        train_mse, test_mse, pred, params = _train_all(config, model, x, y, x_test, y_test, lrs)

        # Best run per width: lowest final training loss over (lr, seed).
        n_w = len(config.widths)
        best = np.argmin(train_mse.reshape(n_w, -1), axis=1)
        best_lr_idx, best_seed = np.unravel_index(best, train_mse.shape[1:])
        err = test_mse.reshape(n_w, -1)[np.arange(n_w), best]
        preds = pred.reshape(n_w, -1, config.num_test)[np.arange(n_w), best]

        # The masked network is a genuine width-w network with the same weights (one width).
        i = n_w // 2
        w = config.widths[i]
        p = jax.tree.map(lambda a: a[i, best_lr_idx[i], best_seed[i]], params)
        real = layers.serial(layers.Dense(w), layers.Relu, layers.Dense(1))
        sliced = (
            {"w": p[0]["w"][:, :w], "b": p[0]["b"][:w]},
            (),
            {"w": p[2]["w"][:w], "b": p[2]["b"]},
        )
        real_pred = np.asarray(real.apply(sliced, ((), (), ()), x_test)[0][:, 0])
        width_check = float(np.max(np.abs(real_pred - preds[i])))
        checks.add(
            f"masked width-{width_max} network = real width-{w} network",
            width_check,
            width_check < 1e-5,
            "max |difference| of their outputs on the test grid (trained weights)",
        )
        ratios = err[1:] / err[:-1]
        checks.add(
            "E(2w) / E(w) for each doubling",
            ratios,
            bool(np.all(ratios <= config.tolerance)),
            f"each ≤ {config.tolerance:g}: the best-of-runs error is non-increasing up to "
            f"{round(100 * (config.tolerance - 1))}%",
        )
        checks.add(
            f"E({width_max})",
            err[-1],
            err[-1] < config.max_error_at_widest,
            f"dense-grid MSE < {config.max_error_at_widest:g}",
        )
        checks.add(
            f"E({config.widths[0]}) / E({width_max})",
            err[0] / err[-1],
            err[0] / err[-1] >= config.min_total_drop,
            f"≥ {config.min_total_drop:g}",
        )
        numbers = {
            "widths": config.widths,
            "error": err,
            "lr_grid": lrs,
            "lr_pick": lrs[best_lr_idx],
            "seed_pick": best_seed,
            "train_mse": train_mse,
            "test_mse": test_mse,
            "target_variance": float(np.var(y_test)),
        }
        figures = [_plot(config, x, y, x_test, preds, err, test_mse, experiment_dir(out_dir, NAME))]
    return finish(NAME, CLAIM, config, checks, numbers, figures, out_dir, timer.seconds)


def _plot(config, x, y, x_test, preds, err, test_mse, folder) -> str:
    fig, axes = plotting.new_figure(
        ncols=2,
        size=(6.0, 4.5),
        title="one hidden ReLU layer fits sin(2πx) better the wider it is (MSE < 1e-2 at width 64)",
    )
    ax1, ax2 = axes.flat
    ax1.plot(x[:, 0], y[:, 0], "k.", ms=3, label="training points")
    for w, p in zip(config.widths, preds, strict=True):
        if w in (1, 4, 16, 64):
            ax1.plot(x_test[:, 0], p, label=f"width {w}")
    ax1.set_xlabel("x")
    ax1.set_title(f"sin({config.periods:g}πx) by one hidden ReLU layer")
    plotting.legend(ax1)
    widths = np.asarray(config.widths)
    all_runs = test_mse.reshape(len(widths), -1)
    for j in range(all_runs.shape[1]):
        ax2.plot(
            widths,
            all_runs[:, j],
            ".",
            color="gray",
            alpha=0.4,
            label="every (lr, seed)" if j == 0 else None,
        )
    ax2.plot(widths, err, "o-", color="C3", label="best run (lowest training loss)")
    ax2.axhline(config.max_error_at_widest, color="gray", ls=":", label="1e-2")
    ax2.set_xscale("log", base=2)
    ax2.set_yscale("log")
    ax2.set_xlabel("hidden width w")
    ax2.set_ylabel("MSE on a dense grid")
    ax2.set_title("error falls with width")
    plotting.legend(ax2)
    name = "universal_approximation.png"
    plotting.save(fig, folder / name)
    return name
