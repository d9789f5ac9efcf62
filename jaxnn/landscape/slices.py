"""Loss along lines and planes in parameter space: one compiled program per slice.

Every grid point is a linear combination of a few pytrees,
`theta(c) = c_0 * T_0 + c_1 * T_1 (+ c_2 * T_2)`:

* `interpolate`: `(1 - a) * params_a + a * params_b`;
* `slice_1d`:    `params + a * direction`;
* `slice_2d`:    `params + xs[j] * dx + ys[i] * dy`, returned as
  `Z[i, j]` with `Z.shape == (len(ys), len(xs))`, ready for
  `plt.contour(xs, ys, Z)`.

How it runs (unlike Li et al.'s reference code, which evaluates one point at
a time from Python):

* The coefficient grid is built inside one `jax.jit` program and evaluated as
  `lax.map` over chunks of `chunk_size` points, each chunk `vmap`-ed; so the
  memory held at once is about `chunk_size` copies of the parameters (plus the
  activations of `chunk_size` forward passes).
* Default chunk size: the largest `C` with `C * bytes_per_point <= budget`,
  where the budget is 256 MiB on accelerators and 8 MiB on the CPU backend
  (measured in `benchmarks/landscape.py`: on a CPU, batching points with
  different weights turns matrix products into batched ones whose activations
  fall out of cache, so large chunks run *slower* than one point at a time);
  where `bytes_per_point` is the size of one perturbed copy of the parameters
  plus the bytes of all intermediate values of one `loss_fn` evaluation
  (activations, read off its jaxpr; loop bodies counted once; an upper
  bound). It is capped by the points per device, then balanced so that all
  chunks are equally full. E.g. 1.2 M float32 parameters and a loss whose
  activations take 10 MB -> chunks of 18 points.
* The last chunk is padded (by repeating the last point) to a full chunk, so
  the remainder never triggers another compilation; padded values are dropped.
* With several devices (`jax.device_count() > 1`) the padded grid is split
  over a 1-D `Mesh` of all devices with `jax.shard_map` (parameters and
  directions replicated); each device runs its own chunk loop and the result
  is gathered back, replicated, so it is the same array as on one device. On
  several processes this is JAX's own multi-controller runtime: call the
  function with the same arguments on every process.
* The compiled program is cached by jit, keyed on the identity of `loss_fn`
  and the static shapes: calling again with the same `loss_fn` object and the
  same shapes does not recompile (a fresh `lambda` each call does).
* Points are formed in each parameter leaf's dtype (coefficients are cast to
  it); non-floating leaves are taken from the first tree unchanged.
* With `return_info=True` each function also returns a `SliceInfo`
  (chunking, devices and the sharding of the raw per-point losses); no
  module-level state is kept.
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxnn._engine import GridInfo, chunk_for, map_points
from jaxnn.landscape._validate import (
    ById,
    as_coords,
    check_loss_fn,
    check_positive_int,
    check_same_tree,
    jaxpr_bytes,
    tree_nbytes,
)

__all__ = [
    "SliceInfo",
    "default_chunk_size",
    "interpolate",
    "slice_1d",
    "slice_2d",
]

SliceInfo = GridInfo  # how one slice was evaluated (returned with `return_info=True`)


def default_chunk_size(
    params: Any, num_points: int, loss_fn: Callable[[Any], jax.Array] | None = None
) -> int:
    """Grid points per chunk: `max(1, min(num_points, budget // bytes_per_point))`.

    The budget is 256 MiB on accelerators and 8 MiB on the CPU backend (see
    `jaxnn/_engine.py`).

    `bytes_per_point = nbytes(params)` (the perturbed copy of the parameters)
    plus, when `loss_fn` is given, the bytes of every intermediate value of one
    `loss_fn(params)` evaluation (activations; an upper bound, from its jaxpr).
    """
    per_point = tree_nbytes(params)
    if loss_fn is not None:
        per_point += jaxpr_bytes(jax.make_jaxpr(loss_fn)(params))
    return chunk_for(per_point, num_points)


def _combine(trees, c):
    """`sum_k c[k] * trees[k]`, leaf by leaf, in the first tree's dtypes."""

    def leaf(*xs):
        x0 = xs[0]
        if not jnp.issubdtype(x0.dtype, jnp.inexact):
            return x0
        out = c[0].astype(x0.dtype) * x0
        for k in range(1, len(xs)):
            out = out + c[k].astype(x0.dtype) * xs[k].astype(x0.dtype)
        return out

    return jax.tree.map(leaf, *trees)


def _coefficients(kind: str, coords):
    if kind == "interpolate":
        (a,) = coords
        return jnp.stack([1 - a, a], axis=-1)
    if kind == "1d":
        (a,) = coords
        return jnp.stack([jnp.ones_like(a), a], axis=-1)
    xs, ys = coords
    gx, gy = jnp.meshgrid(xs, ys)  # (ny, nx): gx[i, j] = xs[j], gy[i, j] = ys[i]
    gx, gy = gx.reshape(-1), gy.reshape(-1)
    return jnp.stack([jnp.ones_like(gx), gx, gy], axis=-1)


