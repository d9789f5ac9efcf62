"""Mode connectivity: a low-loss curve between two solutions (Garipov et al. 2018, §3).

A curve from `a = params_a` (t = 0) to `b = params_b` (t = 1) with one
trainable bend `theta` (a pytree like the parameters):

* `kind="bezier"` (quadratic Bezier): `phi(t) = (1 - t)^2 a + 2 t (1 - t) theta + t^2 b`;
* `kind="polychain"` (two segments): `phi(t) = 2 (t theta + (1/2 - t) a)` for
  `t <= 1/2`, `2 ((t - 1/2) b + (1 - t) theta)` for `t > 1/2`.

The bend is trained on `l(theta) = E_{t ~ U(0, 1)} f(phi_theta(t))` as Garipov et
al. do: each step draws `num_samples` values of t uniformly and takes an
optimizer step (default `optax.adam(learning_rate)`) on the mean loss at those
curve points; the bend starts at the midpoint `(a + b) / 2` unless `init_bend`
is given (at a symmetric saddle of the objective, e.g. a problem symmetric
about the segment, start it slightly off the segment). The training is one
compiled `lax.scan`. The losses along the trained curve and along the straight
line `(1 - t) a + t b` are then evaluated at `ts` (one compiled program).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxnn.landscape._validate import ById, check_loss_fn, check_positive_int, check_same_tree

__all__ = ["Connection", "connect", "curve_point"]

_KINDS = ("bezier", "polychain")


class Connection(NamedTuple):
    bend: object  # the trained control point theta, a pytree like the parameters
    ts: jax.Array  # (num_ts,) curve parameters in [0, 1]
    curve_loss: jax.Array  # (num_ts,) loss at phi(ts)
    line_loss: jax.Array  # (num_ts,) loss at (1 - ts) a + ts b
    train_loss: jax.Array  # (num_steps,) the sampled objective at each step


def curve_point(params_a, params_b, bend, t, kind: str = "bezier"):
    """The point `phi(t)` of the curve through `params_a`, `bend`, `params_b` (module docstring).

    `kind` is `"bezier"`, `"polychain"` or `"line"` (the straight segment; `bend` unused).
    """
    t = jnp.asarray(t, jnp.result_type(*jax.tree.leaves(params_a)))
    if kind == "bezier":
        ca, cb, cc = (1 - t) ** 2, 2 * t * (1 - t), t**2
    elif kind == "line":  # the straight segment; the bend is unused
        ca, cb, cc = 1 - t, jnp.zeros_like(t), t
    else:
        first = t <= 0.5
        ca = jnp.where(first, 1 - 2 * t, 0.0)
        cb = jnp.where(first, 2 * t, 2 - 2 * t)
        cc = jnp.where(first, 0.0, 2 * t - 1)
    return jax.tree.map(
        lambda a, th, b: ca.astype(a.dtype) * a + cb.astype(a.dtype) * th + cc.astype(a.dtype) * b,
        params_a, bend, params_b,
    )  # fmt: skip


@functools.partial(
    jax.jit, static_argnames=("loss_fn", "kind", "optimizer", "num_steps", "num_samples")
)
def _train(a, b, bend, key, ts, *, loss_fn, kind, optimizer, num_steps, num_samples):
    def objective(theta, t):
        pts = jax.vmap(lambda s: loss_fn(curve_point(a, b, theta, s, kind)))(t)
        return jnp.mean(pts)

    def step(carry, k):
        theta, opt_state = carry
        dtype = jnp.result_type(*jax.tree.leaves(a))
        t = jax.random.uniform(k, (num_samples,), dtype)
        value, grads = jax.value_and_grad(objective)(theta, t)
        updates, opt_state = optimizer.update(grads, opt_state, theta)
        return (optax.apply_updates(theta, updates), opt_state), value

    init = (bend, optimizer.init(bend))
    (bend, _), history = jax.lax.scan(step, init, jax.random.split(key, num_steps))
    on_curve = jax.lax.map(lambda s: loss_fn(curve_point(a, b, bend, s, kind)), ts)
    on_line = jax.lax.map(lambda s: loss_fn(curve_point(a, b, a, s, "line")), ts)
    return bend, on_curve, on_line, history


class _Opt(NamedTuple):
    """An optax transformation made hashable by identity (a static jit argument)."""

    tx: ById

    def init(self, params):
        return self.tx.fn.init(params)

    def update(self, grads, state, params):
        return self.tx.fn.update(grads, state, params)


def connect(
    loss_fn,
    params_a,
    params_b,
    *,
    kind: str = "bezier",
    num_steps: int = 500,
    learning_rate=1e-2,
    num_samples: int = 8,
    num_ts: int = 51,
    key: jax.Array | None = None,
    init_bend=None,
    optimizer: optax.GradientTransformation | None = None,
) -> Connection:
    """Train the bend of a curve between two solutions so that loss stays low along it.

    Args:
      loss_fn: `params -> scalar`.
      params_a, params_b: the two end points (same pytree structure).
      kind: `"bezier"` (quadratic Bezier) or `"polychain"` (two segments).
      num_steps: optimizer steps.
      learning_rate: for the default `optax.adam` (ignored with `optimizer`).
      num_samples: curve parameters t ~ U(0, 1) drawn per step.
      num_ts: evenly spaced `ts` in [0, 1] at which the result is evaluated.
      key: PRNG key for the t samples (default `jax.random.key(0)`).
      init_bend: start of the bend (default: the midpoint).
      optimizer: any optax `GradientTransformation` (jaxnn.optim's included).

    Returns:
      `Connection(bend, ts, curve_loss, line_loss, train_loss)`.
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}.")
    check_same_tree("params_b", params_b, params_a, "params_a")
    for name, value in (("num_steps", num_steps), ("num_samples", num_samples), ("num_ts", num_ts)):
        check_positive_int(name, value, allow_none=False)
    if init_bend is not None:
        check_same_tree("init_bend", init_bend, params_a, "params_a")
    check_loss_fn(loss_fn, params_a)
    key = jax.random.key(0) if key is None else key
    if init_bend is None:
        init_bend = jax.tree.map(lambda x, y: (x + y) / 2, params_a, params_b)
    tx = optax.adam(learning_rate) if optimizer is None else optimizer
    dtype = jnp.result_type(*jax.tree.leaves(params_a))
    ts = jnp.linspace(0, 1, int(num_ts), dtype=dtype)
    bend, on_curve, on_line, history = _train(
        params_a, params_b, init_bend, key, ts, loss_fn=ById(loss_fn), kind=kind,
        optimizer=_Opt(ById(tx)), num_steps=int(num_steps), num_samples=int(num_samples),
    )  # fmt: skip
    return Connection(bend, ts, on_curve, on_line, history)
