"""Skip connections (Li et al. 2018, Fig. 5 and Fig. 7): deep plain nets' landscapes turn chaotic.

Command::

    python -m experiments run skip_connections [--quick]

Runtime: ~33 s CPU quick, ~4 min CPU full (idle 2-core CPU, compilation
included; the two depth-32 convexity maps take half of the full run).

Setup. A 1-D CNN on MNIST-1D (signals of length 40, one channel) of depth D
(D conv/dense layers, ResNet's 6n + 2 counting): a stem Conv(C, 3) → BN →
ReLU, then (D − 2)/2 blocks Conv(C, 3) → BN → ReLU → Conv(C, 3) → BN,
followed by ReLU, then Flatten → Dense(10). The residual net adds the block's
input to its output before the last ReLU (`layers.residual`), the plain net
("ResNet-noshort") does not; everything else (init, data, optimizer, steps)
is the same. Each net is trained with Adam on the first `num_train` training
signals. Around each solution θ* the training loss on the first
`num_landscape` signals is evaluated, as Li et al.'s code does, with the
network in training mode (`landscape.model_loss(..., bn_mode="batch")`:
BatchNorm normalizes each batch of `landscape_batch` signals with its own
statistics; in inference mode the running statistics are not those of a
perturbed network and the loss explodes to ~1e6 at the grid's edges), on the
plane θ* + x·δ + y·η with filter-normalized Gaussian directions
(`random_direction`, BN parameters and biases zeroed), x, y ∈ [−1, 1]:

* the surface on a `grid` × `grid` grid (`slice_2d`) and its number of local
  minima (`count_local_minima`, 8-neighbourhood, only minima separated from a
  deeper one by more than `persistence` nats);
* for the deepest pair, the local convexity map |λ_min / λ_max| of the full
  Hessian on a coarser `convexity_grid` × `convexity_grid` grid
  (`convexity_map`, `lanczos_iters` Lanczos steps per point), and the share
  of its points above `ratio_threshold`.

What was scaled: CIFAR-10 ResNet-20/56/110 (16-64 channels) → MNIST-1D 1-D
CNNs of depth 8/20/32 with 8 channels, 1000 training signals, 1000 Adam
steps; the surface on 21 × 21 points (Li et al.: 51 × 51) and the convexity
map on 5 × 5 points with 30 Lanczos steps (Li et al. compute the extreme
eigenvalues at every point of the surface). Quick: depths 8/20, a 15 × 15
surface and no convexity map (`convexity_grid=0`: its vmapped Lanczos
program takes ~9 s to compile per deep net, more than the whole quick budget
of this experiment), so the quick claim rests on the local minima alone.

Expected result. Paper: with skip connections the surface stays a single
convex-looking basin at every depth; without them it "transitions from
nearly convex to chaotic" as depth grows (ResNet-20-noshort still convex,
56/110-noshort chaotic, Fig. 5), and the chaotic regions have large
|λ_min / λ_max| (Fig. 7). Ours, full run (2-core AMD EPYC): local minima of
the plain nets 5 / 8 / 15 at depth 8 / 20 / 32 against 1 / 1 / 4 with skips
(quick: 3 / 7 at depth 8 / 20 against 1 / 1);
the plain depth-32 net also trains worse (training loss 1.1, 62 % training
accuracy, against 0.01 and 100 % with skips — the degradation problem). The
convexity-map part does **not** survive the scaling: at depth 32 the share
of points with |λ_min / λ_max| > 0.1 is 0.56 without skips and 0.92 with
them (reported with holds = false). Why: without skips, training-mode BN
makes λ_max of the plain net grow to ~5e3 at the solution (~50 with skips),
so the ratio shrinks even though |λ_min| is larger (0.89 against 0.41 at
θ*); away from θ* the residual net's surface rises steeply (loss 16 at the
edge, plain 4.8), where negative curvature of either sign of ratio is
common. 30 Lanczos steps resolve λ_max well but λ_min only roughly (it sits
at the edge of a dense bulk), a limit Li et al. share.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from experiments._common import Checks, Timer, experiment_dir, finish
from experiments._runs import mnist1d
from jaxnn import landscape, layers, losses, optim, plotting, train

ORDER = 250  # place in the gallery and in `list`
NAME = "skip_connections"
CLAIM = (
    "Without skip connections the filter-normalized loss surface of a deep 1-D CNN on "
    "MNIST-1D turns non-convex as depth grows (more local minima, more grid points with "
    "large |λmin/λmax|), while the same nets with residual connections stay nearly convex."
)


@dataclasses.dataclass(frozen=True)
class Config:
    depths: tuple = (8, 20, 32)  # conv/dense layers per net (6n + 2: 3, 9, 15 blocks)
    channels: int = 8  # channels of every conv layer
    num_train: int = 1000  # MNIST-1D training signals the nets are trained on
    num_steps: int = 1000  # Adam steps
    batch_size: int = 100  # training minibatch size
    lr: float = 1e-3  # Adam learning rate
    num_landscape: int = 500  # training signals the surface and the convexity map use
    landscape_batch: int = 250  # BN batch of the training-mode landscape loss
    grid: int = 21  # surface points per axis, x, y in [-1, 1]
    convexity_grid: int = 5  # convexity-map points per axis, x, y in [-1, 1] (0: no map)
    lanczos_iters: int = 30  # Lanczos steps per convexity-map point
    persistence: float = 0.01  # a local minimum counts if a barrier above this separates it (nats)
    ratio_threshold: float = 0.1  # a convexity-map point is non-convex above this |λmin/λmax|
    seed: int = 0

    @classmethod
    def quick(cls) -> Config:
        return cls(depths=(8, 20), grid=15, convexity_grid=0)


def cnn(depth: int, channels: int, skip: bool) -> layers.Layer:
    """The 1-D CNN of the module docstring: `depth` conv/dense layers, with or without skips."""
    if depth < 4 or depth % 2:
        raise ValueError(f"depth must be an even number >= 4 (stem + blocks + dense), got {depth}.")

    def block():
        inner = layers.serial(
            layers.Conv(channels, 3), layers.BatchNorm(), layers.Relu,
            layers.Conv(channels, 3), layers.BatchNorm(),
        )  # fmt: skip
        return layers.serial(layers.residual(inner) if skip else inner, layers.Relu)

    blocks = [block() for _ in range((depth - 2) // 2)]
    stem = [layers.Conv(channels, 3), layers.BatchNorm(), layers.Relu]
    return layers.serial(*stem, *blocks, layers.Flatten, layers.Dense(10))


def _study(config: Config, depth: int, skip: bool, xy, land, convexity: bool) -> dict:
    """Train one net; its surface, local minima and (with `convexity`) its convexity map."""
    model = cnn(depth, config.channels, skip)
    _, params, state = model.init(jax.random.key(config.seed), (-1, 40, 1))

    @jax.jit
    def fit(params, state):
        final, _ = train.train_scan(
            train.supervised_loss(model),
            optim.adam(config.lr),
            params,
            xy,
            key=jax.random.key(config.seed + 1),
            num_steps=config.num_steps,
            batch_size=config.batch_size,
            model_state=state,
        )
        return final.params, final.model_state

    params, state = fit(params, state)
    ev = train.evaluate(model, params, state, *xy)
    loss_fn = landscape.model_loss(
        model, state, land, losses.softmax_cross_entropy, config.landscape_batch, bn_mode="batch"
    )
    dx = landscape.random_direction(jax.random.key(config.seed + 2), params)
    dy = landscape.random_direction(jax.random.key(config.seed + 3), params)
    xs = jnp.linspace(-1.0, 1.0, config.grid)
    surface = np.asarray(landscape.slice_2d(loss_fn, params, dx, dy, xs, xs), np.float64)
    out = {
        "train_loss": ev["loss"],
        "train_accuracy": ev["accuracy"],
        "surface": surface,
        "local_minima": landscape.count_local_minima(surface, persistence=config.persistence),
        "surface_max": float(surface.max()),
    }
    if not convexity:
        return out
    cs = jnp.linspace(-1.0, 1.0, config.convexity_grid)
    cmap = landscape.convexity_map(
        loss_fn, params, dx, dy, cs, cs, num_iters=config.lanczos_iters, return_eigenvalues=True
    )
    ratio = np.asarray(cmap.ratio, np.float64)
    centre = config.convexity_grid // 2
    return {
        **out,
        "ratio": ratio,
        "nonconvex_share": float(np.mean(ratio > config.ratio_threshold)),
        "lambda_min_at_solution": float(cmap.lambda_min[centre, centre]),
        "lambda_max_at_solution": float(cmap.lambda_max[centre, centre]),
    }


def run(config: Config, out_dir) -> dict:
    checks = Checks()
    with Timer() as timer:
        splits = mnist1d(config.num_train)
        x, y = splits["train"]
        xy = (x[..., None], y)
        land = (xy[0][: config.num_landscape], y[: config.num_landscape])
        deepest = config.depths[-1] if config.convexity_grid > 0 else None
        res = {
            kind: [
                _study(config, d, kind == "residual", xy, land, d == deepest) for d in config.depths
            ]  # fmt: skip
            for kind in ("plain", "residual")
        }
        minima = {kind: [r["local_minima"] for r in rs] for kind, rs in res.items()}
        checks.add(
            "plain nets: local minima of the surface, shallowest → deepest",
            minima["plain"],
            minima["plain"][-1] > minima["plain"][0],
            f"more minima at depth {config.depths[-1]} than at {config.depths[0]} "
            f"(persistence {config.persistence:g} nats)",
        )
        deeper = list(range(1, len(config.depths)))
        checks.add(
            "local minima, plain vs residual, at every depth past the shallowest",
            {
                "plain": [minima["plain"][i] for i in deeper],
                "residual": [minima["residual"][i] for i in deeper],
            },  # fmt: skip
            all(minima["residual"][i] < minima["plain"][i] for i in deeper),
            "fewer minima with skip connections at each of these depths",
        )
        if config.convexity_grid > 0:
            share = {kind: rs[-1]["nonconvex_share"] for kind, rs in res.items()}
            checks.add(
                f"convexity map at depth {config.depths[-1]}: share of points with "
                f"|λmin/λmax| > {config.ratio_threshold:g}, plain vs residual",
                share,
                share["plain"] > share["residual"],
                "a larger non-convex share without skip connections (Li et al. Fig. 7)",
            )
        numbers = {
            "depths": config.depths,
            "grid": np.linspace(-1.0, 1.0, config.grid),
            "convexity_grid": np.linspace(-1.0, 1.0, config.convexity_grid),
            **{kind: rs for kind, rs in res.items()},
        }
        folder = experiment_dir(out_dir, NAME)
        figures = [_plot_surfaces(config, res, folder)]
        if config.convexity_grid > 0:
            figures.append(_plot_convexity(config, res, folder))
    return finish(NAME, CLAIM, config, checks, numbers, figures, out_dir, timer.seconds)


def _plot_surfaces(config: Config, res: dict, folder) -> str:
    xs = np.linspace(-1.0, 1.0, config.grid)
    n = len(config.depths)
    fig, axes = plotting.new_figure(
        2, n, size=(3.6, 3.2),
        title="Filter-normalized training-loss contours (Li et al. Fig. 5): without skips "
        "the surface fragments into local minima as depth grows",
    )  # fmt: skip
    axes = np.asarray(axes).reshape(2, n)
    for row, kind in enumerate(("plain", "residual")):
        for col, (depth, r) in enumerate(zip(config.depths, res[kind], strict=True)):
            ax = axes[row, col]
            plotting.contour(
                ax, xs, xs, r["surface"], 20, log=True, filled=True,
                cbar_label="training loss (nats)", xlabel="x (direction δ)",
                ylabel="y (direction η)",
            )  # fmt: skip
            ax.plot(0, 0, "r*", ms=9, label="θ*, the trained net")
            if row == col == 0:
                ax.legend(loc="upper left", fontsize=8)
            n_min = r["local_minima"]
            ax.set_title(f"{kind}, depth {depth}: {n_min} local minim{'um' if n_min == 1 else 'a'}")
    name = "surfaces.png"
    plotting.save(fig, folder / name)
    return name


def _plot_convexity(config: Config, res: dict, folder) -> str:
    cs = np.linspace(-1.0, 1.0, config.convexity_grid)
    half = (cs[1] - cs[0]) / 2 if cs.size > 1 else 0.5
    extent = (cs[0] - half, cs[-1] + half, cs[0] - half, cs[-1] + half)
    depth = config.depths[-1]
    fig, axes = plotting.new_figure(
        1, 2, size=(3.8, 3.4),
        title=f"Local convexity |λmin/λmax| of the full Hessian at depth {depth} "
        f"(Li et al. Fig. 7); share above {config.ratio_threshold:g} in each title",
    )  # fmt: skip
    maps = {kind: rs[-1] for kind, rs in res.items()}
    vmax = max(float(np.max(r["ratio"])) for r in maps.values())
    for ax, (kind, r) in zip(axes, maps.items(), strict=True):
        im = ax.imshow(r["ratio"], origin="lower", extent=extent, cmap="viridis",
                       vmin=0.0, vmax=vmax)  # fmt: skip
        ax.grid(False)
        plotting.colorbar(ax, im, "|λmin / λmax|")
        ax.set_xlabel("x (direction δ)")
        ax.set_ylabel("y (direction η)")
        ax.set_title(f"{kind}: {r['nonconvex_share']:.0%} of points above")
    name = "convexity_maps.png"
    plotting.save(fig, folder / name)
    return name
