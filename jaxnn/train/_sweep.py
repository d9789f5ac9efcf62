"""A grid of runs as one compiled program: `sweep(run_fn, grid)`.

`sweep(run_fn, {"lr": lrs, "seed": seeds})` returns `out` with
`out[i, j] = run_fn(lr=lrs[i], seed=seeds[j])` for every leaf of the pytree
`run_fn` returns: the cartesian product of the grid, leading axes in the
dict's order (`len(lrs), len(seeds), ...`).

How it runs: the `N = prod(len(v))` points are the rows of an integer index
table; `jaxnn._engine.map_points` (the engine of `landscape.slice_2d`)
evaluates `run_fn` on them inside one `jax.jit` program as `lax.map` over
chunks, each chunk `vmap`-ed, the last chunk padded, the points sharded over
all devices (and processes, after `jax.distributed.initialize`; call `sweep`
with the same arguments on every process). The grid values are gathered
inside the program, so any array dtype works (floats, ints, PRNG key arrays).

Chunk size (runs per vmapped chunk) when `chunk_size=None`:
`bytes_per_run` is read off the jaxpr of one run (every intermediate value,
loop bodies once: parameters, optimizer state and one step's activations;
see `jaxnn._engine.jaxpr_bytes`), and

* on accelerators the chunk is the largest with
  `chunk * bytes_per_run <= 256 MiB` (`jaxnn._engine.MAX_CHUNK_BYTES`);
* on the CPU backend it is the largest with
  `chunk * bytes_per_run <= SWEEP_CPU_BYTES` (40 MiB) and at most
  `SWEEP_CPU_MAX_CHUNK` (256): small runs share a chunk, runs above 40 MiB
  go one at a time (`lax.map` then runs them back to back, with no dispatch
  between runs, and a chunk of one run is not vmapped at all: see
  `jaxnn/_engine.py`). Calibrated with `benchmarks/sweep.py` on the idle
  2-core development CPU (AMD EPYC; 16 lr x 4 seeds x 100 adam steps, min
  of 3 interleaved rounds), speed-up over a loop of `jit(run)` with chunks
  of 1 / 8 / all 64 (estimated bytes per run): least squares in 10
  variables (0.1 MB) 1.08 / 1.30 / 1.32x; softmax regression 40 -> 10 on
  MNIST-1D (6.9 MB) 1.04 / 1.05 / 1.11x; MLP 40-32-10 (7.3 MB) 1.02 / 1.11 /
  1.17x; MLP 40-256-256-10 (23 MB) 1.01 / 1.10 / 0.76x; the 1-D CNN (21 MB)
  1.00 / 0.89 / 0.63x. The rule's chunks (64, 6, 5, 1, 2) gave 1.33, 1.03,
  1.01, 1.00 and 1.12x. Big chunks of big runs fall out of cache and their
  batched matrix products run slower than the unbatched ones, so the budget
  stays far below the accelerators'. (The estimate counts every
  intermediate of the epoch shuffles, ~1.6 MB per epoch of 4000 examples,
  which is why a softmax regression reads as 6.9 MB.) Small models gain
  little because their time is not per-step overhead: a 100-step softmax
  regression run takes 2.2 ms, of which 1.4 ms draw the 4 epoch orders (a
  sort of 4000 keys per epoch, `jaxnn/_permutation.py`), and vmap does not
  make a sort cheaper.

Results equal a Python loop of `run_fn` within float32 rounding, not
bit-for-bit: a vmapped matrix product or reduction may use a different
summation order than the unbatched one, and training amplifies such
differences over steps.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn._engine import ById, chunk_for, jaxpr_bytes, map_points, tree_nbytes

__all__ = [
    "SWEEP_CPU_BYTES",
    "SWEEP_CPU_MAX_CHUNK",
    "sweep",
    "sweep_bytes_per_run",
    "sweep_chunk_size",
]

SWEEP_CPU_BYTES = 40 * 2**20  # CPU: runs per chunk * bytes per run stays below this
SWEEP_CPU_MAX_CHUNK = 256  # CPU: and at most this many runs per chunk


class _RunPoint(NamedTuple):
    """`(grid values, index row) -> run_fn(**point)`; hashable by `run_fn`'s identity."""

    run_fn: ById  # the user's run_fn, hashed by identity
    names: tuple[str, ...]  # grid names, in order

    def __call__(self, values: dict, idx: jax.Array) -> Any:
        point = {name: values[name][idx[a]] for a, name in enumerate(self.names)}
        return self.run_fn(**point)


def _check_grid(grid: Any) -> dict[str, jax.Array]:
    if not isinstance(grid, Mapping) or not grid:
        raise TypeError(
            "grid must be a non-empty dict mapping argument names to 1-D arrays, e.g. "
            f"{{'lr': jnp.logspace(-3, -1, 8), 'seed': jnp.arange(4)}}; got {grid!r}."
        )
    out = {}
    for name, values in grid.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise TypeError(f"grid keys must be argument names (str); got {name!r}.")
        shape = np.shape(values)
        if len(shape) != 1 or shape[0] == 0:
            raise ValueError(
                f"grid[{name!r}] must be a non-empty 1-D array of values, but it has shape "
                f"{shape}; pass e.g. jnp.linspace(0.1, 1.0, 5)."
            )
        out[name] = values if isinstance(values, jax.Array) else jnp.asarray(values)
    return out


