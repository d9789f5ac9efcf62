"""Escaping a saddle point: gradient descent stays, annealed gradient noise gets out.

Command::

    python -m experiments run saddle_point [--quick]

Runtime: ~3 s quick, ~3 s full (CPU time, 2-core CPU, compilation and imports included).

Expected result. f(x, y) = x² − y² + y⁴/4 (`jaxnn.objectives.saddle`) has
a saddle at the origin (f = 0, Hessian diag(2, −2)) and minima f = −1 at
(0, ±√2). Started on the saddle's stable manifold, (1, 0), plain gradient
descent (η = 0.05) slides into the saddle and stays: ∂f/∂y = −2y + y³ is
exactly 0 on y = 0, so the gradient norm decays to ~0 and f to the
saddle value 0 for the whole run — the plateau. Started just off it, at
the library's start (1, 0.01), it lingers for dozens of steps (|y| grows
only by (1 + 2η) per step) before it falls off. With annealed Gaussian
gradient noise, σ_t² = 0.01/t^0.55 (`jaxnn.optim.noisy_sgd`, Neelakantan
et al.), the first kicks push y off 0, the unstable direction amplifies
them, and every seed (the check asks ≥ 9 of 10; the full variant runs 100
seeds, ≥ 90 %) escapes (f < −0.5) within ~100 steps and settles at one of
the two minima (|f + 1| < 1e-2, within 0.05 of (0, ±√2)); since the noise
anneals, the iterate ends close to the minimum. Seeds are vmapped.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from experiments._common import Checks, Timer, experiment_dir, finish
from jaxnn import diagnostics, objectives, optim, plotting, train

ORDER = 160  # place in the gallery and in `list`
NAME = "saddle_point"
CLAIM = (
    "Gradient descent started on the saddle of x² − y² + y⁴/4 stays on the plateau (f ≈ 0) "
    "for the whole run, while with annealed gradient noise at least 9 in 10 seeds escape and "
    "reach a minimum (f ≈ −1)."
)


@dataclasses.dataclass(frozen=True)
class Config:
    start: tuple[float, float] = (1.0, 0.0)  # on the stable manifold y = 0 of the saddle
    lr: float = 0.05  # η of gradient descent, with and without noise
    noise_eta: float = 0.01  # noisy_sgd's eta: σ_t² = eta / t^gamma
    noise_gamma: float = 0.55  # noisy_sgd's gamma (Neelakantan et al.'s default)
    num_steps: int = 1000  # steps of every run
    seeds: int = 100  # noise seeds, vmapped
    escape_level: float = -0.5  # "escaped" once f(x_t) < this (saddle 0, minima −1)
    min_tol: float = 1e-2  # "reached a minimum": |f + 1| below this at the end ...
    dist_tol: float = 0.05  # ... and within this distance of (0, ±√2)
    min_fraction: float = 0.9  # fraction of seeds that must escape and reach a minimum

    @classmethod
    def quick(cls) -> Config:
        return cls(num_steps=500, seeds=10)


def _escape_step(losses: np.ndarray, level: float) -> np.ndarray:
    """First step with loss < level per row (-1 if never)."""
    below = losses < level
    return np.where(below.any(axis=-1), np.argmax(below, axis=-1), -1)


def run(config: Config, out_dir) -> dict:
    checks = Checks()
    with Timer() as timer:
        obj = objectives.saddle()
        start = jnp.asarray(config.start, obj.x0.dtype)
        T = config.num_steps

        def plain(x0):
            _, hist = train.optimize(obj.fn, optim.sgd(config.lr), x0, T)
            return hist["loss"], hist["params"], hist["grad_norm"]

        def noisy(key):
            opt = optim.noisy_sgd(
                config.lr, eta=config.noise_eta, gamma=config.noise_gamma, key=key
            )
            _, hist = train.optimize(obj.fn, opt, start, T)
            return hist["loss"], hist["params"]

        gd_loss, gd_traj, gd_grad = (
            np.asarray(a) for a in jax.jit(jax.vmap(plain))(jnp.stack([start, obj.x0]))
        )
        keys = jax.random.split(jax.random.key(0), config.seeds)
        nz_loss, nz_traj = (np.asarray(a) for a in jax.jit(jax.vmap(noisy))(keys))

        on_plateau = float(np.max(np.abs(gd_loss[0, T // 10 :])))
        checks.add(
            "gradient descent from the stable manifold: max |f| after 10 % of the run",
            {"max |f|": on_plateau, "final |∇f|": float(gd_grad[0, -1]), "final x": gd_traj[0, -1]},
            on_plateau < 1e-3 and _escape_step(gd_loss[:1], config.escape_level)[0] < 0,
            f"start {config.start}: never escapes (f stays > {config.escape_level:g}); the "
            "iterate converges to the saddle",
        )
        lingers = int(_escape_step(gd_loss[1:], config.escape_level)[0])
        escape = _escape_step(nz_loss, config.escape_level)
        final = nz_traj[:, -1]
        dist = np.min(
            np.linalg.norm(final[:, None, :] - np.asarray(obj.argmin)[None], axis=-1), axis=1
        )
        reached = (
            (escape >= 0)
            & (np.abs(nz_loss[:, -1] - obj.min_value) < config.min_tol)
            & (dist < config.dist_tol)
        )
        diverged = [diagnostics.first_nonfinite(c) for c in nz_loss]
        checks.add(
            "annealed noise: seeds that escape and reach a minimum",
            f"{int(reached.sum())}/{config.seeds}",
            reached.mean() >= config.min_fraction and max(diverged) < 0,
            f"escape: f < {config.escape_level:g}; minimum: |f + 1| < {config.min_tol:g} and "
            f"within {config.dist_tol:g} of (0, ±√2) at step {T}; must be >= "
            f"{config.min_fraction:.0%}",
        )
        numbers = {
            "gd_from_stable_manifold": {
                "max_abs_f_after_10pct": on_plateau,
                "final_grad_norm": gd_grad[0, -1],
                "final_x": gd_traj[0, -1],
            },
            "gd_from_library_start": {"start": obj.x0, "escape_step": lingers},
            "noisy_escape_step": escape,
            "noisy_escape_step_median": float(np.median(escape[escape >= 0]))
            if (escape >= 0).any()
            else None,
            "noisy_final_loss": nz_loss[:, -1],
            "noisy_final_distance_to_minimum": dist,
            "fraction_reached": float(reached.mean()),
            "minimum_chosen": {
                "y>0": int((final[:, 1] > 0).sum()),
                "y<0": int((final[:, 1] < 0).sum()),
            },
        }
        folder = experiment_dir(out_dir, NAME)
        figures = [_plot(config, obj, gd_loss, gd_traj, nz_loss, nz_traj, lingers, folder)]
    return finish(NAME, CLAIM, config, checks, numbers, figures, out_dir, timer.seconds)


def _plot(config, obj, gd_loss, gd_traj, nz_loss, nz_traj, lingers, folder) -> str:
    fig, axes = plotting.new_figure(
        ncols=2,
        size=(6.0, 4.6),
        title=(
            "gradient descent stalls at a saddle from its stable manifold; annealed noise escapes"
        ),
    )
    ax1, ax2 = np.ravel(axes)
    xs = np.linspace(-1.3, 1.3, 161)
    ys = np.linspace(-2.0, 2.0, 201)
    z = np.asarray(obj.fn(jnp.stack(jnp.meshgrid(jnp.asarray(xs), jnp.asarray(ys)))))
    plotting.contour(ax1, xs, ys, z, levels=np.linspace(-1, 2, 16), cmap="Greys", colorbar=False)
    shown = min(10, nz_traj.shape[0])
    for s in range(shown):
        ax1.plot(
            nz_traj[s, :, 0],
            nz_traj[s, :, 1],
            color="C1",
            lw=0.8,
            alpha=0.7,
            label="noisy GD (annealed noise)" if s == 0 else None,
        )
    plotting.trajectory(ax1, gd_traj[0], label=f"GD from {config.start}", color="C0", marker=".")
    x0 = ", ".join(f"{v:g}" for v in np.asarray(obj.x0, np.float64).round(4))
    plotting.trajectory(ax1, gd_traj[1], label=f"GD from ({x0})", color="C2", marker="")
    ax1.plot([0], [0], "kx", ms=10)
    ax1.plot(*np.asarray(obj.argmin).T, "k*", ms=10)
    ax1.set_xlabel("x")
    ax1.set_ylabel("y")
    ax1.set_title("f = x² − y² + y⁴/4: saddle (×) and minima (★)")
    plotting.legend(ax1, loc="lower left")
    t = np.arange(config.num_steps + 1)
    for s in range(shown):
        ax2.plot(
            t,
            nz_loss[s],
            color="C1",
            lw=0.8,
            alpha=0.7,
            label=f"noisy GD, {shown} seeds" if s == 0 else None,
        )
    ax2.plot(t, gd_loss[0], color="C0", lw=2, label=f"GD from {config.start}: stuck at f = 0")
    ax2.plot(t, gd_loss[1], color="C2", lw=1.5, label=f"GD from ({x0}): escapes at step {lingers}")
    ax2.axhline(obj.min_value, color="gray", ls=":", label="minimum f = −1")
    ax2.set_xscale("symlog", linthresh=10)
    ax2.set_xlim(0, config.num_steps)
    ax2.set_xlabel("step (symlog)")
    ax2.set_ylabel("f(x_t)")
    ax2.set_title("the plateau at the saddle value 0")
    plotting.legend(ax2)
    name = "saddle.png"
    plotting.save(fig, folder / name)
    return name
