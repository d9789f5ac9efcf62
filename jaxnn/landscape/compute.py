"""`compute_surface` / `compute_curve`: many metrics on a grid, resumable from a file.

Every grid point `theta = params + xs[j] dx + ys[i] dy` (curve:
`params + xs[j] dx`) is evaluated by the same engine as `slice_2d`
(`jaxnn._engine.map_points`: one compiled program, chunks `vmap`-ed, sharded
over all devices), with a function that returns **all** metrics of a point.

Metrics (`metrics` argument):

* a callable `fn(params) -> scalar`: one metric named `loss`;
* a callable `fn(params) -> dict` of scalars: a *joint* metric, one forward
  pass for several numbers, e.g.
  `lambda p: {"loss": ce(logits(p), y), "accuracy": acc(logits(p), y)}` (XLA
  computes `logits(p)` once since both use the same traced value);
* a dict name -> callable; a callable returning a dict contributes its keys.
`accuracy` is a fraction in [0, 1] (stored in percent in the file).

Blocks, files and resuming. The grid (flattened in `(ny, nx)` row-major
order) is cut into blocks of `k * chunk * num_devices` points, `k` the
smallest number of chunks per device that gives at least
`max(16, num_points / 100)` points per block (about 100 blocks: a killed run
loses at most about 1 % of its work, and the per-block cost of a call and a
file write, about a millisecond, stays small next to the block's points).
Each block is one `map_points` call with a fixed number of points (the last
block is padded by repeating its last point), so every block runs the *same*
compiled program. Block `b + 1` is dispatched (JAX runs it asynchronously)
before block `b` is copied to the host and written, so the file I/O overlaps
the computation.
A progress bar (tqdm, with ETA) advances per block. With `path`, each finished
block's rows are written to the HDF5 file (kept open for the run) and marked
done, and the file is flushed, so it is consistent between blocks. Calling again with the same
`path` and the same arguments skips the blocks already done: since each block
is the same program on the same inputs, a resumed run is bit-identical to an
uninterrupted one. The run's identity (kind, coordinates, metric names,
fingerprints of `params`, `dx`, `dy`, the chunk and block sizes) is stored in
the file; a call whose identity differs raises a `ValueError` naming what
differs and leaves the file untouched. `chunk_size=None` on resume reuses the
stored chunk and block sizes.
"""

from __future__ import annotations

import datetime
import os
import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from jaxnn._engine import chunk_for, map_points
from jaxnn.landscape import _hdf5
from jaxnn.landscape._runfile import check_resume, identity_of, new_provenance
from jaxnn.landscape._validate import (
    as_coords,
    check_positive_int,
    check_same_tree,
    jaxpr_bytes,
    tree_nbytes,
)
from jaxnn.landscape.surface import Surface

__all__ = ["compute_curve", "compute_surface"]


def _as_table(metrics) -> dict:
    if callable(metrics):
        return {"loss": metrics}
    if isinstance(metrics, dict) and metrics and all(callable(f) for f in metrics.values()):
        return dict(metrics)
    raise TypeError(
        "metrics must be a callable fn(params) -> scalar (or -> dict of scalars), or a non-empty "
        f"dict name -> fn(params); got {type(metrics).__name__}."
    )


class _Table:
    """The metric table as a static jit key: equal when names and functions (by identity) are."""

    __slots__ = ("items",)

    def __init__(self, table: dict):
        self.items = tuple(table.items())

    def _key(self):
        return tuple((name, id(fn)) for name, fn in self.items)

    def __hash__(self):
        return hash(self._key())

    def __eq__(self, other):
        return isinstance(other, _Table) and self._key() == other._key()


class _PointMetrics(NamedTuple):
    """`(trees, c) -> {name: scalar}` at `sum_k c_k T_k`; hashable by the table's identity."""

    table: _Table  # (name, fn) pairs; the same functions never recompile

    def __call__(self, trees, c):
        theta = jax.tree.map(lambda *xs: _combine(xs, c), *trees)
        out = {}
        for name, fn in self.table.items:
            value = fn(theta)
            out.update(value if isinstance(value, dict) else {name: value})
        return out


def _combine(leaves, c):
    x0 = leaves[0]
    if not jnp.issubdtype(x0.dtype, jnp.inexact):
        return x0
    out = c[0].astype(x0.dtype) * x0
    for k in range(1, len(leaves)):
        out = out + c[k].astype(x0.dtype) * leaves[k].astype(x0.dtype)
    return out


