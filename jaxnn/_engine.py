"""The grid engine: one compiled program that evaluates a function at many points.

`map_points(fn, shared, points)` returns `out[i] = fn(shared, points[i])` for
every row `i` of `points` (a pytree whose leaves share a leading axis of
length `N`). It is the machinery behind `landscape.slice_1d/slice_2d`,
`landscape.compute_surface` and `train.sweep`, written once:

* The `N` points are evaluated inside one `jax.jit` program as `lax.map` over
  chunks of `chunk` points, each chunk `vmap`-ed, so the memory held at once
  is about `chunk` evaluations of `fn`.
* Default chunk: the largest `C` with `C * bytes_per_point <= budget`, where
  the budget is 256 MiB on accelerators and 8 MiB on the CPU backend (on a
  CPU, batching evaluations turns matrix products into batched ones whose
  activations fall out of cache, so large chunks run slower than one at a
  time; see `benchmarks/landscape.py`). It is capped by the points per device,
  then balanced so that every chunk is equally full.
* A chunk of one point is not `vmap`-ed at all (`lax.map` over the points):
  `vmap` over a size-1 axis turns every matrix product into a batched one,
  which XLA:CPU runs ~20 % slower (measured: 64 runs of the MLP
  40-256-256-10 in `benchmarks/sweep.py`, 2.43 s vmapped in chunks of 1
  against 2.07 s for 64 calls of the jitted run).
* The last chunk is padded by repeating the last point, so a remainder never
  triggers another compilation; padded results are dropped.
* With several devices the padded points are split over a 1-D `Mesh` of all
  devices (axis name `"grid"`) with `jax.shard_map`, `shared` replicated; each
  device runs its own chunk loop and the result is gathered back, replicated,
  so it is the same array as on one device. On several processes this is
  JAX's own multi-controller runtime: call with the same arguments on every
  process.
* The compiled program is cached by jit, keyed on the identity of `fn` and the
  static shapes: the same `fn` object and shapes never recompile.
* Memory bound (tested with the compiled program's `memory_analysis()`):
  the temporary bytes of one call are at most
  `chunk * bytes_per_point + 32 * N` per device, i.e. the chunk budget
  (8 MiB on CPU, 256 MiB elsewhere) plus 32 bytes per point for the padded
  point table, the raw outputs and their copies (scalar outputs, 3 float32
  coefficients per point as in `slice_2d`). A 201 x 201 slice (40,401 points)
  of any model therefore needs at most the budget plus 1.3 MB, whatever the
  parameter count (a 1M-parameter float32 model, 4 MB per perturbed copy
  plus activations, runs in chunks of 1-2 points on a CPU).

`plan(num_points, chunk_size, bytes_per_point)` exposes the chunking decision
and `GridInfo` describes one evaluation (returned with `return_info=True`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxnn._devices import replicate

__all__ = [
    "ById",
    "CPU_CHUNK_BYTES",
    "GridInfo",
    "MAX_CHUNK_BYTES",
    "chunk_for",
    "jaxpr_bytes",
    "map_points",
    "plan",
    "tree_nbytes",
]

MAX_CHUNK_BYTES = 256 * 2**20  # accelerators: bounded memory, large vmapped chunks
CPU_CHUNK_BYTES = 8 * 2**20  # CPU: keep one chunk's working set near the cache size


class ById:
    """Hash/compare a callable by identity, so that it can be a static jit argument.

    jit's cache keeps a strong reference to the wrapper (hence to the callable),
    so an id cannot be reused while its compiled program is cached.
    """

    __slots__ = ("fn",)

    def __init__(self, fn: Callable) -> None:
        self.fn = fn

    def __hash__(self) -> int:
        return id(self.fn)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ById) and other.fn is self.fn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)


class GridInfo(NamedTuple):
    """How one `map_points` call was evaluated."""

    num_points: int  # points asked for
    num_padded: int  # points evaluated, padding included
    chunk_size: int  # points per vmapped chunk
    num_chunks: int  # chunks per device
    num_devices: int
    sharding: jax.sharding.Sharding | None  # of the raw padded outputs; None if traced


def _aval_bytes(var: Any) -> int:
    aval: Any = getattr(var, "aval", None)  # None: a literal; the except below returns 0
    try:
        return math.prod(aval.shape) * np.dtype(aval.dtype).itemsize
    except (AttributeError, TypeError):
        return 0


def tree_nbytes(tree: Any) -> int:
    """Bytes taken by the array leaves of `tree` (arrays or `jax.ShapeDtypeStruct`s)."""
    return sum(
        math.prod(np.shape(x)) * np.dtype(getattr(x, "dtype", np.float32)).itemsize
        for x in jax.tree.leaves(tree)
    )


def jaxpr_bytes(jaxpr: Any) -> int:
    """Bytes of every intermediate value of a (Closed)Jaxpr, loop bodies counted once.

    An upper bound on the live memory of one evaluation (XLA fuses and frees);
    the `bytes_per_point` estimate of the slices and of `sweep`.
    """
    jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
    total = 0
    for eqn in jaxpr.eqns:
        total += sum(_aval_bytes(v) for v in eqn.outvars)
        for param in eqn.params.values():
            for sub in param if isinstance(param, (tuple, list)) else (param,):
                if hasattr(sub, "eqns") or hasattr(getattr(sub, "jaxpr", None), "eqns"):
                    total += jaxpr_bytes(sub)
    return total


def chunk_for(bytes_per_point: int, num_points: int) -> int:
    """Points per chunk under the backend's memory budget (at least 1)."""
    budget = CPU_CHUNK_BYTES if jax.default_backend() == "cpu" else MAX_CHUNK_BYTES
    return max(1, min(num_points, budget // max(bytes_per_point, 1)))


def plan(num_points: int, chunk_size: int | None, bytes_per_point: int) -> tuple[int, int, int]:
    """`(chunk, chunks per device, devices)`: pad once, never recompile per remainder."""
    num_devices = jax.device_count()
    per_device = -(-num_points // num_devices)
    if chunk_size is None:
        chunk = chunk_for(bytes_per_point, per_device)
        num_chunks = -(-per_device // chunk)
        chunk = -(-per_device // num_chunks)  # balance: every chunk equally full
    else:
        chunk = min(chunk_size, per_device)
        num_chunks = -(-per_device // chunk)
    return chunk, num_chunks, num_devices


@functools.lru_cache(maxsize=8)
def _mesh(devices: tuple) -> Mesh:
    return Mesh(np.array(devices), ("grid",))


def _num_rows(points: Any) -> int:
    leaves = jax.tree.leaves(points)
    if not leaves:
        raise ValueError("map_points needs at least one array of points; got an empty pytree.")
    sizes = {int(jnp.shape(x)[0]) if jnp.ndim(x) else -1 for x in leaves}
    if len(sizes) != 1 or -1 in sizes:
        shapes = [tuple(jnp.shape(x)) for x in leaves]
        raise ValueError(
            f"Every leaf of `points` must have the same leading (point) axis; got shapes {shapes}."
        )
    (n,) = sizes
    if n == 0:
        raise ValueError("map_points needs at least one point; `points` has a leading axis of 0.")
    return n


@functools.partial(jax.jit, static_argnames=("fn", "chunk", "num_chunks", "mesh"))
def _evaluate(shared, points, *, fn, chunk, num_chunks, mesh):
    n = jax.tree.leaves(points)[0].shape[0]
    num_devices = 1 if mesh is None else mesh.size
    padded = num_devices * num_chunks * chunk
    pad = lambda x: jnp.pad(x, [(0, padded - n)] + [(0, 0)] * (x.ndim - 1), mode="edge")
    points = jax.tree.map(pad, points)

    def local(shared, pts):  # leaves (num_chunks * chunk, ...) -> outputs with that axis
        if chunk == 1:  # one point at a time: no vmap over a size-1 axis (see module docstring)
            return jax.lax.map(lambda p: fn(shared, p), pts)
        pts = jax.tree.map(lambda x: x.reshape(num_chunks, chunk, *x.shape[1:]), pts)
        out = jax.lax.map(jax.vmap(lambda p: fn(shared, p)), pts)
        return jax.tree.map(lambda y: y.reshape(num_chunks * chunk, *y.shape[2:]), out)

    if mesh is None:
        flat = local(shared, points)
    else:
        flat = jax.shard_map(
            local, mesh=mesh, in_specs=(P(), P("grid")), out_specs=P("grid"), check_vma=False
        )(shared, points)
    out = jax.tree.map(lambda y: y[:n], flat)
    if mesh is not None:
        out = jax.lax.with_sharding_constraint(out, NamedSharding(mesh, P()))
    return out, flat


def map_points(
    fn: Callable[[Any, Any], Any],
    shared: Any,
    points: Any,
    *,
    chunk_size: int | None = None,
    bytes_per_point: int = 0,
    return_info: bool = False,
) -> Any:
    """`out[i] = fn(shared, points[i])`, chunked, vmapped and sharded (see the module docstring).

    Args:
      fn: `(shared, point) -> pytree of arrays`; a hashable callable (pass the
        same object to reuse the compiled program).
      shared: a pytree passed unchanged (replicated) to every evaluation.
      points: a pytree whose leaves all have the same leading axis `N >= 1`.
      chunk_size: points per vmapped chunk; `None` picks one from `bytes_per_point`.
      bytes_per_point: the memory one evaluation holds (used when `chunk_size` is None).
      return_info: also return a `GridInfo`.

    Returns:
      the stacked outputs, each leaf with leading axis `N` (and the `GridInfo`
      when `return_info=True`).
    """
    n = _num_rows(points)
    chunk, num_chunks, num_devices = plan(n, chunk_size, bytes_per_point)
    mesh = _mesh(tuple(jax.devices())) if num_devices > 1 else None
    if jax.process_count() > 1:  # multi-controller: inputs become global (replicated) arrays
        shared, points = replicate((shared, points), mesh)
    out, flat = _evaluate(shared, points, fn=fn, chunk=chunk, num_chunks=num_chunks, mesh=mesh)
    if not return_info:
        return out
    first = jax.tree.leaves(flat)[0]
    sharding = None if isinstance(first, jax.core.Tracer) else first.sharding
    return out, GridInfo(n, first.shape[0], chunk, num_chunks, num_devices, sharding)
