"""Plotting directions along the top Hessian eigenvectors.

`hessian_directions(loss_fn, params, key, k=2)` computes the k algebraically
largest eigenpairs `H u_i = lambda_i u_i` by Lanczos
(`hessian_top_eigenvalues(..., return_eigenvectors=True)`) and rescales each
unit eigenvector with `normalize_direction(u_i, params, norm, ignore)` (filter
normalization by default, exactly as `random_direction` rescales a Gaussian
draw), so that `slice_2d(loss_fn, params, *hessian_directions(...), xs, ys)`
is the plane of the two sharpest directions on the same scale as a random
plane. An eigenvector's sign is arbitrary; here it is fixed so that the
entry of largest magnitude is positive (the same plot for every key).
"""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from jaxnn.landscape.curvature import hessian_top_eigenvalues
from jaxnn.landscape.directions import normalize_direction

__all__ = ["hessian_directions"]

_NORMS = ("filter", "layer", "model", None)
_IGNORES = ("biasbn", None)


def _fixed_sign(vec: Any) -> Any:
    flat, _ = ravel_pytree(vec)
    sign = jnp.where(flat[jnp.argmax(jnp.abs(flat))] < 0, -1, 1)
    return jax.tree.map(lambda x: sign.astype(x.dtype) * x, vec)


def hessian_directions(
    loss_fn: Callable[[Any], jax.Array],
    params: Any,
    key: jax.Array,
    k: int = 2,
    *,
    norm: str | None = "filter",
    ignore: str | None = "biasbn",
    filter_axis: int | Any = -1,
    num_iters: int = 100,
    tol: float = 1e-6,
) -> list[Any]:
    """The top-k Hessian eigenvectors at `params` as normalized plotting directions.

    `d_i = normalize_direction(s_i u_i, params, norm, ignore, filter_axis)` where
    `H(params) u_i = lambda_i u_i`, `lambda_1 >= ... >= lambda_k` the
    algebraically largest eigenvalues, `||u_i|| = 1` and the sign `s_i` makes
    the largest-magnitude entry of `u_i` positive.

    Args:
      loss_fn: `params -> scalar`.
      params: the point where the Hessian is taken and against which the
        directions are normalized.
      key: PRNG key for the Lanczos start vector.
      k: number of directions.
      norm: `"filter" | "layer" | "model" | None` (None: the unit eigenvectors).
      ignore: `"biasbn"` zeroes bias / norm leaves (`ndim <= 1`), as for
        `random_direction`; None keeps them.
      filter_axis: the output axis of each kernel, an int or a pytree of ints
        like `params` (`-1` for `(in, out)`/HWIO, `0` for `(out, in)`/OIHW;
        an adapter's `layer.filter_axis`), as for `random_direction`.
      num_iters: Krylov steps, passed to `hessian_top_eigenvalues`.
      tol: convergence tolerance, passed to `hessian_top_eigenvalues`.

    Returns:
      A list of k pytrees like `params` (in the parameters' dtypes), sharpest first.
    """
    if norm not in _NORMS or ignore not in _IGNORES:
        raise ValueError(
            f"hessian_directions: norm must be one of {_NORMS} and ignore one of {_IGNORES}; "
            f"got norm={norm!r}, ignore={ignore!r}."
        )
    eig = hessian_top_eigenvalues(
        loss_fn, params, key, k=k, num_iters=num_iters, tol=tol, return_eigenvectors=True
    )
    out = []
    for i in range(k):
        u = jax.tree.map(
            lambda v, p, i=i: v[i].astype(jnp.result_type(p)), eig.eigenvectors, params
        )
        out.append(normalize_direction(_fixed_sign(u), params, norm, ignore, filter_axis))
    return out