def _check_metrics(table: dict, params) -> tuple[list[str], int]:
    """Metric names (in output order) and the activation bytes of one evaluation, by tracing."""
    names: list[str] = []
    nbytes = 0
    for name, fn in table.items():
        jaxpr, out = jax.make_jaxpr(fn, return_shape=True)(params)
        nbytes += jaxpr_bytes(jaxpr)
        outs = out if isinstance(out, dict) else {name: out}
        for key, o in outs.items():
            if not isinstance(o, jax.ShapeDtypeStruct) or o.shape != ():
                raise ValueError(
                    f"metric {key!r} must return a scalar (or a dict of scalars), but it returned "
                    f"{getattr(o, 'shape', type(o).__name__)}; reduce it over the batch."
                )
            if not jnp.issubdtype(o.dtype, jnp.floating):
                raise TypeError(f"metric {key!r} must return a float scalar; got {o.dtype}.")
            if key in names:
                raise ValueError(f"metric name {key!r} is produced twice; names must be unique.")
            names.append(str(key))
    return names, nbytes


class _Run(NamedTuple):
    kind: str  # "1d" | "2d"
    trees: tuple  # (params, dx) or (params, dx, dy)
    coords: tuple  # (xs,) or (xs, ys), 1-D float arrays
    table: dict  # name -> metric fn


def _grid(coords) -> np.ndarray:
    if len(coords) == 1:
        xs = np.asarray(coords[0])
        return np.stack([np.ones_like(xs), xs], axis=1)
    gx, gy = np.meshgrid(np.asarray(coords[0]), np.asarray(coords[1]))
    return np.stack([np.ones(gx.size, gx.dtype), gx.ravel(), gy.ravel()], axis=1)


