"""Mode connectivity (Garipov et al. 2018, Draxler et al. 2018): a low-loss curve joins two minima.

Command::

    python -m experiments run mode_connectivity [--quick]

Runtime: ~76 s quick, ~97 s full (2-core CPU shared with other jobs at load ~10,
compilation included; an idle machine is ~3× faster).

Setup. A ReLU MLP 40 → 64 → 64 → 10 is trained on MNIST-1D training signals
with SGD (η = 0.05, momentum 0.9, batch 100) from independent seeds. For
each pair of solutions (θ_a, θ_b) of different seeds,
`jaxnn.landscape.connect` trains the control point θ of the quadratic
Bézier curve φ(t) = (1 − t)²θ_a + 2t(1 − t)θ + t²θ_b (Garipov et al.'s
curve-finding: Adam on the training loss at random t ~ U(0, 1)), started at
the midpoint. The barrier of a path is its highest training loss above the
chord between the endpoint losses (as in `linear_interpolation`). The
figure is Garipov et al.'s Fig. 1: the training loss on the plane through
θ_a, θ_b and θ (`plane_through` + `slice_2d`) with the straight segment and
the curve drawn.

Claim on numbers, every pair: the straight segment has a barrier above
`min_line_barrier` nats, and the trained curve's barrier is below
`max_curve_fraction` of the segment's.

Paper vs ours. Garipov et al. (CIFAR-10/100, VGG/ResNet): the curve's
train loss stays within ≈ the endpoints' (their Fig. 1/2, barrier ~0),
while the segment passes through loss near chance. Ours (full, 2 pairs):
segment barriers 4.0 and 4.3 nats, trained-curve barriers 0.038 and 0.039
nats (0.9 % of the segment's) with endpoint losses ≈ 0.01; quick (500
signals): 2.3 / 2.6 nats against 0.012 (0.5 %).
What was scaled: MNIST-1D and a small MLP; 3 seeds, 2 pairs; curve
training shortened (500 Adam steps; quick: 500 signals, 500 SGD steps,
200 curve steps).
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from experiments._common import Checks, Timer, experiment_dir, finish
from experiments._runs import barrier, mnist1d_mlp
from jaxnn import landscape, optim, plotting, train

ORDER = 280  # place in the gallery and in `list`
NAME = "mode_connectivity"
CLAIM = (
    "Two SGD solutions of an MLP on MNIST-1D from different seeds are joined by a trained "
    "quadratic Bézier curve whose loss barrier is a small fraction of the straight line's."
)


@dataclasses.dataclass(frozen=True)
class Config:
    width: int = 64  # units in each of the two hidden layers
    num_train: int = 2000  # MNIST-1D training signals (training and the curve's loss)
    num_steps: int = 2000  # SGD steps per solution
    batch_size: int = 100  # minibatch size
    lr: float = 0.05  # SGD learning rate (momentum 0.9)
    num_seeds: int = 3  # solutions; pairs (0, 1), (1, 2)
    curve_steps: int = 500  # Adam steps training the Bézier control point
    curve_lr: float = 1e-2  # Adam learning rate for the control point
    num_ts: int = 41  # points t in [0, 1] at which curve and segment are evaluated
    grid: int = 25  # points per axis of the plane picture
    min_line_barrier: float = 0.5  # the straight segment's barrier must exceed this (nats)
    max_curve_fraction: float = 0.2  # curve barrier below this fraction of the segment's
    seed: int = 0

    @classmethod
    def quick(cls) -> Config:
        return cls(num_train=500, num_steps=500, curve_steps=200, num_ts=21, grid=13)


def _solutions(config: Config, model, state, xy) -> list:
    @jax.jit
    def fit(key):
        _, params, _ = model.init(key, (-1, xy[0].shape[-1]))
        final, _ = train.train_scan(
            train.supervised_loss(model),
            optim.sgd(config.lr, momentum=0.9),
            params,
            xy,
            key=jax.random.fold_in(key, 1),
            num_steps=config.num_steps,
            batch_size=config.batch_size,
            model_state=state,
        )
        return final.params

    keys = [jax.random.fold_in(jax.random.key(config.seed), s) for s in range(config.num_seeds)]
    return [fit(k) for k in keys]


def _plane(config: Config, loss_fn, a, b, bend) -> dict:
    pl = landscape.plane_through(a, b, bend)
    ts = np.linspace(0, 1, 41)
    curve = [landscape.curve_point(a, b, bend, t) for t in ts]
    coords = np.asarray(landscape.project(curve, pl.origin, pl.dx, pl.dy), np.float64)
    pts = np.concatenate([coords, np.asarray(pl.coords, np.float64)])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    pad = 0.2 * (hi - lo)
    xs = np.linspace(lo[0] - pad[0], hi[0] + pad[0], config.grid)
    ys = np.linspace(lo[1] - pad[1], hi[1] + pad[1], config.grid)
    z = np.asarray(landscape.slice_2d(loss_fn, pl.origin, pl.dx, pl.dy, xs, ys), np.float64)
    return {"xs": xs, "ys": ys, "loss": z, "curve": coords, "points": pl.coords}


def run(config: Config, out_dir) -> dict:
    checks = Checks()
    with Timer() as timer:
        model, state, xy, _, loss_fn, _ = mnist1d_mlp(config.width, config.num_train, config.seed)
        sols = _solutions(config, model, state, xy)
        pairs = [(s, s + 1) for s in range(config.num_seeds - 1)]
        conns = [
            landscape.connect(
                loss_fn,
                sols[i],
                sols[j],
                num_steps=config.curve_steps,
                learning_rate=config.curve_lr,
                num_ts=config.num_ts,
                key=jax.random.key(config.seed + 100 + i),
            )
            for i, j in pairs
        ]
        ts = np.asarray(conns[0].ts, np.float64)
        line = [np.asarray(c.line_loss, np.float64) for c in conns]
        curve = [np.asarray(c.curve_loss, np.float64) for c in conns]
        line_bar = [barrier(ts, v) for v in line]
        curve_bar = [barrier(ts, v) for v in curve]
        checks.add(
            "straight segment: barrier above the chord (per pair, nats)",
            line_bar,
            min(line_bar) > config.min_line_barrier,
            f"above {config.min_line_barrier:g} nats for every pair",
        )
        frac = [c / s for c, s in zip(curve_bar, line_bar, strict=True)]
        checks.add(
            "trained Bézier curve: barrier / segment barrier (per pair)",
            {"curve_barrier": curve_bar, "fraction": frac},
            max(frac) < config.max_curve_fraction,
            f"below {config.max_curve_fraction:g} for every pair",
        )
        plane = _plane(config, loss_fn, sols[0], sols[1], conns[0].bend)
        numbers = {
            "pairs": pairs,
            "ts": ts,
            "line_loss": line,
            "curve_loss": curve,
            "line_barrier": line_bar,
            "curve_barrier": curve_bar,
            "endpoint_loss": [[v[0], v[-1]] for v in line],
            "curve_train_loss": [np.asarray(c.train_loss, np.float64) for c in conns],
            "plane": plane,
        }
        folder = experiment_dir(out_dir, NAME)
        figures = [_plot(ts, line, curve, pairs, plane, folder)]
    return finish(NAME, CLAIM, config, checks, numbers, figures, out_dir, timer.seconds)


def _plot(ts, line, curve, pairs, plane, folder) -> str:
    fig, (ax0, ax1) = plotting.new_figure(ncols=2, size=(4.8, 4.2))
    for k, (i, j) in enumerate(pairs):
        ax0.plot(ts, line[k], color=f"C{k}", ls="--", label=f"segment, seeds {i}–{j}")
        ax0.plot(ts, curve[k], color=f"C{k}", label=f"Bézier curve, seeds {i}–{j}")
    ax0.set_yscale("log")
    ax0.set_xlabel("t (position along the path)")
    ax0.set_ylabel("training loss")
    ax0.set_title("segment vs trained curve")
    ax0.legend(fontsize=8)
    plotting.contour(ax1, plane["xs"], plane["ys"], plane["loss"], levels=20, log=True, filled=True)
    pts = np.asarray(plane["points"])
    ax1.plot(pts[:2, 0], pts[:2, 1], "w--", lw=1.2, label="segment")
    ax1.plot(plane["curve"][:, 0], plane["curve"][:, 1], "r-", lw=1.5, label="Bézier curve")
    ax1.plot(pts[:2, 0], pts[:2, 1], "k*", ms=10, label="solutions θ_a, θ_b")
    ax1.plot(pts[2, 0], pts[2, 1], "rs", ms=5, label="control point θ")
    ax1.set_xlabel("direction θ_b − θ_a")
    ax1.set_ylabel("orthogonal direction (towards θ)")
    ax1.set_title("training loss on the plane (log levels)")
    ax1.legend(fontsize=7)
    name = "mode_connectivity.png"
    plotting.save(fig, folder / name)
    return name
