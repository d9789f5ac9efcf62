"""epsilon-sharpness (Keskar et al. 2017, "On Large-Batch Training ...", Metric 2.1).

With the box `C_eps = {z : |z_i| <= eps (|theta_i| + 1)}` around the
parameters `theta`, the sharpness is

    phi(theta, eps) = 100 * (max_{z in C_eps} f(theta + z) - f(theta)) / (1 + f(theta)).

Keskar et al. solve the inner maximization with a few iterations of
L-BFGS-B. Here it is projected sign-gradient ascent, the natural projected
method for a box (the L-infinity geometry, as in PGD attacks): with the
half-widths `r = eps (|theta| + 1)`,

    z_{k+1} = clip(z_k + step_size * r * s_k, -r, r),   s_k = sign(grad f(theta + z_k)),

starting at `z_0 = 0`; where a gradient component is exactly 0 (e.g. at a
minimum) `s_k` takes a random sign from `key`. The largest `f` seen over the
iterates is kept (the ascent is not monotone on non-convex `f`). For a
separable convex `f` (e.g. a diagonal quadratic) one step with
`step_size >= 1` reaches the box maximum exactly. The result is a lower
bound on the true max (a local ascent); more `steps` tighten it.
Everything runs in one compiled `fori_loop`; `epsilon` and `step_size`
may be traced scalars (vmap over them).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxnn.landscape._validate import ById, check_loss_fn, check_positive_int

__all__ = ["SharpnessInfo", "sharpness"]


class SharpnessInfo(NamedTuple):
    sharpness: jax.Array  # 100 * (max_loss - loss) / (1 + loss)
    max_loss: jax.Array  # the largest loss found in the box
    loss: jax.Array  # f(theta)
    perturbation: object  # the z (pytree like params) that reached max_loss


@functools.partial(jax.jit, static_argnames=("loss_fn", "steps"))
def _ascent(params, epsilon, step_size, key, *, loss_fn, steps):
    radius = jax.tree.map(lambda p: epsilon * (jnp.abs(p) + 1), params)
    value_and_grad = jax.value_and_grad(lambda z: loss_fn(jax.tree.map(jnp.add, params, z)))
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.tree.unflatten(treedef, list(jax.random.split(key, len(leaves))))

    def step(k, carry):
        z, best, best_z = carry
        f, g = value_and_grad(z)
        better = f > best
        best = jnp.where(better, f, best)
        best_z = jax.tree.map(lambda a, b: jnp.where(better, a, b), z, best_z)

        def move(zi, gi, ri, ki):
            coin = jax.random.rademacher(jax.random.fold_in(ki, k), zi.shape, zi.dtype)
            s = jnp.where(gi == 0, coin, jnp.sign(gi))
            return jnp.clip(zi + step_size * ri * s, -ri, ri)

        return jax.tree.map(move, z, g, radius, keys), best, best_z

    zero = jax.tree.map(jnp.zeros_like, params)
    f0 = loss_fn(params)
    z, best, best_z = jax.lax.fori_loop(0, steps, step, (zero, f0, zero))
    f_last = loss_fn(jax.tree.map(jnp.add, params, z))
    better = f_last > best
    best = jnp.where(better, f_last, best)
    best_z = jax.tree.map(lambda a, b: jnp.where(better, a, b), z, best_z)
    return 100 * (best - f0) / (1 + f0), best, f0, best_z


def sharpness(
    loss_fn,
    params,
    *,
    epsilon=1e-3,
    steps: int = 10,
    step_size=1.0,
    key: jax.Array | None = None,
    return_info: bool = False,
):
    """Keskar et al.'s epsilon-sharpness `100 (max_{z in C_eps} f(theta+z) - f) / (1 + f)`.

    Args:
      loss_fn: `params -> scalar`.
      params: theta (any pytree of float arrays).
      epsilon: relative box radius, `|z_i| <= epsilon (|theta_i| + 1)`; a
        number or a traced scalar.
      steps: projected sign-gradient ascent steps (see the module docstring).
      step_size: step as a fraction of each box half-width.
      key: PRNG key for the random signs where a gradient is exactly zero
        (default `jax.random.key(0)`).
      return_info: return a `SharpnessInfo` (with `max_loss`, `loss` and the
        maximizing perturbation) instead of the number alone.

    Returns:
      the sharpness (a scalar), or a `SharpnessInfo`.
    """
    check_positive_int("steps", steps, allow_none=False)
    check_loss_fn(loss_fn, params)
    if not isinstance(epsilon, jax.core.Tracer) and jnp.ndim(epsilon) == 0:
        if not float(epsilon) > 0:
            raise ValueError(f"epsilon must be positive, got {epsilon}.")
    key = jax.random.key(0) if key is None else key
    out = SharpnessInfo(
        *_ascent(params, epsilon, step_size, key, loss_fn=ById(loss_fn), steps=int(steps))
    )
    return out if return_info else out.sharpness
