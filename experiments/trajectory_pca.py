"""Optimization paths on their PCA plane (Li et al. 2018, §7, Fig. 9/10).

Command::

    python -m experiments run trajectory_pca [--quick]

Runtime: ~20 s CPU quick, ~70 s CPU full (2-core CPU shared with other jobs,
compilation included; an idle machine is ~3× faster).

Setup. A ReLU MLP 40 → 64 → 64 → 10 is trained on MNIST-1D with SGD
(η = 0.05, momentum 0.9) and with Adam (η = 1e-3), batch 100, recording the
parameters (`train_scan(record_params=True)`) every `stride` steps. As in Li
et al., the checkpoints θ₀ … θ_n (θ₀ the initialization) are centred on the
final point θ_n, `jaxnn.landscape.pca_directions` gives the top two PCA
directions (δ, η) and their explained-variance ratios, `project` the
coordinates of every checkpoint in the plane θ_n + x·δ + y·η, and
`slice_2d` the training loss on that plane under the path (contours). The
off-plane distance of checkpoint t is ‖r_t − x_t·δ − y_t·η‖ with
r_t = θ_t − θ_n (computed here from the orthonormal PCA directions),
reported relative to ‖θ₀ − θ_n‖.

Expected result. Li et al. (CIFAR-10 VGG/ResNet): "the first two
components explain most of the variation", e.g. 81–95 % together in their
Fig. 10, so the path lies close to a 2-D plane even in millions of
dimensions, and it runs down the contours of the plane. Ours, every
optimizer and seed: the first two components explain more than `min_ratio`
= 0.7 together (full, 2 seeds: SGD 0.94–0.95, Adam 0.98; quick 0.98), the
largest off-plane distance is below `max_off_plane` = 0.5 of ‖θ₀ − θ_n‖
(full: 0.20–0.23; quick 0.16–0.18), and the plane's loss under the projected
path falls from its start to its end (full: SGD 1.4 → 0.01–0.07, Adam
1.9 → 0.53; Adam at η = 1e-3 is still far from converged after 2000 steps,
which the contours show as a valley beyond the end point). What was scaled: MNIST-1D and a small
MLP instead of CIFAR-10 CNNs; 2 seeds (quick: 1000 signals, 600 steps).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from experiments._common import Checks, Timer, experiment_dir, finish
from experiments._runs import mnist1d_mlp
from jaxnn import landscape, optim, plotting, train

ORDER = 260  # place in the gallery and in `list`
NAME = "trajectory_pca"
CLAIM = (
    "The SGD and Adam paths of an MLP on MNIST-1D lie close to the plane of their first two "
    "PCA directions: those explain most of the variation of the checkpoints, the off-plane "
    "distance is small, and the path runs downhill over the plane's loss contours."
)


@dataclasses.dataclass(frozen=True)
class Config:
    width: int = 64  # units in each of the two hidden layers
    num_train: int = 4000  # MNIST-1D training signals (training and the plane's loss)
    num_steps: int = 2000  # training steps per run
    batch_size: int = 100  # minibatch size
    stride: int = 20  # keep every stride-th recorded parameter vector as a checkpoint
    sgd_lr: float = 0.05  # SGD learning rate (momentum 0.9)
    adam_lr: float = 1e-3  # Adam learning rate
    num_seeds: int = 2  # inits / minibatch orders (every seed is checked)
    grid: int = 25  # points per axis of the loss plane
    margin: float = 0.25  # plane extends this fraction beyond the path's range
    min_ratio: float = 0.7  # first two explained-variance ratios must sum above this
    max_off_plane: float = 0.5  # largest off-plane distance / ||theta_0 - theta_n|| below this
    seed: int = 0

    @classmethod
    def quick(cls) -> Config:
        return cls(num_train=1000, num_steps=600, stride=10, grid=15)


def off_plane(path: np.ndarray, coords: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Distances ||r_t - x_t dx - y_t dy|| of flattened residuals r_t (n, d) to the plane."""
    return np.linalg.norm(path - coords @ basis, axis=1)


def _optimizers(config: Config) -> dict:
    return {"SGD": optim.sgd(config.sgd_lr, momentum=0.9), "Adam": optim.adam(config.adam_lr)}


