"""Full-batch, mini-batch and single-example SGD on a two-weight linear regression.

Command::

    python -m experiments run batch_vs_minibatch [--quick]

Runtime: ~4 s quick, ~5 s full (2-core CPU).

Expected result. The model is `Dense(1)` on one input (weights w and b), the
loss the MSE on n = 512 points y = 2x − 1 + noise with x ~ N(1, 1) (so the
loss contours are tilted, elongated ellipses). From the same start, with the
same number of steps and the same learning-rate schedule (η₀ = 0.1, below
2/λ_max ≈ 0.38, decayed exponentially to η₀/100 — the decay is what lets a
single-example SGD run settle instead of jittering at a noise floor of
≈ √(η σ²/B)), and with `jaxnn.train.make_train_step` + `jaxnn.data.batches`:

* all three end within a radius of 0.1 of the least-squares solution
  (measured: full batch ≤ 7e-4, mini-batch ≤ 2e-3, single example 0.015–0.035);
* their paths are increasingly rough: with roughness = path length /
  straight-line distance from start to end (1 for a straight path), full
  batch ≈ 1.03 < mini-batch (32) ≈ 1.6–2.2 < single-example SGD ≈ 5–9 (quick
  and full; the longer full runs add more noise-driven wandering) — the gradient of a
  smaller batch is a noisier estimate of the full gradient. The mean turning
  angle between consecutive steps is recorded too, but not used: near the
  minimum both stochastic runs take noise-dominated steps, so both average
  ≈ 90° and the angle cannot separate them, while path length does.

The runs are a Python loop over the library's compiled step because each step's
weights are recorded for the picture (`train_scan` returns only the final state).
The full variant repeats the stochastic runs over several data-order seeds and
requires the claims for every seed.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from experiments._common import Checks, Timer, experiment_dir, finish
from jaxnn import data, layers, losses, optim, plotting, train

ORDER = 90  # place in the gallery and in `list`
NAME = "batch_vs_minibatch"
CLAIM = (
    "Full-batch, mini-batch (32) and single-example SGD on a two-weight linear regression all "
    "end within 0.1 of the least-squares solution, and their paths are rougher the smaller "
    "the batch (path length / displacement: SGD > mini-batch > full batch)."
)


@dataclasses.dataclass(frozen=True)
class Config:
    num_points: int = 512  # training examples
    true_w: float = 2.0  # y = true_w · x + true_b + noise
    true_b: float = -1.0  # (intercept of the true line)
    x_mean: float = 1.0  # x ~ N(x_mean, 1): a non-zero mean tilts the contours
    noise: float = 0.5  # standard deviation of the label noise
    start: tuple[float, float] = (-1.0, 2.5)  # (w, b) where every run starts
    batch_sizes: tuple[int, ...] = (512, 32, 1)  # full batch, mini-batch, single example
    num_steps: int = 1000  # steps of every run
    lr: float = 0.1  # initial learning rate (2/λ_max ≈ 0.38 here)
    lr_final_fraction: float = 0.01  # exponential decay to lr · this at the last step
    radius: float = 0.1  # every run must end this close to the least-squares solution
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)  # data-order seeds of the stochastic runs
    data_seed: int = 0  # key of the dataset

    @classmethod
    def quick(cls) -> Config:
        return cls(num_steps=500, seeds=(0,))


def _label(config: Config, batch_size: int) -> str:
    if batch_size == config.num_points:
        return "full batch"
    return "single example" if batch_size == 1 else f"mini-batch ({batch_size})"


def _dataset(config: Config):
    kx, kn = jax.random.split(jax.random.key(config.data_seed))
    x = config.x_mean + jax.random.normal(kx, (config.num_points, 1))
    y = config.true_w * x + config.true_b + config.noise * jax.random.normal(kn, x.shape)
    return np.asarray(x, np.float32), np.asarray(y, np.float32)


def _train(config: Config, step, optimizer, x, y, batch_size: int, seed: int) -> np.ndarray:
    """Weights (w, b) after every step, shape (num_steps + 1, 2)."""
    params = {"w": jnp.full((1, 1), config.start[0]), "b": jnp.full((1,), config.start[1])}
    key = jax.random.key(seed)
    state = train.init_train_state(params, optimizer, key)
    path = [state.params]
    epoch = 0
    while len(path) <= config.num_steps:
        for batch in data.batches(jax.random.fold_in(key, epoch), (x, y), batch_size):
            state, _ = step(state, batch)
            path.append(state.params)
            if len(path) > config.num_steps:
                break
        epoch += 1
    w = np.asarray([p["w"][0, 0] for p in jax.device_get(path)], np.float64)
    b = np.asarray([p["b"][0] for p in jax.device_get(path)], np.float64)
    return np.stack([w, b], axis=1)


def _roughness(path: np.ndarray) -> dict:
    steps = np.diff(path, axis=0)
    lengths = np.linalg.norm(steps, axis=1)
    moving = lengths > 0
    unit = steps[moving] / lengths[moving, None]
    cos = np.clip(np.sum(unit[1:] * unit[:-1], axis=1), -1.0, 1.0)
    return {
        "path_length": float(lengths.sum()),
        "displacement": float(np.linalg.norm(path[-1] - path[0])),
        "tortuosity": float(lengths.sum() / np.linalg.norm(path[-1] - path[0])),
        "mean_turn_degrees": float(np.degrees(np.arccos(cos)).mean()),
    }


def run(config: Config, out_dir) -> dict:
    checks = Checks()
    with Timer() as timer:
        x, y = _dataset(config)
        design = np.concatenate([x, np.ones_like(x)], axis=1).astype(np.float64)
        w_ls = np.linalg.lstsq(design, y[:, 0].astype(np.float64), rcond=None)[0]

        schedule = optim.exponential_decay(config.lr, config.num_steps, config.lr_final_fraction)
        optimizer = optim.sgd(schedule)
        loss_fn = train.supervised_loss(layers.Dense(1), losses.mse)
        step = train.make_train_step(loss_fn, optimizer)  # compiles once per batch size

        runs = {}
        for bs in config.batch_sizes:
            seeds = config.seeds[:1] if bs == config.num_points else config.seeds
            per_seed = []
            for seed in seeds:
                path = _train(config, step, optimizer, x, y, bs, seed)
                per_seed.append(
                    {
                        "seed": seed,
                        "distance_to_ls": float(np.linalg.norm(path[-1] - w_ls)),
                        **_roughness(path),
                        "path": path,
                    }
                )
            runs[bs] = per_seed

        dist = {bs: max(r["distance_to_ls"] for r in rs) for bs, rs in runs.items()}
        checks.add(
            "largest distance to the least-squares solution",
            {_label(config, bs): d for bs, d in dist.items()},
            all(d < config.radius for d in dist.values()),
            f"every run ends within {config.radius:g} of (w, b) = ({w_ls[0]:.3f}, {w_ls[1]:.3f})",
        )
        tort = {bs: [r["tortuosity"] for r in rs] for bs, rs in runs.items()}
        full, mini, single = config.batch_sizes
        ordered = max(tort[full]) < min(tort[mini]) and max(tort[mini]) < min(tort[single])
        checks.add(
            "roughness = path length / displacement",
            {_label(config, bs): t for bs, t in tort.items()},
            ordered,
            "single example > mini-batch > full batch, for every seed",
        )
        numbers = {
            "least_squares": w_ls,
            "runs": {
                _label(config, bs): [{k: v for k, v in r.items() if k != "path"} for r in rs]
                for bs, rs in runs.items()
            },
        }
        folder = experiment_dir(out_dir, NAME)
        figures = [_plot(config, x, y, w_ls, runs, folder)]
    return finish(NAME, CLAIM, config, checks, numbers, figures, out_dir, timer.seconds)


def _plot(config, x, y, w_ls, runs, folder) -> str:
    fig, axes = plotting.new_figure(
        ncols=2,
        size=(6.0, 5.0),
        title=(
            "all batch sizes reach the least-squares solution; the "
            "smaller the batch, the rougher the path"
        ),
    )
    ax1, ax2 = axes.flat
    ws = np.linspace(-1.5, 3.5, 121)
    bs = np.linspace(-2.5, 3.0, 111)
    x64, y64 = x[:, 0].astype(np.float64), y[:, 0].astype(np.float64)
    resid = ws[None, :, None] * x64 + bs[:, None, None] - y64  # (b, w, n)
    z = np.mean(resid**2, axis=-1)
    for ax in (ax1, ax2):
        plotting.contour(
            ax,
            ws,
            bs,
            z,
            levels=np.geomspace(z.min() * 1.01, z.max(), 14),
            cmap="Greys",
            colorbar=False,
        )
        ax.plot(*w_ls, "k*", ms=16, mec="white", zorder=6, ls="none", label="least squares")
        ax.set_xlabel("w")
        ax.set_ylabel("b")
    colors = {config.batch_sizes[0]: "C0", config.batch_sizes[1]: "C2", config.batch_sizes[2]: "C1"}
    for bsz, rs in runs.items():
        r = rs[0]
        label = f"{_label(config, bsz)} (roughness {r['tortuosity']:.2f})"
        plotting.trajectory(ax1, r["path"], label=label, color=colors[bsz], marker="")
        thin = {"linewidth": 0.9, "alpha": 0.7} if bsz == config.batch_sizes[2] else {}
        plotting.trajectory(ax2, r["path"], label=label, color=colors[bsz], marker="", **thin)
    ax1.set_title(f"{config.num_steps} steps from {config.start}")
    half = 0.25
    ax2.set_xlim(w_ls[0] - half, w_ls[0] + half)
    ax2.set_ylim(w_ls[1] - half, w_ls[1] + half)
    circle = np.linspace(0, 2 * np.pi, 100)
    ax2.plot(
        w_ls[0] + config.radius * np.cos(circle),
        w_ls[1] + config.radius * np.sin(circle),
        "k:",
        lw=1,
        label=f"radius {config.radius:g}",
    )
    ax2.set_title("zoom on the least-squares solution")
    plotting.legend(ax2)
    name = "trajectories.png"
    plotting.save(fig, folder / name)
    return name
