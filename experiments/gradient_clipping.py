"""Gradient clipping on a cliff: plain gradient descent blows up to inf/NaN, clipped walks down.

Command::

    python -m experiments run gradient_clipping [--quick]

Runtime: ~2.5 s quick, ~2.5 s full (CPU time, 2-core CPU, compilation and imports
included).

Expected result. The landscape is `jaxnn.objectives.cliff` (a bowl ½‖p‖²
with a sigmoid step of height 100 and steepness 20 at x = 1) plus a
quartic term ¼·q‖p‖⁴, q = 0.1. The quartic stands in for what a deep
network's loss does away from its basin — it grows like a high power of
the weights, so the gradient grows faster than the distance — and it is
what turns a big throw into a blow-up: on the bowl and cliff alone the
thrown iterate just rolls back (checked in the full sweep's figure, not
claimed). From the start (2, 1), plain gradient descent with η = 0.2 takes
two ordinary steps, lands on the wall where the gradient is ~500, is
thrown to x ≈ −50, where the quartic gradient (~q·x³) throws it further:
the loss overflows to inf and then NaN within a few steps. The run is
reported as diverged with the step of the first non-finite loss
(`jaxnn.diagnostics`), not crashed. The same η without the cliff converges
(the cliff causes the blow-up, not the rate). With
`clip_by_global_norm(1)` chained before `sgd(0.2)` every step is at most
0.2 long: the iterate walks down the cliff in a few steps and converges to
the minimum (f − f* < 1e-6). Over a log grid of η (one vmapped sweep per
method) plain GD diverges at several rates — whichever happen to land a
step on the wall — while clipped GD never diverges.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from experiments._common import Checks, Timer, experiment_dir, finish, log_grid
from experiments._tuning import sweep
from jaxnn import diagnostics, objectives, optim, plotting, train

ORDER = 170  # place in the gallery and in `list`
NAME = "gradient_clipping"
CLAIM = (
    "On a cliff, plain gradient descent's loss overflows to inf/NaN (reported as diverged, "
    "with the step), while clip_by_global_norm keeps every step bounded and reaches the "
    "minimum (f − f* < 1e-6); clipped GD never diverges over the whole learning-rate sweep."
)


@dataclasses.dataclass(frozen=True)
class Config:
    height: float = 100.0  # cliff height h (objectives.cliff)
    steepness: float = 20.0  # cliff steepness k: wall gradient up to h·k/4 = 500
    position: float = 1.0  # cliff position c on the x-axis
    quartic: float = 0.1  # q of the added ¼·q‖p‖⁴: super-quadratic growth away from the basin
    lr: float = 0.2  # η of the headline runs (plain and clipped)
    max_norm: float = 1.0  # clip_by_global_norm threshold
    num_steps: int = 500  # steps of every run
    low_loss: float = 1e-6  # "reached the minimum": f − f* below this at the end
    lr_low: float = 0.01  # log grid of η for the sweep
    lr_high: float = 1.0
    lr_num: int = 41

    @classmethod
    def quick(cls) -> Config:
        return cls(num_steps=300, lr_num=21)


def landscape(config: Config):
    """(cliff objective, f with the quartic, the same f without the cliff)."""
    obj = objectives.cliff(config.height, config.steepness, config.position)
    q = config.quartic
    f = lambda p: obj.fn(p) + 0.25 * q * jnp.sum(p**2, axis=0) ** 2
    bowl = lambda p: 0.5 * jnp.sum(p**2, axis=0) + 0.25 * q * jnp.sum(p**2, axis=0) ** 2
    return obj, f, bowl


def run(config: Config, out_dir) -> dict:
    checks = Checks()
    with Timer() as timer:
        obj, f, bowl = landscape(config)
        T = config.num_steps
        clipped = lambda lr: optim.chain(optim.clip_by_global_norm(config.max_norm), optim.sgd(lr))

        def both(lr):
            _, plain = train.optimize(f, optim.sgd(lr), obj.x0, T)
            _, clip = train.optimize(f, clipped(lr), obj.x0, T)
            _, control = train.optimize(bowl, optim.sgd(lr), obj.x0, T)
            return {"plain": plain, "clip": clip, "no_cliff": control["loss"]}

        runs = jax.tree.map(np.asarray, jax.jit(both)(config.lr))
        plain, clip = runs["plain"], runs["clip"]
        report = diagnostics.diagnose(plain["loss"])
        bad = diagnostics.first_nonfinite(plain["loss"])
        finite = plain["loss"][np.isfinite(plain["loss"])]
        checks.add(
            "plain GD diverges",
            {
                "diverged": report["diverged"],
                "first_nonfinite_step": bad,
                "largest finite loss": float(finite.max()),
            },
            bool(report["diverged"]) and bad >= 0,
            f"η = {config.lr:g}: the loss becomes inf/NaN at step {bad}",
        )
        control = float(runs["no_cliff"][-1])
        checks.add(
            "same η without the cliff converges",
            control,
            np.isfinite(control) and control < config.low_loss,
            "final loss of plain GD on the bowl + quartic alone",
        )
        gap = float(clip["loss"][-1] - obj.min_value)
        checks.add(
            "clipped GD reaches the minimum",
            {"f − f*": gap, "first_nonfinite_step": diagnostics.first_nonfinite(clip["loss"])},
            diagnostics.first_nonfinite(clip["loss"]) < 0 and abs(gap) < config.low_loss,
            f"clip_by_global_norm({config.max_norm:g}) then sgd({config.lr:g}), {T} steps",
        )

        grid = log_grid(config.lr_low, config.lr_high, config.lr_num)
        swept = {
            name: sweep(
                lambda lr, make=make: train.optimize(f, make(lr), obj.x0, T)[1]["loss"], grid
            )
            for name, make in (("plain", optim.sgd), ("clipped", clipped))
        }
        first_bad = {k: [diagnostics.first_nonfinite(c) for c in v] for k, v in swept.items()}
        n_bad = {k: int(sum(s >= 0 for s in v)) for k, v in first_bad.items()}
        checks.add(
            "η sweep: runs that diverge",
            n_bad,
            n_bad["clipped"] == 0 and n_bad["plain"] > 0,
            f"{config.lr_num} rates in [{config.lr_low:g}, {config.lr_high:g}]; clipped must "
            "never diverge",
        )
        numbers = {
            "plain": {
                "first_nonfinite_step": bad,
                "diagnosis": report,
                "loss_first_steps": plain["loss"][: max(bad, 0) + 3],
            },
            "clipped": {"final_gap": gap, "loss_first_steps": clip["loss"][:12]},
            "no_cliff_final_loss": control,
            "sweep": {
                "grid": grid,
                "first_nonfinite_step": first_bad,
                "final_loss": {k: v[:, -1] for k, v in swept.items()},
            },
        }
        folder = experiment_dir(out_dir, NAME)
        figures = [_plot(config, obj, f, plain, clip, bad, grid, swept, first_bad, folder)]
    return finish(NAME, CLAIM, config, checks, numbers, figures, out_dir, timer.seconds)


def _plot(config, obj, f, plain, clip, bad, grid, swept, first_bad, folder) -> str:
    fig, axes = plotting.new_figure(
        ncols=3,
        size=(5.0, 4.3),
        title="gradient clipping survives the cliff that makes plain gradient descent diverge",
    )
    ax1, ax2, ax3 = np.ravel(axes)
    xs = np.linspace(-1.5, 2.5, 241)
    ys = np.linspace(-1.5, 1.5, 181)
    z = np.asarray(f(jnp.stack(jnp.meshgrid(jnp.asarray(xs), jnp.asarray(ys)))))
    plotting.contour(ax1, xs, ys, z, levels=20, log=True, cmap="Greys", colorbar=False)
    shown = plain["params"][: bad if bad > 0 else None]
    plotting.trajectory(
        ax1,
        shown[:4],
        label=f"plain GD (thrown off: x₃ = {shown[3, 0]:.3g})",
        color="C3",
        marker="o",
    )
    plotting.trajectory(ax1, clip["params"][:40], label="clipped GD", color="C0", marker=".")
    ax1.axvline(config.position, color="gray", ls=":", lw=0.8)
    ax1.set_xlim(xs[0], xs[-1])
    ax1.set_ylim(ys[0], ys[-1])
    ax1.set_xlabel("x")
    ax1.set_ylabel("y")
    ax1.set_title(f"the cliff at x = {config.position:g} (η = {config.lr:g})")
    t = np.arange(config.num_steps + 1)
    loss_plain = np.where(np.isfinite(plain["loss"]), plain["loss"], np.nan)
    ax2.semilogy(t, loss_plain, "o-", ms=3, color="C3", label="plain GD")
    if bad >= 0:
        ax2.axvline(bad, color="C3", ls="--", lw=0.8, label=f"inf/NaN from step {bad}")
    ax2.semilogy(t, clip["loss"], color="C0", label="clipped GD")
    ax2.axhline(obj.min_value, color="gray", ls=":", label=f"f* = {obj.min_value:.3g}")
    ax2.set_xscale("symlog", linthresh=10)
    ax2.set_xlim(0, config.num_steps)
    ax2.set_xlabel("step (symlog)")
    ax2.set_ylabel("loss")
    ax2.set_title("plain overflows, clipped converges")
    plotting.legend(ax2)
    for j, (name, curves) in enumerate(swept.items()):
        final = curves[:, -1]
        ok = np.array([s < 0 for s in first_bad[name]])
        ax3.loglog(
            grid[ok],
            final[ok],
            "o-",
            color=f"C{3 if j == 0 else 0}",
            ms=4,
            label=f"{name}: final loss",
        )
        if (~ok).any():
            ax3.plot(
                grid[~ok],
                np.full((~ok).sum(), 1e2),
                "x",
                color="C3",
                ms=9,
                label=f"{name}: diverged (inf/NaN)",
            )
    ax3.axvline(config.lr, color="gray", ls=":", lw=0.8)
    ax3.axhline(obj.min_value, color="gray", ls="--", lw=0.8, label="f*")
    ax3.set_xlabel("learning rate η")
    ax3.set_ylabel(f"loss after {config.num_steps} steps")
    ax3.set_title("η sweep: divergence is a lottery without clipping")
    plotting.legend(ax3, outside="below", ncol=2)
    name = "gradient_clipping.png"
    plotting.save(fig, folder / name)
    return name