def _study(config: Config, loss_fn, traj, center) -> dict:
    """PCA plane of one stacked trajectory: ratios, coordinates, off-plane, loss grid."""
    # off_plane_t of the library is relative to ||theta_t - center||; the claim below uses
    # the distance relative to the start, ||theta_0 - theta_n|| (Li et al.'s picture scale)
    (dx, dy), ratio, off_plane_t = landscape.pca_directions(traj, center=center)
    coords = np.asarray(landscape.project(traj, center, dx, dy), np.float64)
    flat = np.asarray(jax.vmap(lambda p: ravel_pytree(p)[0])(traj), np.float64)
    res = flat - np.asarray(ravel_pytree(center)[0], np.float64)[None]
    basis = np.stack([np.asarray(ravel_pytree(d)[0], np.float64) for d in (dx, dy)])
    dist = off_plane(res, coords, basis) / np.linalg.norm(res[0])
    lo, hi = coords.min(axis=0), coords.max(axis=0)
    pad = config.margin * (hi - lo)
    xs = np.linspace(lo[0] - pad[0], hi[0] + pad[0], config.grid)
    ys = np.linspace(lo[1] - pad[1], hi[1] + pad[1], config.grid)
    z = np.asarray(landscape.slice_2d(loss_fn, center, dx, dy, xs, ys), np.float64)
    on_path = np.asarray(
        jax.vmap(lambda c: loss_fn(_plane_point(center, dx, dy, c)))(jnp.asarray(coords)),
        np.float64,
    )
    return {
        "ratio": np.asarray(ratio, np.float64),
        "coords": coords,
        "off_plane": dist,
        "off_plane_per_checkpoint": np.asarray(off_plane_t, np.float64),
        "xs": xs,
        "ys": ys,
        "loss": z,
        "plane_loss_on_path": on_path,
    }


def _plane_point(center, dx, dy, c):
    return jax.tree.map(lambda a, u, v: a + c[0] * u + c[1] * v, center, dx, dy)


def run(config: Config, out_dir) -> dict:
    checks = Checks()
    with Timer() as timer:
        model, state, xy, _, loss_fn, _ = mnist1d_mlp(config.width, config.num_train, config.seed)
        studies = {}
        for name, opt in _optimizers(config).items():

            @jax.jit
            def fit(params, key, opt=opt):
                _, hist = train.train_scan(
                    train.supervised_loss(model),
                    opt,
                    params,
                    xy,
                    key=key,
                    num_steps=config.num_steps,
                    batch_size=config.batch_size,
                    model_state=state,
                    record_params=True,
                )
                kept = jax.tree.map(lambda a: a[config.stride - 1 :: config.stride], hist["params"])
                return jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), params, kept)

            for s in range(config.num_seeds):
                key = jax.random.fold_in(jax.random.key(config.seed), s)
                _, init, _ = model.init(key, (-1, xy[0].shape[-1]))
                traj = fit(init, jax.random.fold_in(key, 1))
                center = jax.tree.map(lambda a: a[-1], traj)
                studies[(name, s)] = _study(config, loss_fn, traj, center)
        _add_checks(config, checks, studies)
        numbers = {
            f"{name}, seed {s}": {
                "explained_variance_ratio": st["ratio"],
                "max_off_plane_relative": float(st["off_plane"].max()),
                "plane_loss_start_end": [st["plane_loss_on_path"][0], st["plane_loss_on_path"][-1]],
                "coords": st["coords"],
                "off_plane_relative": st["off_plane"],
                "off_plane_per_checkpoint": st["off_plane_per_checkpoint"],
                "plane": {"xs": st["xs"], "ys": st["ys"], "loss": st["loss"]},
            }
            for (name, s), st in studies.items()
        }
        folder = experiment_dir(out_dir, NAME)
        figures = [_plot(studies, folder)]
    return finish(NAME, CLAIM, config, checks, numbers, figures, out_dir, timer.seconds)


def _add_checks(config: Config, checks: Checks, studies: dict) -> None:
    ratios = {f"{k[0]}, seed {k[1]}": float(st["ratio"].sum()) for k, st in studies.items()}
    checks.add(
        "explained variance of the first two PCA components (sum)",
        ratios,
        min(ratios.values()) > config.min_ratio,
        f"above {config.min_ratio:g} for every optimizer and seed",
    )
    off = {f"{k[0]}, seed {k[1]}": float(st["off_plane"].max()) for k, st in studies.items()}
    checks.add(
        "largest off-plane distance / ||θ₀ − θ_n||",
        off,
        max(off.values()) < config.max_off_plane,
        f"below {config.max_off_plane:g} for every optimizer and seed",
    )
    ends = {
        f"{k[0]}, seed {k[1]}": [st["plane_loss_on_path"][0], st["plane_loss_on_path"][-1]]
        for k, st in studies.items()
    }
    checks.add(
        "plane loss under the projected path: [start, end]",
        ends,
        all(b < a for a, b in ends.values()),
        "the path runs downhill over the plane: end below start for every run",
    )


def _plot(studies: dict, folder) -> str:
    names = sorted({k[0] for k in studies}, reverse=True)
    fig, axes = plotting.new_figure(ncols=len(names), size=(4.8, 4.2))
    for ax, name in zip(np.ravel(axes), names, strict=True):
        st = studies[(name, 0)]
        plotting.contour(ax, st["xs"], st["ys"], st["loss"], levels=20, log=True, filled=True)
        r = st["ratio"]
        plotting.trajectory(ax, st["coords"], label=f"{name} path (seed 0)")
        ax.set_xlabel(f"1st PCA component: {100 * r[0]:.1f} %")
        ax.set_ylabel(f"2nd PCA component: {100 * r[1]:.1f} %")
        ax.set_title(f"{name}: path on its PCA plane (log loss)")
    name = "trajectory_pca.png"
    plotting.save(fig, folder / name)
    return name