def _start(run: _Run, path, chunk_size, config, direction_info):
    """(names, identity, values, done, provenance) for a new or resumed run."""
    names, act_bytes = _check_metrics(run.table, run.trees[0])
    shape = tuple(len(c) for c in reversed(run.coords))
    n = int(np.prod(shape))
    chunk = chunk_size or chunk_for(
        tree_nbytes(run.trees[0]) + act_bytes, -(-n // jax.device_count())
    )
    identity = identity_of(run.kind, run.coords, names, run.trees, chunk, path is not None)
    if path is not None and os.path.exists(path):
        identity = check_resume(path, identity, chunk_size is not None)
        f = _hdf5.read_surface(path)
        values = {k: np.asarray(f["values"][k], np.float32) for k in names}
        return names, identity, values, np.asarray(f["done"]), f["provenance"]
    values = {k: np.full(shape, np.nan, np.float32) for k in names}
    done = np.zeros(shape, bool)
    provenance = new_provenance(config, direction_info, identity)
    if path is not None:
        fields = dict(xs=run.coords[0], ys=run.coords[1] if len(run.coords) > 1 else None,
                      values=values, done=done, directions=_leaf_lists(run.trees[1:]),
                      identity=identity, provenance=provenance)  # fmt: skip
        _hdf5.atomic_h5(path, lambda fh: _hdf5.write_surface(fh, fields, path=path))
    return names, identity, values, done, provenance


def _leaf_lists(directions) -> tuple:
    return tuple([np.asarray(x) for x in jax.tree.leaves(d)] for d in directions)


def _store(idx, out, names, values, done) -> None:
    """Copy one finished block (flat indices `idx`) into the host arrays."""
    for k in names:
        values[k].reshape(-1)[idx] = np.asarray(out[k])[: idx.size].astype(np.float32)
    done.reshape(-1)[idx] = True


def _rows(idx, shape) -> slice:
    """The rows of the grid a block of consecutive flat indices touches (a curve: the indices)."""
    if len(shape) == 1:
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return slice(int(idx[0]) // shape[1], int(idx[-1]) // shape[1] + 1)


def _compute(run: _Run, path, chunk_size, progress, config, direction_info) -> Surface:
    names, identity, values, done, provenance = _start(
        run, path, chunk_size, config, direction_info
    )
    chunk, block = identity["chunk_size"], identity["block_size"]
    grid = _grid(run.coords)
    n = grid.shape[0]
    num_blocks = -(-n // block)
    todo = [b for b in range(num_blocks) if not done.reshape(-1)[b * block : (b + 1) * block].all()]
    fn = _PointMetrics(_Table(run.table))
    session: dict[str, Any] = {"started": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                               "points": 0, "seconds": 0.0}  # fmt: skip
    provenance = dict(provenance, sessions=list(provenance.get("sessions", [])) + [session])
    t0 = time.perf_counter()
    bar = tqdm(total=num_blocks, initial=num_blocks - len(todo), disable=not progress,
               unit="block", desc=f"surface {'x'.join(map(str, done.shape))}")  # fmt: skip

    def dispatch(b):  # asynchronous: runs while the previous block is stored
        idx = np.arange(b * block, (b + 1) * block)
        rows = grid[np.minimum(idx, n - 1)]  # the last block repeats its last point
        return idx[idx < n], map_points(fn, run.trees, jnp.asarray(rows), chunk_size=chunk)

    writer = _hdf5.BlockWriter(path) if path is not None else None
    pending = None
    try:
        for b in todo + [None]:
            nxt = dispatch(b) if b is not None else None
            if pending is not None:
                idx, out = pending
                _store(idx, jax.device_get(out), names, values, done)
                session.update(points=session["points"] + int(idx.size),
                               seconds=time.perf_counter() - t0)  # fmt: skip
                if writer is not None:
                    writer.write(_rows(idx, done.shape), values, done, provenance)
                bar.update(1)
            pending = nxt
    finally:
        if writer is not None:
            writer.close()
    bar.close()
    values = {k: np.where(done, v, np.nan).astype(np.float32) for k, v in values.items()}
    ys = np.asarray(run.coords[1]) if len(run.coords) > 1 else None
    directions = _leaf_lists(run.trees[1:])
    return Surface(np.asarray(run.coords[0]), ys, values, done, directions,
                   provenance.get("direction_info", {}), provenance)  # fmt: skip


def compute_surface(
    metrics,
    params,
    dx,
    dy,
    xs,
    ys,
    *,
    path: str | os.PathLike | None = None,
    chunk_size: int | None = None,
    progress: bool = True,
    direction_info: dict | None = None,
    config: dict | None = None,
) -> Surface:
    """Every metric on the plane `params + xs[j] dx + ys[i] dy`, resumable from `path`.

    `values[name][i, j] = metric(params + xs[j] * dx + ys[i] * dy)`, shaped
    `(len(ys), len(xs))` like `slice_2d` (see the module docstring for joint
    metrics, blocks and resuming).

    Args:
      metrics: `fn(params) -> scalar` (named `loss`), `fn(params) -> dict` of
        scalars (a joint metric), or a dict name -> fn.
      params: the centre (any pytree).
      dx, dy: directions like `params`.
      xs, ys: non-empty 1-D coordinates.
      path: an HDF5 file (Li et al.'s layout); each finished block is written
        to it, and a second call with the same arguments resumes.
      chunk_size: points per vmapped chunk (default: from the memory budget,
        like `slice_2d`; on resume, the stored one).
      progress: show a tqdm progress bar with ETA over the blocks.
      direction_info: JSON-able description of how `dx`, `dy` were built
        (e.g. `{"key": 1, "norm": "filter", "ignore": "biasbn", "filter_axis": -1}`).
      config: JSON-able user configuration kept in the provenance.

    Returns:
      a `Surface`.
    """
    check_same_tree("dx", dx, params)
    check_same_tree("dy", dy, params)
    check_positive_int("chunk_size", chunk_size)
    run = _Run(
        "2d", (params, dx, dy), (as_coords("xs", xs), as_coords("ys", ys)), _as_table(metrics)
    )
    return _compute(run, path, chunk_size, progress, config, direction_info)


def compute_curve(
    metrics,
    params,
    direction,
    alphas,
    *,
    path: str | os.PathLike | None = None,
    chunk_size: int | None = None,
    progress: bool = True,
    direction_info: dict | None = None,
    config: dict | None = None,
) -> Surface:
    """The 1-D twin of `compute_surface`: metrics at `params + alphas[j] * direction`.

    Returns a `Surface` with `xs = alphas`, `ys = None` and `(len(alphas),)`
    arrays; the file has only `xcoordinates` (as Li et al.'s 1-D files).
    Arguments as in `compute_surface`.
    """
    check_same_tree("direction", direction, params)
    check_positive_int("chunk_size", chunk_size)
    run = _Run("1d", (params, direction), (as_coords("alphas", alphas),), _as_table(metrics))
    return _compute(run, path, chunk_size, progress, config, direction_info)
