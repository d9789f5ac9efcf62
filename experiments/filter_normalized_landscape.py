"""Filter-normalized loss landscape (Li et al. 2018) of an MLP trained on MNIST-1D.

Command::

    python -m experiments run filter_normalized_landscape [--quick]

Runtime: ~10 s CPU quick, ~14 s CPU full (2-core CPU, compilation included;
wall time is longer on a loaded machine).

Setup. A ReLU MLP 40 → 100 → 100 → 10 is trained on MNIST-1D with Adam
(`jaxnn.train.train_scan`; learning rate picked by the final training loss
from one vmapped sweep over a log grid, grid and pick saved). Around the
trained weights θ* the training loss (`jaxnn.landscape.model_loss`, all
training signals) is evaluated on the plane θ* + x·δ + y·η
(`jaxnn.landscape.slice_2d`), δ and η Gaussian directions with **filter
normalization** (`random_direction(norm="filter")`: each output unit's
incoming weights of the direction get the norm of that unit's weights;
biases zeroed), x, y ∈ [−1, 1].

Expected result.

* θ* is the minimum of the slice grid (within one grid step), and the loss
  rises along both directions — monotonically from the centre to every edge
  of the two axes (contours and a 3-D surface are drawn).
* Li et al.'s point: the scale of the weights, not the geometry, decides how
  sharp an *un-normalized* slice looks. Multiplying the first layer (kernel
  and bias) by a = 10 and dividing the second kernel by a leaves a ReLU net's
  function — and so its loss — unchanged (relu(a·z) = a·relu(z)). Along the
  same raw Gaussian direction (`norm=None`) the curvature of the 1-D curve at
  0, measured by the second difference of the slice and cross-checked with
  the exact dᵀHd (`jaxnn.landscape.hvp`), changes by ~50× (quick: 114× and
  49×; full: 61× and 48× — the second difference over a finite step of a
  non-quadratic curve is the *apparent* curvature of the plot); along the
  filter-normalized direction (which rescales with the filters) the whole
  curve is the same to float precision (ratio 1 ± 1e-3).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from experiments._common import Checks, Timer, experiment_dir, finish, log_grid
from experiments._runs import lr_run, mnist1d
from experiments._tuning import tail_mean, tune_lr
from jaxnn import landscape, layers, losses, optim, plotting, train

ORDER = 230  # place in the gallery and in `list`
NAME = "filter_normalized_landscape"
CLAIM = (
    "Along filter-normalized random directions the trained MLP sits at the minimum of a loss "
    "basin that rises in every direction; rescaling its layers (×10, ÷10) leaves the loss and "
    "the filter-normalized curve unchanged but changes the un-normalized curve's curvature "
    "by more than 2×."
)


@dataclasses.dataclass(frozen=True)
class Config:
    width: int = 100  # units in each of the two hidden layers
    num_train: int = 4000  # MNIST-1D training signals (training and the landscape's loss)
    num_steps: int = 2000  # Adam steps
    batch_size: int = 100  # minibatch size
    lr_low: float = 3e-4  # Adam learning rates (log grid), picked by the final training loss
    lr_high: float = 1e-2
    lr_num: int = 4
    grid_2d: int = 41  # points per axis of the 2-D slice, x, y in [-1, 1]
    grid_1d: int = 41  # points of the 1-D curves (odd: 0 is a grid point)
    raw_span: float = 0.05  # un-normalized curves: alpha in [-raw_span, raw_span]
    scale: float = 10.0  # a: layer 1 (kernel, bias) × a, layer 2 kernel ÷ a
    same_tol: float = 1e-3  # filter-normalized curvature ratio must be within 1 ± this
    monotone_rtol: float = 1e-5  # "rises" resolution: a relative dip smaller than this is round-off
    min_change: float = 2.0  # un-normalized curvature must change by more than this factor
    seed: int = 0  # init, minibatch order, and directions (seed + 10, + 11, + 12)

    @classmethod
    def quick(cls) -> Config:
        return cls(num_train=1000, num_steps=500, lr_num=3, lr_low=1e-3, grid_2d=21, grid_1d=21)


def rescale(params, a: float):
    """The same ReLU function with layer 1 scaled by `a` and layer 2's kernel by 1/a.

    `relu(a·(xW1 + b1)) = a·relu(xW1 + b1)`, undone by `W2/a`; params is the tuple of
    `layers.mlp([h, h, 10])`: (Dense, (), Dense, (), Dense).
    """
    p = list(params)
    p[0] = {"w": p[0]["w"] * a, "b": p[0]["b"] * a}
    p[2] = {"w": p[2]["w"] / a, "b": p[2]["b"]}
    return tuple(p)


def _curvature(curve: np.ndarray, alphas: np.ndarray) -> float:
    """Second difference at the middle point: (L(h) + L(−h) − 2 L(0)) / h²."""
    i, h = len(curve) // 2, float(alphas[1] - alphas[0])
    return float((curve[i + 1] + curve[i - 1] - 2 * curve[i]) / h**2)


def _smallest_rise_from_centre(curve: np.ndarray) -> float:
    """Smallest relative rise (L_{k+1} − L_k) / L_{k+1} stepping away from the centre.

    Relative, because float32 resolves a loss L only to ~1e-7·L (a loss of 16 at
    the edges has an ulp of 2e-6, the centre's 0.0016 one of 1e-10).
    """
    i = len(curve) // 2
    rises = [np.diff(half) / half[1:] for half in (curve[i:], curve[: i + 1][::-1])]
    return float(np.min(np.concatenate(rises)))


def _train(config: Config, model, state, params, xy):
    run = lr_run(
        train.supervised_loss(model),
        optim.adam,
        xy,
        key=jax.random.key(config.seed + 1),
        num_steps=config.num_steps,
        batch_size=config.batch_size,
        model_state=state,
    )

    def curve(lr):
        final, hist = run(lr, params)
        return hist["loss"], final.params

    tuned = tune_lr(
        curve, log_grid(config.lr_low, config.lr_high, config.lr_num), tail_mean(0.05), has_aux=True
    )
    return tuned, jax.tree.map(lambda a: jnp.asarray(a[tuned.index]), tuned.aux)


def run(config: Config, out_dir) -> dict:
    checks = Checks()
    with Timer() as timer:
        xy = mnist1d(config.num_train)["train"]
        model = layers.mlp([config.width, config.width, 10])
        _, init, state = model.init(jax.random.key(config.seed), (-1, xy[0].shape[-1]))
        tuned, params = _train(config, model, state, init, xy)
        loss_fn = landscape.model_loss(model, state, xy, losses.softmax_cross_entropy)
        key = jax.random.key(config.seed + 10)

        # 2-D slice along two filter-normalized directions.
        dx = landscape.random_direction(jax.random.fold_in(key, 0), params, norm="filter")
        dy = landscape.random_direction(jax.random.fold_in(key, 1), params, norm="filter")
        xs = ys = np.linspace(-1.0, 1.0, config.grid_2d)
        z = np.asarray(landscape.slice_2d(loss_fn, params, dx, dy, xs, ys), np.float64)
        c = config.grid_2d // 2
        i, j = np.unravel_index(np.argmin(z), z.shape)
        checks.add(
            "grid argmin vs the trained point (grid indices)",
            {"argmin": [int(i), int(j)], "centre": [c, c], "min": z.min(), "centre_loss": z[c, c]},
            abs(i - c) <= 1 and abs(j - c) <= 1,
            "within one grid step",
        )
        along_x, along_y = z[c, :], z[:, c]
        rise = min(_smallest_rise_from_centre(along_x), _smallest_rise_from_centre(along_y))
        checks.add(
            "loss rises from the centre to the edges along both directions",
            {
                "edges_x": [along_x[0], along_x[-1]],
                "edges_y": [along_y[0], along_y[-1]],
                "centre": z[c, c],
                "smallest_relative_rise": rise,
            },
            rise > -config.monotone_rtol,
            "non-decreasing away from 0 on all four half-axes, decided at a relative "
            f"resolution of {config.monotone_rtol:g} (float32 round-off of the mean loss ~1e-7)",
        )

        # Rescaling: same function, different weights.
        scaled = rescale(params, config.scale)
        loss_jit = jax.jit(loss_fn)
        dhd = jax.jit(functools.partial(landscape.directional_curvature, loss_fn))
        loss0, loss_scaled = float(loss_jit(params)), float(loss_jit(scaled))
        checks.add(
            f"training loss after rescaling layers by ({config.scale:g}, 1/{config.scale:g})",
            {"original": loss0, "rescaled": loss_scaled},
            abs(loss_scaled - loss0) <= 1e-5 * abs(loss0),
            "unchanged (relative 1e-5)",
        )
        curves, curv = {}, {}
        dkey = jax.random.fold_in(key, 2)
        for norm, span in (("filter", 1.0), (None, config.raw_span)):
            alphas = np.linspace(-span, span, config.grid_1d)
            label = "filter-normalized" if norm else "un-normalized"
            for which, p in (("original", params), ("rescaled", scaled)):
                d = landscape.random_direction(dkey, p, norm=norm)  # same draw for both
                curve = np.asarray(landscape.slice_1d(loss_fn, p, d, alphas), np.float64)
                curves[(label, which)] = (alphas, curve)
                curv[(label, which)] = {
                    "second_difference": _curvature(curve, alphas),
                    "dHd": float(dhd(p, d)),
                }
        ratio = {
            label: {
                k: curv[(label, "rescaled")][k] / curv[(label, "original")][k]
                for k in ("second_difference", "dHd")
            }
            for label in ("filter-normalized", "un-normalized")
        }
        fr, ur = ratio["filter-normalized"], ratio["un-normalized"]
        checks.add(
            "filter-normalized curvature at 0: rescaled / original",
            fr,
            abs(fr["second_difference"] - 1) <= config.same_tol
            and abs(fr["dHd"] - 1) <= config.same_tol,
            f"unchanged: within 1 ± {config.same_tol:g} (second difference and exact dᵀHd)",
        )
        change = max(ur["second_difference"], 1 / ur["second_difference"])
        checks.add(
            "un-normalized curvature at 0: rescaled / original",
            ur,
            change > config.min_change and max(ur["dHd"], 1 / ur["dHd"]) > config.min_change,
            f"changes by more than {config.min_change:g}×, by the second difference of the "
            "plotted curve and by the exact dᵀHd",
        )
        numbers = {
            "lr_tuning": tuned.numbers(),
            "final_train_loss": loss0,
            "train_accuracy": train.evaluate(model, params, state, *xy)["accuracy"],
            "slice_2d": {"xs": xs, "ys": ys, "loss": z},
            "curvature": {f"{k[0]}, {k[1]}": v for k, v in curv.items()},
            "curvature_ratio_rescaled_over_original": ratio,
            "curves_1d": {
                f"{k[0]}, {k[1]}": {"alphas": a, "loss": cv} for k, (a, cv) in curves.items()
            },
        }
        folder = experiment_dir(out_dir, NAME)
        figures = [
            _plot_contour(xs, ys, z, folder),
            _plot_surface(xs, ys, z, folder),
            _plot_curves(config, curves, curv, folder),
        ]
    return finish(NAME, CLAIM, config, checks, numbers, figures, out_dir, timer.seconds)


def _plot_contour(xs, ys, z, folder) -> str:
    fig, ax = plotting.new_figure(size=(5.6, 4.6))
    plotting.contour(
        ax,
        xs,
        ys,
        z,
        levels=25,
        log=True,
        filled=True,
        cbar_label="training loss (log scale)",
        xlabel="x: step along δ (filter-normalized)",
        ylabel="y: step along η (filter-normalized)",
    )
    plotting.contour(ax, xs, ys, z, levels=12, log=True, cmap="Greys", colorbar=False)
    ax.plot([0], [0], "*", color="#D55E00", ms=14, mec="white", label="trained weights θ*")
    ticks = np.linspace(xs[0], xs[-1], 5)
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_aspect("equal")
    ax.grid(False)
    ax.set_title("loss on θ* + x·δ + y·η: θ* at the bottom of a basin", fontsize=10)
    plotting.legend(ax, loc="upper right")
    name = "contour.png"
    plotting.save(fig, folder / name)
    return name


def _plot_surface(xs, ys, z, folder) -> str:
    fig, ax = plotting.new_figure(size=(6.0, 5.0), projection="3d")
    plotting.surface(ax, xs, ys, z, log=True)
    ax.set_xlabel("x (along δ)")
    ax.set_ylabel("y (along η)")
    ax.set_zlabel("log10 training loss")
    ax.set_title("filter-normalized loss surface around θ*")
    name = "surface.png"
    plotting.save(fig, folder / name)
    return name


def _plot_curves(config: Config, curves, curv, folder) -> str:
    fig, axes = plotting.new_figure(ncols=2, size=(4.8, 4.0))
    for ax, label in zip(axes, ("filter-normalized", "un-normalized"), strict=True):
        for which, style in (("original", "-"), ("rescaled", "--")):
            alphas, curve = curves[(label, which)]
            k = curv[(label, which)]["second_difference"]
            name = "θ*" if which == "original" else f"layers ×{config.scale:g}, ÷{config.scale:g}"
            ax.plot(
                alphas,
                curve,
                style,
                lw=2 if which == "original" else 1.5,
                label=f"{name}: curvature {k:.3g}",
            )
        ax.set_yscale("log")
        ax.set_xlabel("α (step along the direction)")
        ax.set_ylabel("training loss (log scale)")
        verdict = "same curve" if label == "filter-normalized" else "curvature changes"
        ax.set_title(f"{label} direction: {verdict}")
        plotting.legend(ax, loc="upper center")
    fig.suptitle(
        f"same function (layers ×{config.scale:g}, ÷{config.scale:g}); only filter "
        "normalization sees it as the same landscape"
    )
    name = "rescaling_1d.png"
    plotting.save(fig, folder / name)
    return name
