"""Backpropagation through a tiny circuit: add distributes, multiply switches, max routes.

Command::

    python -m experiments run backprop_circuit [--quick]

Runtime: about a second (quick and full are the same computation).

Expected result: for f = (x + y)·z at (x, y, z) = (−2, 5, −4), f = −12 and
∇f = (z, z, x + y) = (−4, −4, 3), both by `jax.grad` and by centered
differences. For g = (x + y)·z + max(x, w), the max gate passes the upstream
gradient (1) only to the larger of x and w and 0 to the other; the add gate
gives both inputs the upstream gradient unchanged ("distributes"); the
multiply gate gives each input the *other* input times the upstream gradient
("switches").

Resolution: the values are small integers, exact in float64 whatever the order of
operations, but every check still states a tolerance rather than bit-equality:
1e-12 for f, the autodiff gradient and the max gate's routing (float64 round-off
of these sums is < 1e-14), and 1e-8 for centered differences with h = 1e-6
(round-off ε·|f|/h ≈ 1e-9; no truncation error, since f is bilinear).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from experiments._common import Checks, Timer, experiment_dir, finish
from jaxnn import gradcheck, plotting

ORDER = 70  # place in the gallery and in `list`
NAME = "backprop_circuit"
CLAIM = (
    "For f = (x + y)·z at (−2, 5, −4): f = −12 and ∇f = (−4, −4, 3) by autodiff and by "
    "finite differences; a max gate routes the gradient only to its larger input."
)


@dataclasses.dataclass(frozen=True)
class Config:
    point: tuple[float, float, float] = (-2.0, 5.0, -4.0)  # (x, y, z) of the textbook example
    w_values: tuple[float, ...] = (-5.0, -3.0, -1.0, 0.0, 2.0)  # max(x, w) for w on both sides of x
    eps: float = 1e-6  # centered-difference step (float64)

    @classmethod
    def quick(cls) -> Config:
        return cls()


def circuit(v: jax.Array) -> jax.Array:
    """f(x, y, z) = (x + y)·z."""
    x, y, z = v
    return (x + y) * z


def circuit_with_max(v: jax.Array) -> jax.Array:
    """g(x, y, z, w) = (x + y)·z + max(x, w)."""
    x, y, z, w = v
    return (x + y) * z + jnp.maximum(x, w)


def run(config: Config, out_dir) -> dict:
    checks = Checks()
    with Timer() as timer, jax.enable_x64(True):
        v = jnp.asarray(config.point, jnp.float64)
        value = float(circuit(v))
        analytic = np.asarray(jax.grad(circuit)(v))
        numeric = np.asarray(gradcheck.numerical_grad(circuit, v, eps=config.eps))
        x, y, z = config.point
        expected = np.array([z, z, x + y])
        checks.add("f(-2, 5, -4)", value, abs(value + 12.0) < 1e-12, "forward pass = −12 (±1e-12)")
        checks.add(
            "autodiff gradient",
            analytic,
            np.allclose(analytic, expected, rtol=0, atol=1e-12),
            "(z, z, x+y), to 1e-12",
        )
        checks.add(
            "numerical gradient max error",
            float(np.max(np.abs(numeric - expected))),
            np.allclose(numeric, expected, atol=1e-8),
            "centered differences agree with (−4, −4, 3) to 1e-8",
        )
        # The max gate: the gradient goes to x when x > w and to w when w > x.
        routed = []
        for w in config.w_values:
            g = np.asarray(jax.grad(circuit_with_max)(jnp.asarray([x, y, z, w], jnp.float64)))
            dmax_dx, dmax_dw = g[0] - z, g[3]  # remove the (x + y)·z part of ∂g/∂x
            routed.append({"w": w, "dmax_dx": float(dmax_dx), "dmax_dw": float(dmax_dw)})
        max_ok = all(
            np.allclose(
                (r["dmax_dx"], r["dmax_dw"]), (1.0, 0.0) if x > r["w"] else (0.0, 1.0), atol=1e-12
            )
            for r in routed
        )
        checks.add(
            "max gate routes to the larger input", routed, max_ok, "(1, 0) or (0, 1), to 1e-12"
        )
        figures = [_plot(config, analytic, routed, experiment_dir(out_dir, NAME))]
    numbers = {"f": value, "grad_autodiff": analytic, "grad_numeric": numeric, "max_gate": routed}
    return finish(NAME, CLAIM, config, checks, numbers, figures, out_dir, timer.seconds)


def _plot(config: Config, grad: np.ndarray, routed: list[dict], folder) -> str:
    fig, (ax1, ax2) = plotting.new_figure(
        ncols=2,
        size=(9, 3.5),
        title=(
            "f = (x + y)·z at (−2, 5, −4): ∇f = (−4, −4, 3); a max gate "
            "routes the gradient to its larger input"
        ),
    )
    ax1.bar(["∂f/∂x", "∂f/∂y", "∂f/∂z"], grad, color=["C0", "C0", "C1"])
    ax1.axhline(0, color="k", lw=0.5)
    ax1.set_title(f"f = (x + y)·z at {config.point}: ∇f")
    ws = [r["w"] for r in routed]
    ax2.plot(ws, [r["dmax_dx"] for r in routed], "o-", label="∂max/∂x")
    ax2.plot(ws, [r["dmax_dw"] for r in routed], "s--", label="∂max/∂w")
    ax2.axvline(config.point[0], color="gray", ls=":", label="w = x")
    ax2.set_xlabel("w")
    ax2.set_title("max(x, w) routes the gradient to the larger input")
    plotting.legend(ax2)
    name = "circuit.png"
    plotting.save(fig, folder / name)
    return name