class _PointLoss(NamedTuple):
    """`(trees, coefficients) -> loss_fn(sum_k c_k T_k)`; hashable by `loss_fn`'s identity."""

    loss_fn: ById

    def __call__(self, trees, c):
        return self.loss_fn(_combine(trees, c))


def _grid_shape(kind: str, coords) -> tuple[int, ...]:
    if kind == "2d":
        return tuple(c.shape[0] for c in reversed(coords))
    return (coords[0].shape[0],)


def _run(loss_fn, trees, coords, kind, chunk_size, return_info=False):
    check_positive_int("chunk_size", chunk_size)
    jaxpr = check_loss_fn(loss_fn, trees[0], return_jaxpr=True)
    per_point = tree_nbytes(trees[0]) + jaxpr_bytes(jaxpr)
    z, info = map_points(
        _PointLoss(ById(loss_fn)),
        trees,
        _coefficients(kind, coords),
        chunk_size=chunk_size,
        bytes_per_point=per_point,
        return_info=True,
    )
    z = z.reshape(_grid_shape(kind, coords))
    return (z, info) if return_info else z


def interpolate(
    loss_fn: Callable[[Any], jax.Array],
    params_a: Any,
    params_b: Any,
    alphas: jax.Array,
    *,
    chunk_size: int | None = None,
    return_info: bool = False,
) -> jax.Array | tuple[jax.Array, GridInfo]:
    """Loss along the segment (and beyond) from `params_a` to `params_b`.

    `out[i] = loss_fn((1 - alphas[i]) * params_a + alphas[i] * params_b)`
    (Goodfellow et al. 2015's linear interpolation; `alphas` outside [0, 1]
    extrapolate).

    Returns:
      `(len(alphas),)` losses.
    """
    check_same_tree("params_b", params_b, params_a, "params_a")
    alphas = as_coords("alphas", alphas)
    return _run(loss_fn, (params_a, params_b), (alphas,), "interpolate", chunk_size, return_info)


def slice_1d(
    loss_fn: Callable[[Any], jax.Array],
    params: Any,
    direction: Any,
    alphas: jax.Array,
    *,
    chunk_size: int | None = None,
    return_info: bool = False,
) -> jax.Array | tuple[jax.Array, GridInfo]:
    """`out[i] = loss_fn(params + alphas[i] * direction)`, shape `(len(alphas),)`."""
    check_same_tree("direction", direction, params)
    alphas = as_coords("alphas", alphas)
    return _run(loss_fn, (params, direction), (alphas,), "1d", chunk_size, return_info)


def slice_2d(
    loss_fn: Callable[[Any], jax.Array],
    params: Any,
    dx: Any,
    dy: Any,
    xs: jax.Array,
    ys: jax.Array,
    *,
    chunk_size: int | None = None,
    return_info: bool = False,
) -> jax.Array | tuple[jax.Array, GridInfo]:
    """Loss on the plane through `params` spanned by `dx` and `dy`.

    `Z[i, j] = loss_fn(params + xs[j] * dx + ys[i] * dy)`, `Z.shape == (len(ys), len(xs))`
    (rows follow `ys`, columns `xs`: `plt.contour(xs, ys, Z)` draws it).

    Args:
      loss_fn: `params -> scalar`; pass the same object on every call to reuse
        the compiled program.
      params: the centre of the plane (any pytree).
      dx: the x direction, like `params` (see `random_direction`, `pca_directions`).
      dy: the y direction, like `params`.
      xs: non-empty 1-D x coordinates (the columns of `Z`).
      ys: non-empty 1-D y coordinates (the rows of `Z`).
      chunk_size: points per vmapped chunk (default: see the module docstring).
      return_info: also return a `SliceInfo` (chunking, devices, sharding).

    Memory: at most `chunk * bytes_per_point + 32 * len(xs) * len(ys)` bytes
    of temporaries per device (see `jaxnn/_engine.py`): a 201 x 201 grid
    needs the chunk budget (8 MiB on CPU) plus 1.3 MB, for any model size.

    Examples:
      >>> loss = lambda p: jnp.sum(p["w"] ** 2)
      >>> p = {"w": jnp.zeros(2)}
      >>> ex, ey = {"w": jnp.array([1.0, 0.0])}, {"w": jnp.array([0.0, 1.0])}
      >>> slice_2d(loss, p, ex, ey, jnp.array([0.0, 1.0, 2.0]), jnp.array([0.0, 3.0])).tolist()
      [[0.0, 1.0, 4.0], [9.0, 10.0, 13.0]]
    """
    check_same_tree("dx", dx, params)
    check_same_tree("dy", dy, params)
    xs, ys = as_coords("xs", xs), as_coords("ys", ys)
    return _run(loss_fn, (params, dx, dy), (xs, ys), "2d", chunk_size, return_info)
