"""Activation functions and their derivatives: why sigmoid and tanh saturate and ReLU does not.

Command::

    python -m experiments run activations [--quick]

Runtime: about a second (quick and full are the same computation).

Expected result: on a grid z ∈ [−6, 6] (which contains 0 and ±6 exactly) the
derivatives, taken by `jax.grad` of `jaxnn.activations`, are:

* sigmoid′(z) = σ(z)(1 − σ(z)) peaks at z = 0 with the value 0.25 — so even in
  the best case each sigmoid layer shrinks a backpropagated gradient by 4×;
* tanh′(0) = 1 (its maximum);
* at |z| = 6 both saturate: sigmoid′(6) ≈ 2.5e-3, tanh′(6) ≈ 2.5e-5, both
  below 0.01, while ReLU′(6) = 1 exactly (and leaky ReLU′(−6) = α, GELU′(6) ≈ 1).

Resolution (float32): the values at 0 and 6 are checked to 1e-7 (≈ ε·|value|);
"the maximum is at 0" is resolved because the neighbouring grid points
(z = ±0.05) lie 1.6e-4 below 0.25, ~5000× float32's spacing there.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from experiments._common import Checks, Timer, experiment_dir, finish
from jaxnn import activations, plotting

ORDER = 20  # place in the gallery and in `list`
NAME = "activations"
CLAIM = (
    "sigmoid′(0) = 0.25 is its maximum and tanh′(0) = 1; at |z| = 6 both derivatives are "
    "below 0.01 while ReLU′(6) = 1."
)


@dataclasses.dataclass(frozen=True)
class Config:
    z_max: float = 6.0  # the grid spans [-z_max, z_max]; the saturation checks are at |z| = z_max
    num_points: int = 241  # odd, so that z = 0 is a grid point (spacing 0.05)
    saturated_below: float = 0.01  # a derivative below this at |z| = z_max counts as saturated
    leaky_alpha: float = 0.01  # slope of leaky ReLU for z < 0

    @classmethod
    def quick(cls) -> Config:
        return cls()


def _functions(alpha: float) -> dict:
    return {
        "sigmoid": activations.sigmoid,
        "tanh": activations.tanh,
        "relu": activations.relu,
        "leaky_relu": lambda z: activations.leaky_relu(z, alpha),
        "gelu": activations.gelu,
    }


def run(config: Config, out_dir) -> dict:
    checks = Checks()
    with Timer() as timer:
        # In float64 first, then rounded: 0 and ±z_max are exact grid points.
        zs = np.linspace(-config.z_max, config.z_max, config.num_points).astype(np.float32)
        z = jnp.asarray(zs)
        i0, i_neg, i_pos = config.num_points // 2, 0, config.num_points - 1
        fns = _functions(config.leaky_alpha)

        @jax.jit
        def compute(z):
            values = {k: jax.vmap(f)(z) for k, f in fns.items()}
            return values, {k: jax.vmap(jax.grad(f))(z) for k, f in fns.items()}

        values, derivs = jax.tree.map(np.asarray, compute(z))

        ds, dt = derivs["sigmoid"], derivs["tanh"]
        checks.add("sigmoid'(0)", ds[i0], abs(ds[i0] - 0.25) < 1e-7, "σ(0)(1 − σ(0)) = 0.25")
        checks.add(
            "max of sigmoid' over the grid",
            {"max": ds.max(), "at_z": zs[int(np.argmax(ds))]},
            ds.max() <= ds[i0] and int(np.argmax(ds)) == i0,
            "the maximum is at z = 0",
        )
        checks.add("tanh'(0)", dt[i0], abs(dt[i0] - 1.0) < 1e-7, "1 − tanh²(0) = 1")
        sat = {
            "sigmoid'(-6), sigmoid'(6)": (ds[i_neg], ds[i_pos]),
            "tanh'(-6), tanh'(6)": (dt[i_neg], dt[i_pos]),
        }
        for name, (lo, hi) in sat.items():
            checks.add(
                name,
                [lo, hi],
                max(lo, hi) < config.saturated_below,
                f"saturated: both below {config.saturated_below}",
            )
        dr = derivs["relu"]
        checks.add(
            "relu'(6)", dr[i_pos], abs(dr[i_pos] - 1.0) < 1e-7, "ReLU does not saturate for z > 0"
        )
        numbers = {
            "z": zs,
            "values": values,
            "derivatives": derivs,
            "at_0": {k: v[i0] for k, v in derivs.items()},
            "at_minus_z_max": {k: v[i_neg] for k, v in derivs.items()},
            "at_plus_z_max": {k: v[i_pos] for k, v in derivs.items()},
        }
        figures = [_plot(config, zs, values, derivs, experiment_dir(out_dir, NAME))]
    return finish(NAME, CLAIM, config, checks, numbers, figures, out_dir, timer.seconds)


def _plot(config: Config, z, values: dict, derivs: dict, folder) -> str:
    fig, axes = plotting.new_figure(
        ncols=2,
        size=(5.5, 4.2),
        title="sigmoid and tanh saturate (derivative < 0.01 at |z| = 6); ReLU does not",
    )
    ax1, ax2 = axes.flat
    for k in values:
        ax1.plot(z, values[k], label=k)
        ax2.plot(z, derivs[k], label=f"{k}′")
    ax1.set_title("activation g(z)")
    ax1.set_ylim(-1.5, 3)
    ax2.axhline(0.25, color="gray", ls=":", lw=0.8)
    ax2.axhspan(0, config.saturated_below, color="red", alpha=0.1, label="saturated (< 0.01)")
    ax2.set_title("derivative g′(z) by jax.grad")
    for ax in (ax1, ax2):
        ax.set_xlabel("z")
        ax.axhline(0, color="k", lw=0.5)
        plotting.legend(ax)
    name = "activations.png"
    plotting.save(fig, folder / name)
    return name
