"""Gradient descent and the learning rate: converge, oscillate or diverge (the 2/L rule).

Command::

    python -m experiments run gradient_descent_lr [--quick]

Runtime: ~2 s quick and full (2-core CPU, mostly compilation).

Expected result. On L(w) = w² from w₀ = 1, a gradient step is
w ← w − η·2w = (1 − 2η)·w, so |w_t| = |1 − 2η|^t exactly:

* η < 1 converges (|1 − 2η| < 1), η = 0.5 in a single step;
* η = 1 oscillates with constant amplitude (w_t = (−1)^t);
* η > 1 diverges (|1 − 2η| > 1).

The threshold is the 2/L rule: L(w) = w² has curvature L'' = 2, so 2/L'' = 1.
Steps to reach L ≤ 1e-3 are t* = ⌈log(1e-3) / (2 log|1 − 2η|)⌉: ~171 for a
too-small η = 0.01, 1 for the best η = 0.5 and ~33 for a near-critical η = 0.95
— the steps counted in the vmapped run equal this closed form. On a 2-D quadratic
L(w) = ½ wᵀ diag(10, 1) w (largest curvature 10), η = c·2/10 converges for
c < 1 and diverges for c > 1: the stiffest direction sets the limit.

Every run is `jaxnn.train.optimize` with `jaxnn.optim.sgd(η)`, one `jax.vmap`
over η.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from experiments._common import Checks, Timer, experiment_dir, finish, log_grid
from jaxnn import optim, plotting, train

ORDER = 80  # place in the gallery and in `list`
NAME = "gradient_descent_lr"
CLAIM = (
    "On L(w) = w², gradient descent converges for η < 1, oscillates with constant amplitude "
    "at η = 1 and diverges for η > 1; on a 2-D quadratic with largest curvature L it "
    "converges for η < 2/L and diverges for η > 2/L."
)


@dataclasses.dataclass(frozen=True)
class Config:
    etas: tuple[float, ...] = (0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.95, 1.0, 1.02, 1.1)  # 1-D runs
    num_steps: int = 1000  # gradient steps of every 1-D and 2-D run
    w0: float = 1.0  # starting point of the 1-D runs
    tol: float = 1e-3  # "reached" means L(w_t) <= tol
    eta_small: float = 0.01  # the too-small learning rate whose steps are counted
    eta_near_critical: float = 0.95  # a learning rate just below the critical η = 1
    sweep_low: float = 1e-2  # log grid of η for the steps-to-tol curve (the "good" η is its pick)
    sweep_high: float = 1.2  # (high end of that grid: above the critical η = 1)
    sweep_num: int = 100  # (points of that grid)
    curvatures: tuple[float, float] = (10.0, 1.0)  # Hessian diagonal of the 2-D quadratic
    fractions_2d: tuple[float, ...] = (0.25, 0.5, 0.9, 0.99, 1.01, 1.1, 1.5)  # η / (2/L) in 2-D
    w0_2d: tuple[float, float] = (1.0, 1.0)  # start of the 2-D runs

    @classmethod
    def quick(cls) -> Config:
        return cls(num_steps=400, sweep_num=30)


def _loss_1d(w: jax.Array) -> jax.Array:
    return w**2


def _sweep(loss_fn, w0, etas, num_steps: int):
    """`optimize` with `sgd(η)`, vmapped over η; returns (losses (E, T+1), params (E, T+1, ...))."""

    def one(eta):
        _, hist = train.optimize(loss_fn, optim.sgd(eta), w0, num_steps)
        return hist["loss"], hist["params"]

    losses, params = jax.jit(jax.vmap(one))(jnp.asarray(etas, jnp.float32))
    return np.asarray(losses, np.float64), np.asarray(params, np.float64)


def _steps_to(losses: np.ndarray, tol: float) -> np.ndarray:
    """First t with loss_t <= tol per row (inf when never)."""
    hit = losses <= tol
    return np.where(hit.any(axis=1), np.argmax(hit, axis=1), np.inf)


def _grows_until_overflow(amp: np.ndarray, w0: float) -> bool:
    """|w_t| strictly increasing over its finite prefix, ending non-finite or > 1e3·|w_0|."""
    finite = amp[np.isfinite(amp)]
    n = len(finite)
    return bool(
        np.all(np.diff(finite) > 0)
        and np.all(np.isfinite(amp[:n]))
        and (n < len(amp) or finite[-1] > 1e3 * abs(w0))
    )


def _closed_form_steps(eta: float, tol: float, w0: float) -> float:
    """⌈log(tol / w0²) / (2 log|1 − 2η|)⌉ for L = w² (0 if already there, 1 at η = 0.5)."""
    if w0**2 <= tol:
        return 0.0
    r = abs(1.0 - 2.0 * eta)
    if r == 0.0:
        return 1.0
    if r >= 1.0:
        return np.inf
    return float(np.ceil(np.log(tol / w0**2) / (2.0 * np.log(r))))


def run(config: Config, out_dir) -> dict:
    checks = Checks()
    with Timer() as timer:
        etas = np.asarray(config.etas)
        w0 = jnp.float32(config.w0)
        losses, ws = _sweep(_loss_1d, w0, etas, config.num_steps)
        amp = np.abs(ws)  # (E, T+1)
        below, at, above = etas < 1.0, etas == 1.0, etas > 1.0
        shrinks = np.all(np.diff(amp[below], axis=1) <= 0, axis=1) & (amp[below, -1] < config.w0)
        checks.add(
            "η < 1 converges",
            {f"{e:g}": float(a) for e, a in zip(etas[below], amp[below, -1], strict=True)},
            bool(np.all(shrinks)) and bool(np.all(losses[below, -1] <= config.tol)),
            f"|w_t| never grows and L(w_T) <= {config.tol:g} after {config.num_steps} steps",
        )
        osc = ws[at][0] if at.any() else np.full(2, np.nan)
        sign_flips = bool(np.all(np.sign(osc[1:]) == -np.sign(osc[:-1])))
        amp_dev = float(np.max(np.abs(np.abs(osc) - config.w0)))
        checks.add(
            "η = 1 oscillates with constant amplitude",
            {"max | |w_t| − |w_0| |": amp_dev, "sign alternates": sign_flips},
            at.any() and amp_dev < 1e-6 and sign_flips,
            "w_t = (−1)^t · w_0",
        )
        # float32 overflows after a few hundred steps (1.2^487 > 3e38): compare while finite.
        grows = [_grows_until_overflow(a, config.w0) for a in amp[above]]
        checks.add(
            "η > 1 diverges",
            {f"{e:g}": float(a) for e, a in zip(etas[above], amp[above, -1], strict=True)},
            above.any() and all(grows),
            "|w_t| grows at every step while finite and ends above 1e3·|w_0| (or overflows)",
        )

        # Steps to reach tol over a log grid of η; the "good" η is the grid's pick.
        grid = log_grid(config.sweep_low, config.sweep_high, config.sweep_num)
        horizon = int(np.ceil(2 * _closed_form_steps(config.sweep_low, config.tol, config.w0)))
        grid_losses, _ = _sweep(_loss_1d, w0, grid, horizon)
        grid_steps = _steps_to(grid_losses, config.tol)
        good = float(grid[int(np.argmin(grid_steps))])
        named = {
            "too small": config.eta_small,
            "good": good,
            "near critical": config.eta_near_critical,
        }
        named_losses, _ = _sweep(_loss_1d, w0, list(named.values()), horizon)
        measured = dict(zip(named, _steps_to(named_losses, config.tol).tolist(), strict=True))
        closed = {k: _closed_form_steps(v, config.tol, config.w0) for k, v in named.items()}
        checks.add(
            f"steps to L <= {config.tol:g}",
            {k: {"eta": named[k], "steps": measured[k], "closed_form": closed[k]} for k in named},
            measured["good"] < measured["near critical"] < measured["too small"]
            and all(abs(measured[k] - closed[k]) <= 1 for k in named),
            "good < near critical < too small, each within 1 step of the closed form",
        )

        # The 2/L rule on a 2-D quadratic.
        h = jnp.asarray(config.curvatures, jnp.float32)
        critical = 2.0 / max(config.curvatures)
        etas_2d = critical * np.asarray(config.fractions_2d)
        losses_2d, traj_2d = _sweep(
            lambda w: 0.5 * jnp.sum(h * w**2),
            jnp.asarray(config.w0_2d, jnp.float32),
            etas_2d,
            config.num_steps,
        )
        frac = np.asarray(config.fractions_2d)
        start, end = losses_2d[:, 0], losses_2d[:, -1]
        ok_2d = np.where(frac < 1, end < 1e-3 * start, ~(end <= start))  # inf/nan: diverged
        checks.add(
            "2-D quadratic: η < 2/L converges, η > 2/L diverges",
            {f"{f:g}·2/L": float(v) for f, v in zip(frac, losses_2d[:, -1], strict=True)},
            bool(np.all(ok_2d)),
            f"L = {max(config.curvatures):g}, 2/L = {critical:g}; converged means the loss fell "
            "by 1e3, diverged means it ended above its start (or overflowed)",
        )
        numbers = {
            "etas": etas,
            "final_loss": losses[:, -1],
            "final_abs_w": amp[:, -1],
            "eta_sweep": {"grid": grid, "steps_to_tol": grid_steps, "pick_good": good},
            "steps_to_tol": {"measured": measured, "closed_form": closed, "etas": named},
            "quadratic_2d": {
                "curvatures": config.curvatures,
                "critical_eta": critical,
                "etas": etas_2d,
                "final_loss": losses_2d[:, -1],
            },
        }
        folder = experiment_dir(out_dir, NAME)
        figures = [
            _plot_1d(config, etas, ws, losses, grid, grid_steps, named, measured, folder),
            _plot_2d(config, etas_2d, traj_2d, critical, folder),
        ]
    return finish(NAME, CLAIM, config, checks, numbers, figures, out_dir, timer.seconds)


def _plot_1d(config, etas, ws, losses, grid, grid_steps, named, measured, folder) -> str:
    fig, axes = plotting.new_figure(
        ncols=3,
        size=(5.2, 4.6),
        title="gradient descent on L(w) = w²: converges for η < 1, oscillates at η = 1, "
        "diverges for η > 1",
    )
    ax1, ax2, ax3 = axes.flat
    shown = [e for e in (0.1, 0.5, 0.9, 1.0, 1.1) if e in set(etas.tolist())]
    t = np.arange(ws.shape[1])
    for e in shown:
        i = int(np.where(etas == e)[0][0])
        ax1.plot(t[:21], ws[i, :21], "o-", ms=3, label=f"η = {e:g}")
    ax1.set_ylim(-3, 3)
    ax1.set_xlabel("step t")
    ax1.set_ylabel("w_t")
    ax1.set_title("L(w) = w²: w_t = (1 − 2η)^t")
    plotting.legend(ax1, outside="below")
    below = etas[etas < 1]
    shades = plotting.shades(len(below), stop=0.85)
    for i, e in enumerate(etas):
        if e < 1:
            style = {"color": shades[int(np.searchsorted(below, e))], "ls": "-"}
        elif e == 1:
            style = {"color": "black", "ls": "--", "lw": 2}
        else:
            style = {"color": "#D55E00", "ls": "-." if e > 1.05 else ":", "lw": 2}
        ax2.semilogy(t, np.maximum(losses[i], 1e-30), label=f"η = {e:g}", **style)
    ax2.axhline(config.tol, color="gray", ls=":", lw=1)
    ax2.set_ylim(1e-30, 1e10)
    ax2.set_xlabel("step t")
    ax2.set_ylabel("L(w_t) (log scale; 0 drawn at 1e-30)")
    ax2.set_title("converge (η < 1), flat (η = 1), diverge (η > 1)")
    plotting.legend(ax2, outside="right", title="learning rate")
    finite = np.isfinite(grid_steps)
    ax3.loglog(grid[finite], grid_steps[finite], ".-", label="steps to L ≤ tol")
    for k, e in named.items():
        ax3.plot(
            [e], [max(measured[k], 0.8)], "o", ms=8, label=f"{k}: η={e:.3g}, {measured[k]:g} steps"
        )
    ax3.axvline(1.0, color="red", ls="--", label="η = 2/L'' = 1")
    ax3.set_xlabel("learning rate η")
    ax3.set_ylabel(f"steps to L ≤ {config.tol:g}")
    ax3.set_title("too small is slow, near 1 is slow, > 1 never")
    plotting.legend(ax3, outside="below", ncol=1)
    name = "lr_1d.png"
    plotting.save(fig, folder / name)
    return name


def _plot_2d(config, etas_2d, traj, critical, folder) -> str:
    shown = [f for f in (0.5, 0.9, 1.1) if f in config.fractions_2d]
    fig, axes = plotting.new_figure(
        ncols=len(shown),
        size=(4.6, 4.2),
        title="2-D quadratic: gradient descent converges for η < 2/L and diverges for η > 2/L",
    )
    xs = np.linspace(-2, 2, 101)
    ys = np.linspace(-1.5, 1.5, 81)
    a, b = config.curvatures
    z = 0.5 * (a * xs[None, :] ** 2 + b * ys[:, None] ** 2)
    steps = 25
    for ax, f in zip(np.ravel(axes), shown, strict=True):
        i = config.fractions_2d.index(f)
        plotting.contour(
            ax, xs, ys, z, levels=np.geomspace(0.01, 20, 12), cmap="Greys", colorbar=False
        )
        color = "C2" if f < 1 else "C3"
        plotting.trajectory(ax, traj[i, : steps + 1], label=f"η = {f:g}·2/L", color=color)
        ax.set_xlim(-2, 2)
        ax.set_ylim(-1.5, 1.5)
        ax.set_xlabel("w₁ (curvature 10)")
        ax.set_ylabel("w₂ (curvature 1)")
        verdict = "converges" if f < 1 else "diverges"
        ax.set_title(f"η = {etas_2d[i]:.3g} = {f:g}·2/L: {verdict}")
    fig.suptitle(f"L(w) = ½(10 w₁² + w₂²): critical η = 2/L = {critical:g} (first {steps} steps)")
    name = "lr_2d.png"
    plotting.save(fig, folder / name)
    return name