def _check_run_fn(run_fn: Any, names: tuple[str, ...]) -> None:
    if not callable(run_fn):
        raise TypeError(f"run_fn must be callable as run_fn(**point); got {run_fn!r}.")
    try:
        sig = inspect.signature(run_fn)
    except (TypeError, ValueError):
        return  # builtins and some C callables: let the trace report
    try:
        sig.bind(**dict.fromkeys(names, 0))
    except TypeError as err:
        raise TypeError(
            f"run_fn must accept the grid names {list(names)} as keyword arguments, but "
            f"run_fn{sig} does not: {err}."
        ) from None


def sweep_chunk_size(bytes_per_run: int, num_runs: int) -> int:
    """Runs per vmapped chunk for `sweep` on this backend (see the module docstring)."""
    if jax.default_backend() != "cpu":
        return chunk_for(bytes_per_run, num_runs)
    fit = SWEEP_CPU_BYTES // max(bytes_per_run, 1)
    return max(1, min(num_runs, SWEEP_CPU_MAX_CHUNK, fit))


def _spec(values: dict[str, jax.Array]) -> tuple:
    return tuple((k, tuple(v.shape), v.dtype) for k, v in values.items())


@functools.lru_cache(maxsize=64)
def _bytes_per_run(fn: _RunPoint, spec: tuple) -> int:
    """Bytes one run holds, from its jaxpr (cached like jit: on `run_fn`'s identity and shapes)."""
    values = {k: jax.ShapeDtypeStruct(shape, dtype) for k, shape, dtype in spec}
    idx = jax.ShapeDtypeStruct((len(spec),), jnp.int32)
    jaxpr, out_shape = jax.make_jaxpr(fn, return_shape=True)(values, idx)  # type: ignore[call-overload]  # mypy misses NamedTuple.__call__
    return jaxpr_bytes(jaxpr) + tree_nbytes(out_shape)


@functools.lru_cache(maxsize=64)
def _index_table(sizes: tuple[int, ...]) -> jax.Array:
    """`(prod(sizes), len(sizes))` int32 rows of the cartesian product, C order."""
    mesh = np.meshgrid(*(np.arange(s) for s in sizes), indexing="ij")
    return jnp.asarray(np.stack([m.reshape(-1) for m in mesh], axis=1), jnp.int32)


def sweep(
    run_fn: Callable[..., Any],
    grid: Mapping[str, Any],
    *,
    chunk_size: int | None = None,
    return_info: bool = False,
) -> Any:
    """Evaluate `run_fn` on the cartesian product of `grid` in one compiled program.

    `out[i_1, ..., i_d] = run_fn(name_1=grid[name_1][i_1], ..., name_d=grid[name_d][i_d])`
    for every leaf, with the names in the dict's order.

    Args:
      run_fn: `run_fn(**point) -> pytree of arrays`, traceable (e.g. building an
        optimizer from a traced `lr` and calling `train.train_scan`). Pass the
        same object to reuse the compiled program.
      grid: dict name -> non-empty 1-D array (any dtype, PRNG keys included).
      chunk_size: runs per vmapped chunk; None picks one per backend (module docstring).
      return_info: also return the engine's `GridInfo` (chunk size, chunks, devices).

    Returns:
      the pytree of `run_fn`'s outputs, each leaf with leading axes
      `tuple(len(v) for v in grid.values())` (and the `GridInfo` when asked).

    Examples:
      >>> out = sweep(lambda a, b: a * b, {"a": jnp.arange(3.0), "b": jnp.ones(2)})
      >>> out.shape
      (3, 2)
    """
    values = _check_grid(grid)
    names = tuple(values)
    _check_run_fn(run_fn, names)
    if chunk_size is not None and (
        isinstance(chunk_size, bool)
        or not isinstance(chunk_size, (int, np.integer))
        or chunk_size < 1
    ):
        raise ValueError(f"chunk_size must be a positive int or None; got {chunk_size!r}.")
    sizes = tuple(int(v.shape[0]) for v in values.values())
    fn = _RunPoint(ById(run_fn), names)
    idx = _index_table(sizes)
    if chunk_size is None:
        per_run = _bytes_per_run(fn, _spec(values))
        per_device = -(-idx.shape[0] // jax.device_count())
        chunk = sweep_chunk_size(per_run, per_device)
        chunk_size = -(-per_device // -(-per_device // chunk))  # balanced: chunks equally full
    out, info = map_points(
        fn,  # type: ignore[arg-type]  # mypy misses NamedTuple.__call__
        values,
        idx,
        chunk_size=int(chunk_size),
        return_info=True,
    )
    out = jax.tree.map(lambda y: y.reshape(*sizes, *y.shape[1:]), out)
    return (out, info) if return_info else out


def sweep_bytes_per_run(run_fn: Callable[..., Any], grid: Mapping[str, Any]) -> int:
    """The memory estimate `sweep` sizes its chunks with, in bytes per run.

    Every intermediate value of one run's jaxpr (loop bodies counted once) plus
    its outputs; see the module docstring. `sweep_chunk_size(bytes, runs)`
    turns it into the chunk `sweep(run_fn, grid)` uses on this backend.
    """
    values = _check_grid(grid)
    _check_run_fn(run_fn, tuple(values))
    return _bytes_per_run(_RunPoint(ById(run_fn), tuple(values)), _spec(values))
