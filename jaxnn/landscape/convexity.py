"""Local convexity map: `|lambda_min / lambda_max|` of the Hessian on a grid (Li et al. 2018, §6).

At every grid point `theta_ij = params + xs[j] dx + ys[i] dy` the extreme
eigenvalues of the full Hessian `H(theta_ij)` (over all parameters) are
estimated with `num_iters` steps of Lanczos with full re-orthogonalization
(the private `_krylov.lanczos` behind `hessian_top_eigenvalues`), from one
start vector shared by all points (drawn from `key`). The smallest and the
largest Ritz values of the tridiagonal `T_m` converge to `lambda_min` (the
most negative) and `lambda_max` from inside the spectrum, both ends at once;
with `num_iters >= n` (the number of parameters) they are exact up to
rounding. The map is `|lambda_min / lambda_max|`: near 0 where the surface is
locally convex (`lambda_min` about 0 or positive and small), large where
negative curvature dominates. Li et al. plot this ratio (their Fig. 7) to
show that the non-convexity a 2-D slice shows is present in the full Hessian.

All points run in one compiled program through `jaxnn._engine.map_points`
(chunks of points `vmap`-ed, each point running its own Lanczos loop;
sharded over devices). Memory per point: `num_iters + 2` vectors of size n
plus one Hessian-vector product.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxnn._engine import map_points
from jaxnn.landscape._krylov import flat_matvec, lanczos, tridiag
from jaxnn.landscape._validate import (
    ById,
    as_coords,
    check_loss_fn,
    check_positive_int,
    check_same_tree,
    jaxpr_bytes,
    tree_nbytes,
)

__all__ = ["ConvexityMap", "convexity_map"]


class ConvexityMap(NamedTuple):
    ratio: jax.Array  # (ny, nx) |lambda_min / lambda_max|
    lambda_min: jax.Array  # (ny, nx) smallest (most negative) Hessian eigenvalue
    lambda_max: jax.Array  # (ny, nx) largest Hessian eigenvalue


class _PointExtremes(NamedTuple):
    """`(shared, (x, y)) -> (lambda_min, lambda_max)` of the Hessian at that grid point."""

    loss_fn: ById
    num_iters: int  # Lanczos steps (at most n)

    def __call__(self, shared, xy):
        params, dx, dy, v0 = shared
        x, y = xy[0], xy[1]
        point = lambda p, u, v: p + x.astype(p.dtype) * u + y.astype(p.dtype) * v
        theta = jax.tree.map(point, params, dx, dy)
        _, _, matvec = flat_matvec(self.loss_fn, theta)
        steps, _, alpha, beta = lanczos(matvec, v0, self.num_iters)
        ritz = jnp.linalg.eigvalsh(tridiag(alpha, beta, steps))
        return ritz[0], ritz[-1]


def _check_float_params(params) -> None:
    for leaf in jax.tree.leaves(params):
        if not jnp.issubdtype(jnp.result_type(leaf), jnp.floating):
            raise TypeError(
                f"convexity_map needs floating-point parameters; got a leaf of dtype "
                f"{jnp.result_type(leaf)}."
            )


def convexity_map(
    loss_fn,
    params,
    dx,
    dy,
    xs,
    ys,
    *,
    key: jax.Array | None = None,
    num_iters: int = 30,
    chunk_size: int | None = None,
    return_eigenvalues: bool = False,
):
    """`|lambda_min / lambda_max|` of the Hessian at every point of a 2-D grid.

    `out[i, j] = |lambda_min(H) / lambda_max(H)|` at `params + xs[j] dx + ys[i] dy`,
    shape `(len(ys), len(xs))` (see the module docstring for the method).

    Args:
      loss_fn: `params -> scalar` (twice differentiable).
      params, dx, dy, xs, ys: the grid, as in `slice_2d`.
      key: PRNG key for the Lanczos start vector (default `jax.random.key(0)`).
      num_iters: Lanczos steps per point (capped at the number of parameters);
        more steps, tighter extremes.
      chunk_size: points per vmapped chunk (default: from the memory budget).
      return_eigenvalues: return a `ConvexityMap(ratio, lambda_min, lambda_max)`.

    Returns:
      the `(len(ys), len(xs))` ratio, or a `ConvexityMap`.
    """
    check_same_tree("dx", dx, params)
    check_same_tree("dy", dy, params)
    check_positive_int("num_iters", num_iters, allow_none=False)
    check_positive_int("chunk_size", chunk_size)
    _check_float_params(params)
    xs, ys = as_coords("xs", xs), as_coords("ys", ys)
    jaxpr = check_loss_fn(loss_fn, params, return_jaxpr=True)
    n = sum(int(jnp.size(x)) for x in jax.tree.leaves(params))
    m = min(int(num_iters), n)
    dtype = jnp.result_type(*jax.tree.leaves(params))
    key = jax.random.key(0) if key is None else key
    v0 = jax.random.normal(key, (n,), dtype)
    gx, gy = jnp.meshgrid(xs, ys)
    points = jnp.stack([gx.reshape(-1), gy.reshape(-1)], axis=1)
    per_point = tree_nbytes(params) * (m + 4) + 3 * jaxpr_bytes(jaxpr)
    lo, hi = map_points(
        _PointExtremes(ById(loss_fn), m),
        (params, dx, dy, v0),
        points,
        chunk_size=chunk_size,
        bytes_per_point=per_point,
    )
    shape = (ys.shape[0], xs.shape[0])
    lo, hi = lo.reshape(shape), hi.reshape(shape)
    ratio = jnp.abs(lo / hi)
    return ConvexityMap(ratio, lo, hi) if return_eigenvalues else ratio
