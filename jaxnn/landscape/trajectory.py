"""Optimization trajectories: PCA directions and projection (Li et al. 2018, §7).

A trajectory is either

* a Python **list** of parameter pytrees (checkpoints), or
* a **stacked** pytree: the parameter structure with a leading axis of size n
  on every leaf (what `jax.lax.scan` / `jaxnn.train.optimize` return).

Only a `list` is read as a sequence of checkpoints; anything else (tuples
included, since jaxnn `serial` parameters are tuples) is read as stacked.

PCA directions. With `theta_t` flattened and `c` the centre (default: the
last point), let `M = [theta_0 - c; ...; theta_{n-1} - c]` (n x d). As in Li
et al.'s code (sklearn's PCA of M), the columns of M are mean-centred,
`M_c = M - mean_t(M)`, and with the SVD `M_c = U diag(s) V^T` the directions
are the first k rows of `V^T` and the explained variance ratios
`s_i^2 / sum_j s_j^2`. Each direction's sign is fixed so that its entry of
largest magnitude is positive. Directions are unit vectors in the flattened
space, returned as pytrees like the parameters (in their dtypes).

Projection. `project` returns the least-squares coordinates `(x_t, y_t)`
minimizing `||theta_t - c - x_t dx - y_t dy||`, i.e.
`[x_t, y_t] = G^{-1} [<dx, r_t>, <dy, r_t>]` with `G` the 2x2 Gram matrix of
`(dx, dy)` and `r_t = theta_t - c`. For orthonormal directions (PCA
directions) that is the pair of dot products Li et al. use; for other
directions it is still the point of the plane closest to `theta_t`.

Off-plane error. How much of the path a PCA picture shows: with `V` the k
directions (orthonormal rows) and `r_t = theta_t - c`,
`off_plane_t = ||r_t - V^T V r_t|| / ||r_t||`, the distance of `theta_t` from
the plane (the k-dimensional affine subspace `c + span V`) relative to its
distance from the centre; 0 where `theta_t == c` (the centre itself), 1 for a
point orthogonal to the plane. `pca_directions` returns it as the third field
of `PCADirections`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxnn.landscape._validate import check_positive_int, check_same_tree, describe

__all__ = ["PCADirections", "pca_directions", "project"]


PyTree = Any


class PCADirections(NamedTuple):
    """The result of `pca_directions`: unpack as `(dx, dy), ratio, off_plane = ...`."""

    directions: tuple  # k pytrees like the parameters, orthonormal when flattened
    explained_variance_ratio: jax.Array  # (k,) share of the trajectory's variance per direction
    off_plane: jax.Array  # (n,) distance of each checkpoint from the plane / from the centre


def _as_matrix(trajectory: PyTree) -> tuple[jax.Array, Any, PyTree]:
    """(n, d) matrix of flattened checkpoints, the unravel function and one checkpoint."""
    if isinstance(trajectory, list):
        if not trajectory:
            raise ValueError("trajectory is an empty list; pass at least one checkpoint.")
        template = trajectory[0]
        for i, point in enumerate(trajectory[1:], start=1):
            check_same_tree(f"trajectory[{i}]", point, template, "trajectory[0]")
        _, unravel = ravel_pytree(template)
        matrix = jnp.stack([ravel_pytree(p)[0] for p in trajectory])
        return matrix, unravel, template
    leaves = jax.tree.leaves(trajectory)
    if not leaves:
        raise ValueError("trajectory holds no arrays.")
    lengths = {np.shape(a)[0] if np.ndim(a) else None for a in leaves}
    if len(lengths) != 1 or None in lengths or 0 in lengths:
        shapes = ", ".join(describe(a) for a in leaves[:6])
        raise ValueError(
            "a stacked trajectory needs the same non-zero leading axis (the step) on every "
            f"leaf; got {shapes}. Pass a Python list of checkpoints otherwise."
        )
    template = jax.tree.map(lambda a: jnp.asarray(a)[0], trajectory)
    _, unravel = ravel_pytree(template)
    matrix = jax.vmap(lambda p: ravel_pytree(p)[0])(trajectory)
    return matrix, unravel, template


def _center(matrix: jax.Array, center: PyTree | None, template: PyTree) -> jax.Array:
    if center is None:
        return matrix[-1]
    check_same_tree("center", center, template, "a trajectory point")
    return ravel_pytree(center)[0].astype(matrix.dtype)


def _off_plane(diffs: jax.Array, vecs: jax.Array) -> jax.Array:
    """`||r - V^T V r|| / ||r||` per row `r` of `diffs` (0 for a zero row)."""
    residual = diffs - (diffs @ vecs.T) @ vecs
    dist = jnp.linalg.norm(diffs, axis=1)
    ratio = jnp.linalg.norm(residual, axis=1) / jnp.where(dist > 0, dist, 1)
    return jnp.where(dist > 0, ratio, 0)


def pca_directions(trajectory: PyTree, center: PyTree | None = None, k: int = 2) -> PCADirections:
    """Top-k PCA directions of a trajectory around `center` (Li et al. 2018, §7).

    Args:
      trajectory: a list of parameter pytrees or a stacked pytree (leading axis n).
      center: a parameter pytree; default the last point of the trajectory.
      k: number of directions, `1 <= k <= min(n, d)`.

    Returns:
      `PCADirections(directions, explained_variance_ratio, off_plane)`: a
      tuple of k pytrees, a `(k,)` array and an `(n,)` array, one entry per
      checkpoint in trajectory order (see the module docstring for the math).
      The result is a 3-field NamedTuple: unpack all three, or read the
      fields by name (`.directions`, `.explained_variance_ratio`,
      `.off_plane`).

    Examples:
      >>> (dx, dy), ratio, off_plane = pca_directions(history["params"])
      >>> coords = project(history["params"], last, dx, dy)   # (n, 2)
    """
    check_positive_int("k", k, allow_none=False)
    matrix, unravel, template = _as_matrix(trajectory)
    n, d = matrix.shape
    if k > min(n, d):
        raise ValueError(
            f"k={k} directions need k <= min(number of points, number of parameters) = "
            f"min({n}, {d})."
        )
    diffs = matrix - _center(matrix, center, template)[None, :]
    centred = diffs - jnp.mean(diffs, axis=0, keepdims=True)
    _, s, vt = jnp.linalg.svd(centred, full_matrices=False)
    var = s**2
    ratio = var[:k] / jnp.maximum(jnp.sum(var), jnp.finfo(var.dtype).tiny)
    vecs = vt[:k]
    pivot = jnp.take_along_axis(vecs, jnp.argmax(jnp.abs(vecs), axis=1)[:, None], axis=1)
    vecs = vecs * jnp.where(pivot < 0, -1, 1).astype(vecs.dtype)
    return PCADirections(tuple(unravel(v) for v in vecs), ratio, _off_plane(diffs, vecs))


def project(trajectory: PyTree, center: PyTree, dx: PyTree, dy: PyTree) -> jax.Array:
    """Least-squares coordinates of each point in the plane `center + x dx + y dy`.

    Args:
      trajectory: a list of parameter pytrees or a stacked pytree.
      center: the plane's origin (a parameter pytree).
      dx: the x direction, like `center`.
      dy: the y direction, like `center` (linearly independent of `dx`).

    Returns:
      `(n, 2)` coordinates `[x_t, y_t]` (dot products when `dx, dy` are orthonormal).
    """
    matrix, _, template = _as_matrix(trajectory)
    c = _center(matrix, center, template)
    check_same_tree("dx", dx, template, "a trajectory point")
    check_same_tree("dy", dy, template, "a trajectory point")
    basis = jnp.stack([ravel_pytree(dx)[0], ravel_pytree(dy)[0]]).astype(matrix.dtype)
    gram = basis @ basis.T
    det = gram[0, 0] * gram[1, 1] - gram[0, 1] ** 2
    if not float(det) > 1e-12 * float(gram[0, 0] * gram[1, 1]):
        raise ValueError("dx and dy are linearly dependent (or zero); they must span a plane.")
    rhs = basis @ (matrix - c[None, :]).T  # (2, n)
    return jnp.linalg.solve(gram, rhs).T
