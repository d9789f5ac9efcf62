"""Data parallelism on JAX's own runtime: one mesh axis `"data"` over all devices.

With one device every function here is the identity (no mesh, no copies), so
single-device code pays nothing. With several devices (several GPUs, a TPU
slice, `XLA_FLAGS=--xla_force_host_platform_device_count=N` on a CPU, or
several processes after `jax.distributed.initialize`) a batch is split along
its leading axis over the mesh and the parameters are replicated; `jax.jit`
then partitions the computation and inserts the gradient all-reduce itself
(GSPMD), so the training step is unchanged code.

Policy for a batch whose leading axis does not divide by the number of
devices: it is replicated instead of split (same numbers, no speed-up for that
batch), because XLA requires equal shards.

Several processes (after `jax.distributed.initialize`, one controller per
host): the mesh spans every process's devices, and arrays are assembled with
`jax.make_array_from_process_local_data`. By default every process passes
the same global batch and each keeps only the rows of its own devices (the
simplest way to get the same numbers as one process); with
`process_local=True` each process passes only its own rows (`n / process_count`
of them, e.g. from its own data loader) and the global batch is their
concatenation in process order.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

__all__ = ["DATA_AXIS", "constrain_batch", "data_mesh", "replicate", "shard_batch"]

DATA_AXIS = "data"


@functools.lru_cache(maxsize=8)
def _mesh_of(devices: tuple) -> Mesh:
    return Mesh(np.array(devices), (DATA_AXIS,))


def data_mesh(mesh: Mesh | None = None) -> Mesh | None:
    """The mesh to spread data over: `mesh` if given, else all devices, else None (one device)."""
    if mesh is not None:
        if not isinstance(mesh, Mesh):
            kind = type(mesh).__name__
            raise TypeError(f"`mesh` must be a jax.sharding.Mesh or None; got a {kind}.")
        return mesh
    if jax.device_count() == 1:
        return None
    return _mesh_of(tuple(jax.devices()))


def _batch_sharding(mesh: Mesh, shape: tuple) -> NamedSharding:
    size = mesh.shape[mesh.axis_names[0]]
    if len(shape) >= 1 and shape[0] % size == 0:
        return NamedSharding(mesh, P(mesh.axis_names[0]))
    return NamedSharding(mesh, P())


def _place(x: Any, sharding: NamedSharding, global_shape: tuple | None = None) -> jax.Array:
    """`x` laid out by `sharding`; across processes via `make_array_from_process_local_data`."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        return x  # already a global array: leave it where it is
    if jax.process_count() == 1:
        return jax.device_put(x, sharding)
    if isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
        data = _place(jax.random.key_data(x), sharding, global_shape and global_shape + (2,))
        return jax.random.wrap_key_data(data, impl=jax.random.key_impl(x))
    x = np.asarray(x)
    shape = x.shape if global_shape is None else global_shape
    return jax.make_array_from_process_local_data(sharding, x, shape)


def shard_batch(batch: Any, mesh: Mesh | None, *, process_local: bool = False) -> Any:
    """Split every leaf of `batch` along its leading axis over `mesh` (identity if None).

    Args:
      batch: a pytree of arrays with a common leading (example) axis.
      mesh: from `data_mesh()`; None means one device (nothing is moved).
      process_local: with several processes, each passes only its own rows
        (see the module docstring); by default every process passes the
        whole batch.

    Returns:
      the batch as global arrays split over the mesh's first axis (leaves
      whose leading axis does not divide by the mesh size are replicated).
    """
    if mesh is None:
        return batch
    procs = jax.process_count() if process_local else 1

    def leaf(x: Any) -> jax.Array:
        shape = (np.shape(x)[0] * procs, *np.shape(x)[1:]) if np.ndim(x) else ()
        sharding = _batch_sharding(mesh, shape)
        if procs > 1 and sharding.spec == P():
            raise ValueError(
                f"shard_batch(process_local=True): the global batch of {shape[0]} rows "
                f"({np.shape(x)[0]} per process) does not divide over the mesh's "
                f"{mesh.size} devices; use a per-process batch divisible by the number "
                "of local devices."
            )
        return _place(x, sharding, shape if procs > 1 else None)

    return jax.tree.map(leaf, batch)


def replicate(tree: Any, mesh: Mesh | None) -> Any:
    """Place a full copy of every leaf of `tree` on every device of `mesh` (identity if None).

    With several processes, every process must pass the same values.
    """
    if mesh is None:
        return tree
    sharding = NamedSharding(mesh, P())
    return jax.tree.map(lambda x: _place(x, sharding), tree)


def constrain_batch(batch: Any, mesh: Mesh | None) -> Any:
    """Inside traced code: ask XLA to split every leaf of `batch` over `mesh` (identity if None)."""
    if mesh is None:
        return batch
    return jax.tree.map(
        lambda x: jax.lax.with_sharding_constraint(x, _batch_sharding(mesh, np.shape(x))), batch
    )
