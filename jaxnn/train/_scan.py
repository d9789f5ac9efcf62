"""`train_scan`: minibatch training as one pure function on `lax.scan`, resumable in segments."""

from __future__ import annotations

from typing import Any

import jax
from jax.sharding import Mesh

from jaxnn import _devices
from jaxnn._permutation import permutation
from jaxnn.train._checks import check_arrays, check_batch_size, check_finite, check_int
from jaxnn.train._state import TrainState, init_train_state
from jaxnn.train._step import raw_step
from jaxnn.train._types import LossFn, PyTree


def batch_indices(
    key: jax.Array, n: int, batch_size: int, num_steps: int, start: int = 0
) -> jax.Array:
    """Example indices `(num_steps, batch_size)` of the steps `start .. start + num_steps - 1`.

    Epoch `e` visits `permutation(split(key, E)[e], n)` cut into `n // batch_size`
    batches (remainder dropped). `split(key, E)[e]` does not depend on `E`
    (threefry's partitionable split), so a segment draws the same batches as
    the whole run.
    """
    steps_per_epoch = n // batch_size
    first_epoch = start // steps_per_epoch
    num_epochs = -(-(start + num_steps) // steps_per_epoch)
    keys = jax.random.split(key, num_epochs)[first_epoch:]
    perms = jax.vmap(lambda k: permutation(k, n))(keys)  # = jax.random.permutation, faster
    perms = perms[:, : steps_per_epoch * batch_size]
    flat = perms.reshape((num_epochs - first_epoch) * steps_per_epoch, batch_size)
    offset = start - first_epoch * steps_per_epoch
    return flat[offset : offset + num_steps]


def _start_step(initial_state: TrainState | None) -> int:
    if initial_state is None:
        return 0
    if not isinstance(initial_state, TrainState):
        kind = type(initial_state).__name__
        raise TypeError(f"`initial_state` must be a TrainState (or None); got a {kind}.")
    if isinstance(initial_state.step, jax.core.Tracer):
        raise ValueError(
            "`initial_state.step` must be a concrete number to choose the segment's batches; "
            "call train_scan with a saved state outside jit and vmap."
        )
    return int(initial_state.step)


def _mesh_for(mesh: Mesh | None, params: PyTree) -> Mesh | None:
    """The data mesh; None under a transformation unless given explicitly."""
    traced = any(isinstance(p, jax.core.Tracer) for p in jax.tree.leaves(params))
    if mesh is None and traced:
        return None
    return _devices.data_mesh(mesh)


def _check_scan_args(data: Any, batch_size: Any, num_steps: Any) -> tuple[int, int, int]:
    n = check_arrays(data)
    batch_size = check_batch_size(batch_size, n)
    num_steps = check_int(num_steps, "num_steps", minimum=1)
    for i, a in enumerate(data):
        check_finite(a, f"`data[{i}]`")
    return n, batch_size, num_steps


def train_scan(
    loss_fn: LossFn,
    optimizer: Any,
    params: PyTree,
    data: tuple,
    *,
    key: jax.Array,
    num_steps: int,
    batch_size: int,
    model_state: PyTree = (),
    record_params: bool = False,
    initial_state: TrainState | None = None,
    mesh: Mesh | None = None,
) -> tuple[TrainState, dict]:
    """Train for `num_steps` minibatch steps as one pure function on `lax.scan`.

    With `n` examples and `E = ceil(num_steps / (n // batch_size))` epochs:
    `key` splits into `(k_data, k_train)`; epoch `e` visits the examples in the
    order `permutation(split(k_data, E)[e], n)`, cut into `n // batch_size`
    batches (the remainder dropped); `k_train` is the `TrainState` key split at
    each step exactly as in `make_train_step`.

    The function has no Python side effects and no control flow on values, so
    `jax.jit` it and `jax.vmap` it over `key`, `params`, or hyperparameters
    (build the optimizer inside the vmapped function):

    ```python
    def run(lr, key):
        return train_scan(loss_fn, optax.sgd(lr), params, (x, y), key=key,
                          num_steps=500, batch_size=32)
    states, hist = jax.jit(jax.vmap(run))(lrs, keys)   # hist["loss"]: (len(lrs), 500)
    ```

    **Resuming in segments.** Pass the `TrainState` a previous call returned
    as `initial_state`, with the same `key`, `data` and `batch_size`: the call
    runs steps `s .. s + num_steps - 1` (`s = initial_state.step`, which must
    be concrete) with the batches and keys of the uninterrupted run, so
    `num_steps = a + b` in one call and `a` then `b` from the saved state give
    the same result (save the state with any pytree checkpointer, e.g. orbax).
    `params` and `model_state` are then ignored (the state's are used).

    **Devices.** With several devices (and not under `jit`/`vmap`, unless
    `mesh` is given), each batch is split over a one-axis data `Mesh` of all
    devices and the state is replicated; XLA reduces the gradients. Results
    equal one device's within float32 reduction-order tolerance.

    A non-finite loss is not caught here (no side effects): it propagates;
    inspect the history with `jaxnn.diagnostics.first_nonfinite`. Non-finite
    entries in concrete `data` are refused up front.

    Args:
      loss_fn: canonical `loss_fn(params, model_state, batch, key)`; `batch` is
        a tuple of arrays like `data`, each with leading dimension `batch_size`.
      optimizer: any optax-protocol `(init, update)` pair; extra-args
        optimizers get `value`, `grad` and `value_fn` (see `make_train_step`).
      params: initial parameters.
      data: tuple of arrays with the same leading dimension (e.g. `(x, y)`).
      key: PRNG key (shuffling and the per-step keys).
      num_steps: the number of steps, a static Python int.
      batch_size: the minibatch size, a static Python int with `batch_size <= n`.
      model_state: initial model state.
      record_params: also return the parameters after every step (for
        trajectory plots, e.g. `jaxnn.landscape.pca_directions`). This stores
        `num_steps` copies of the parameters: `num_steps * P * itemsize` bytes
        for `P` parameters (1000 steps of a 100k-parameter float32 model take
        400 MB), times the batch size under `vmap`.
      initial_state: continue from this state (see above); None starts afresh.
      mesh: a `jax.sharding.Mesh` whose first axis splits the batch; None uses
        all devices when there are several.

    Returns:
      `(final TrainState, history)` with `history["loss"]` and
      `history["grad_norm"]` of shape `(num_steps,)` and, with `record_params`,
      `history["params"]`: a pytree like `params` whose leaves are stacked on a
      new leading axis of length `num_steps`, entry `t` holding the parameters
      after `t + 1` updates (entry `-1` is the final state's; unlike
      `optimize`, the starting point is not included).
    """
    n, batch_size, num_steps = _check_scan_args(data, batch_size, num_steps)
    start = _start_step(initial_state)
    mesh = _mesh_for(mesh, params)
    data = _devices.replicate(tuple(jax.numpy.asarray(a) for a in data), mesh)
    data_key, train_key = jax.random.split(key)
    indices = batch_indices(data_key, n, batch_size, num_steps, start)
    if initial_state is None:
        initial_state = init_train_state(params, optimizer, train_key, model_state)
    state = _devices.replicate(initial_state, mesh)
    step = raw_step(loss_fn, optimizer)

    def body(state, idx):
        batch = _devices.constrain_batch(tuple(a[idx] for a in data), mesh)
        state, metrics = step(state, batch)
        if record_params:
            metrics = {**metrics, "params": state.params}
        return state, metrics

    return jax.lax.scan(body, state, indices)
