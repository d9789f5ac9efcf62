"""Noisy gradients: a constant rate stalls at a loss floor, exponential decay goes ≥ 10× lower.

Command::

    python -m experiments run exponential_decay [--quick]

Runtime: ~3 s quick, ~3 s full (CPU time, 2-core CPU, compilation and imports included).

Expected result. Gradient descent on the quadratic f(x) = ½(x₁² + 5x₂²)
(`jaxnn.objectives.quadratic`, start (3, 2)) with noisy gradients
g + σξ, ξ ~ N(0, I) (`jaxnn.optim.add_noise` with γ = 0, i.e. constant
variance σ² = 1, chained before `sgd`), vmapped over seeds. With a constant
rate η = 0.15 the iterate reaches the bottom in a few dozen steps and then
jitters there: each coordinate is an AR(1) process whose stationary
expected loss is η σ² / (2(2 − ηh)) for curvature h, a floor of ≈ 0.10 in
total (measured within 20 % of it, and flat over the second half of the
run). Exponential decay from the same η to η/1000 over the run
(`jaxnn.optim.exponential_decay`) shrinks the jitter with the rate; the
floor follows η_t until the relaxation time 1/(η_t h) outgrows the decay
time, ending at least 10× lower (measured ~170× quick, ~270× full; mean over
seeds of the last 100 steps against the constant rate's second-half mean).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from experiments._common import Checks, Timer, experiment_dir, finish
from jaxnn import diagnostics, objectives, optim, plotting, train

ORDER = 150  # place in the gallery and in `list`
NAME = "exponential_decay"
CLAIM = (
    "With noisy gradients a constant learning rate stalls at a loss floor around the minimum "
    "(η σ²/(2(2 − ηh)) per direction), while exponential decay from the same rate ends at "
    "least 10× lower."
)


@dataclasses.dataclass(frozen=True)
class Config:
    curvatures: tuple[float, float] = (1.0, 5.0)  # Hessian diagonal h of the quadratic
    start: tuple[float, float] = (3.0, 2.0)  # x₀
    lr: float = 0.15  # η: the constant rate, and the start of the decay (stable: η < 2/max h)
    noise_variance: float = 1.0  # σ² of the gradient noise (add_noise eta, gamma = 0)
    final_fraction: float = 1e-3  # exponential decay reaches η·final_fraction at the last step
    num_steps: int = 3000  # steps of every run
    seeds: int = 64  # noise seeds, vmapped
    min_ratio: float = 10.0  # constant / decayed final loss must be at least this
    floor_rtol: float = 0.2  # constant rate's late loss vs the floor formula
    tail: int = 100  # decayed run's final loss = mean over the last `tail` steps and the seeds

    @classmethod
    def quick(cls) -> Config:
        return cls(num_steps=1000, seeds=8)


def floor(config: Config) -> float:
    """Stationary E[f] of noisy GD at constant η: Σ_h η σ² / (2(2 − ηh))."""
    eta, s2 = config.lr, config.noise_variance
    return float(sum(eta * s2 / (2.0 * (2.0 - eta * h)) for h in config.curvatures))


def _runs(config: Config, obj):
    """Loss curves and trajectories (seeds, T+1, ...) for the constant rate and the decay."""
    decay = optim.exponential_decay(config.lr, config.num_steps, config.final_fraction)

    def one(key, decayed):
        lr = lambda t: jnp.where(decayed, decay(t), config.lr)
        opt = optim.chain(optim.add_noise(config.noise_variance, 0.0, key), optim.sgd(lr))
        _, hist = train.optimize(obj.fn, opt, obj.x0, config.num_steps)
        return hist["loss"], hist["params"]

    keys = jax.random.split(jax.random.key(0), config.seeds)
    run = jax.jit(jax.vmap(lambda d: jax.vmap(lambda k: one(k, d))(keys)))
    losses, traj = run(jnp.asarray([False, True]))
    return np.asarray(losses, np.float64), np.asarray(traj)


def run(config: Config, out_dir) -> dict:
    checks = Checks()
    with Timer() as timer:
        obj = objectives.quadratic(np.diag(config.curvatures), x0=np.asarray(config.start))
        losses, traj = _runs(config, obj)  # (2, S, T+1), (2, S, T+1, 2)
        T, k = config.num_steps, config.tail
        const, decayed = losses[0], losses[1]
        second_half = const[:, T // 2 :]
        level = float(second_half.mean())  # the floor: the stationary mean, many samples
        mid = second_half.shape[1] // 2
        early, late = second_half[:, :mid], second_half[:, mid:]
        drift = float(late.mean() / early.mean())
        theory = floor(config)
        checks.add(
            "constant rate: late loss vs the floor formula",
            {"measured": level, "formula": theory, "late/early second half": drift},
            abs(level / theory - 1) <= config.floor_rtol and abs(drift - 1) <= config.floor_rtol,
            f"mean over the second half of the run and {config.seeds} seeds; within "
            f"{config.floor_rtol:.0%} of η σ²/(2(2 − ηh)) summed, and flat over the second half",
        )
        final_decayed = float(decayed[:, -k:].mean())
        ratio = level / final_decayed
        bad = [diagnostics.first_nonfinite(c) for c in losses.reshape(-1, T + 1)]
        checks.add(
            "constant / exponential-decay final loss",
            ratio,
            ratio >= config.min_ratio and max(bad) < 0,
            f"constant: mean over the second half {level:.3g}; decay: mean over the last {k} "
            f"steps {final_decayed:.3g}; must be >= {config.min_ratio:g}; no run diverged",
        )
        numbers = {
            "floor_formula": theory,
            "final_loss": {"constant": level, "exponential_decay": final_decayed},
            "ratio": ratio,
            "final_lr": config.lr * config.final_fraction,
            "mean_loss_at": {
                "steps": [0, T // 10, T // 2, T],
                "constant": const.mean(axis=0)[[0, T // 10, T // 2, T]],
                "exponential_decay": decayed.mean(axis=0)[[0, T // 10, T // 2, T]],
            },
        }
        folder = experiment_dir(out_dir, NAME)
        figures = [_plot(config, obj, losses, traj, theory, folder)]
    return finish(NAME, CLAIM, config, checks, numbers, figures, out_dir, timer.seconds)


def _plot(config: Config, obj, losses, traj, theory, folder) -> str:
    fig, axes = plotting.new_figure(
        ncols=3,
        size=(5.0, 4.3),
        title="a constant rate stalls at a noise floor; exponential decay goes ≥ 10× lower",
    )
    ax1, ax2, ax3 = np.ravel(axes)
    T = config.num_steps
    names = ("constant η", "exponential decay")
    xs = np.linspace(-1.2, 3.3, 181)
    ys = np.linspace(-1.0, 2.2, 141)
    z = np.asarray(obj.fn(jnp.stack(jnp.meshgrid(jnp.asarray(xs), jnp.asarray(ys)))))
    plotting.contour(ax1, xs, ys, z, levels=14, log=True, cmap="Greys", colorbar=False)
    for j, name in enumerate(names):
        plotting.trajectory(
            ax1, traj[j, 0, :: max(1, T // 200)], label=f"{name} (seed 0)", color=f"C{j}", marker=""
        )
    ax1.set_xlabel("x₁ (curvature 1)")
    ax1.set_ylabel("x₂ (curvature 5)")
    ax1.set_title("one noisy trajectory each")
    ax2.set_aspect("equal")
    for j, name in enumerate(names):
        ax2.scatter(
            traj[j, :, -1, 0], traj[j, :, -1, 1], s=12, color=f"C{j}", label=f"{name}: final x"
        )
    ax2.plot([0], [0], "k+", ms=12)
    ax2.set_xlabel("x₁")
    ax2.set_ylabel("x₂")
    ax2.set_title(f"final iterates of {config.seeds} seeds")
    plotting.legend(ax2)
    k = max(1, T // 100)
    smooth = lambda c: np.convolve(c, np.ones(k) / k, mode="valid")
    steps = np.arange(k - 1, T + 1)
    for j, name in enumerate(names):
        per_seed = np.stack([smooth(c) for c in losses[j]])  # (seeds, steps)
        plotting.band(ax3, steps, per_seed, label=name, color=f"C{j}", spread="minmax")
    ax3.set_yscale("log")
    plotting.log_ticks(ax3.yaxis)
    ax3.set_xlabel("step")
    ax3.set_ylabel(f"f(x_t) ({k}-step mean; band: range over seeds)")
    ax3.set_title(f"η = {config.lr:g} constant vs decayed to η·{config.final_fraction:g}")
    ax3.axhline(theory, color="gray", ls=":", label="floor η σ²/(2(2 − ηh))")
    plotting.legend(ax3)
    name = "exponential_decay.png"
    plotting.save(fig, folder / name)
    return name
