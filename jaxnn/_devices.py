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
"""

from __future__ import annotations

import functools
from typing import Any

import jax
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


def _batch_sharding(mesh: Mesh, x: Any) -> NamedSharding:
    size = mesh.shape[mesh.axis_names[0]]
    if np.ndim(x) >= 1 and np.shape(x)[0] % size == 0:
        return NamedSharding(mesh, P(mesh.axis_names[0]))
    return NamedSharding(mesh, P())


def shard_batch(batch: Any, mesh: Mesh | None) -> Any:
    """Split every leaf of `batch` along its leading axis over `mesh` (identity if None)."""
    if mesh is None:
        return batch
    return jax.tree.map(lambda x: jax.device_put(x, _batch_sharding(mesh, x)), batch)


def replicate(tree: Any, mesh: Mesh | None) -> Any:
    """Place a full copy of every leaf of `tree` on every device of `mesh` (identity if None)."""
    if mesh is None:
        return tree
    return jax.device_put(tree, NamedSharding(mesh, P()))


def constrain_batch(batch: Any, mesh: Mesh | None) -> Any:
    """Inside traced code: ask XLA to split every leaf of `batch` over `mesh` (identity if None)."""
    if mesh is None:
        return batch
    return jax.tree.map(
        lambda x: jax.lax.with_sharding_constraint(x, _batch_sharding(mesh, x)), batch
    )
