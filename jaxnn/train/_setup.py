"""The fixed ingredients of a `fit` call (`prepare`) and the run it starts or resumes (`start`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from jaxnn import _devices
from jaxnn.train import _callbacks
from jaxnn.train._batches import Arrays, Batches, as_data, check_reiterable
from jaxnn.train._checkpoint import Checkpointer, fingerprint
from jaxnn.train._checks import check_batch_size, check_finite, check_int
from jaxnn.train._guard import guarded_step_for
from jaxnn.train._loss import default_loss
from jaxnn.train._result import Run
from jaxnn.train._state import init_train_state


class Setup(NamedTuple):
    """The fixed ingredients of one `fit` call."""

    model: Any  # the layer
    loss: Callable  # loss(outputs, targets)
    train: Arrays | Batches  # training data
    val: Arrays | Batches | None  # validation data
    batch_size: int | None  # minibatch size (None: the iterable's batches)
    step_fn: Callable  # the guarded, jitted step
    mesh: Mesh | None  # data mesh, None on one device
    callbacks: tuple  # callables taking a CallbackInfo
    patience: int | None  # early-stopping patience
    eval_batch_size: int | None  # batch size for validation
    epochs: int  # epochs of the whole run
    checkpointer: Checkpointer | None  # None: no checkpoints
    checkpoint_every: int  # epochs between checkpoints
    data_key: jax.Array  # key of the epochs' shuffles


def _check_data(data: Any, batch_size: Any, name: str) -> tuple[Arrays | Batches, int | None]:
    source = as_data(data, name)
    if isinstance(source, Batches):
        check_reiterable(source)
        return source, None if batch_size is None else check_int(
            batch_size, "batch_size", minimum=1
        )
    if batch_size is None:
        raise TypeError("`batch_size` is required when `data` holds arrays (x, y).")
    check_finite(source.x, f"The training inputs x of `{name}`")
    check_finite(source.y, f"The training targets y of `{name}`")
    return source, check_batch_size(batch_size, source.n)


def _check_val(val_data: Any, patience: Any, eval_batch_size: Any) -> Arrays | Batches | None:
    if patience is not None and val_data is None:
        raise ValueError("`patience` (early stopping) needs `val_data` to monitor; pass both.")
    if patience is not None:
        check_int(patience, "patience", minimum=1)
    if eval_batch_size is not None:
        check_int(eval_batch_size, "eval_batch_size", minimum=1)
    if val_data is None:
        return None
    val = as_data(val_data, "val_data")
    if isinstance(val, Arrays):
        check_finite(val.x, "The validation inputs x of `val_data`")
    else:
        check_reiterable(val)
    return val


def prepare(model: Any, optimizer: Any, data: Any, key: jax.Array, kw: dict) -> Setup:
    """Check `fit`'s arguments (before anything compiles) and build its `Setup`."""
    train, batch_size = _check_data(data, kw["batch_size"], "data")
    epochs = kw["epochs"]
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"`epochs` must be a non-negative Python int, got {epochs!r}.")
    val = _check_val(kw["val_data"], kw["patience"], kw["eval_batch_size"])
    every = kw["checkpoint_every"]
    every = 1 if every is None else check_int(every, "checkpoint_every", minimum=1)
    directory = kw["checkpoint_dir"]
    loss = default_loss(kw["loss"])
    data_key, _ = jax.random.split(key)
    return Setup(
        model=model, loss=loss, train=train, val=val, batch_size=batch_size,
        step_fn=guarded_step_for(model, loss, kw["penalty"], optimizer),
        mesh=_devices.data_mesh(kw["mesh"]),
        callbacks=_callbacks.check_callbacks(kw["callbacks"]),
        patience=kw["patience"], eval_batch_size=kw["eval_batch_size"], epochs=int(epochs),
        checkpointer=None if directory is None else Checkpointer(directory),
        checkpoint_every=every, data_key=data_key,
    )  # fmt: skip


def _key_list(key: jax.Array) -> list:
    is_typed = jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
    return np.asarray(jax.random.key_data(key) if is_typed else key).tolist()


def start(setup: Setup, params: Any, optimizer: Any, key: jax.Array, model_state: Any) -> Run:
    """A fresh run, or the newest checkpoint's (refused if it is another run's)."""
    _, train_key = jax.random.split(key)
    state = _devices.replicate(
        init_train_state(params, optimizer, train_key, model_state), setup.mesh
    )
    run = Run(state=state, ok=jnp.asarray(True))
    n = setup.train.n if isinstance(setup.train, Arrays) else None
    config = {"batch_size": setup.batch_size, "num_examples": n, "key": _key_list(key)}
    run.fingerprint = fingerprint(run.arrays()["state"], **config)
    ckpt = setup.checkpointer
    if ckpt is not None and ckpt.latest() is not None:
        arrays, meta = ckpt.restore(run.arrays(), run.fingerprint)
        run.load(arrays, meta)
        run.start_step = len(run.history["loss"])
    return run
