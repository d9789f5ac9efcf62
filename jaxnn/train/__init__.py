"""Training: a jit-compiled step, a minibatch loop with safeguards, and a pure scan.

Three ways to train, from most to least Python:

* `fit` -- epochs of shuffled minibatches (`jaxnn.data.batches`) or of your
  own re-iterable of batches, driven from Python, with validation each
  epoch, early stopping, a progress bar, a guard against non-finite losses,
  checkpoints to resume an interrupted run, and callbacks (`CSVLogger`,
  `JSONLogger`). For interactive work and scripts.
* `train_scan` -- the same update rule as one pure function on `lax.scan`
  (minibatches drawn by a fresh permutation per epoch from the key, remainder
  dropped), resumable in segments from a saved `TrainState`. No Python side
  effects, so `jax.vmap` over keys and hyperparameters trains many models in
  one call.
* `sweep` -- a grid of hyperparameters x seeds of `train_scan` runs (or any
  `run_fn(**point) -> pytree`) as one compiled, chunked, vmapped program,
  sharded over all devices (the grid engine of `jaxnn/_engine.py`).
* `optimize` -- full-batch, deterministic objectives `loss_fn(params) -> scalar`
  (the 2-D test functions of `jaxnn.objectives`), returning the trajectory.

Conventions:

* The canonical loss function is
  `loss_fn(params, model_state, batch, key) -> (loss, new_model_state)`;
  `supervised_loss(model)` builds one from a layer and `stateless(f)` wraps
  `f(params, batch) -> loss`.
* An optimizer is any `(init, update)` pair with optax's protocol
  (`jaxnn.optim` or optax itself); `update` receives `params` as its third
  argument so that weight decay works, and optimizers that take optax's
  extra arguments (`optax.GradientTransformationExtraArgs`) also receive
  `value`, `grad` and `value_fn`.
* One step with learning signal `g_t = grad L(theta_t; B_t, k_t)` is:

```python
u_t, s_{t+1} = update(g_t, s_t, theta_t)
theta_{t+1}  = theta_t + u_t
```

  and reports `loss = L(theta_t; B_t, k_t)` (the loss *before* the update)
  and `grad_norm = ||g_t||_2` (global norm over all leaves).
* The key in `TrainState` is split once per step: `key, k_t = split(key)`.
* With several devices, `fit` and `train_scan` split each batch over a data
  mesh and replicate the state (see `jaxnn._devices`).

Layout: one concept per private module (`_state`, `_loss`, `_step`,
`_evaluate`, `_scan`, `_sweep`, `_optimize`, `_fit`, `_checkpoint`, `_callbacks`,
`_batches`); this file is the public face.
"""

from jaxnn.train._callbacks import Callback, CallbackInfo, CSVLogger, JSONLogger
from jaxnn.train._evaluate import evaluate
from jaxnn.train._fit import fit
from jaxnn.train._loss import stateless, supervised_loss
from jaxnn.train._optimize import optimize
from jaxnn.train._result import FitResult
from jaxnn.train._scan import train_scan
from jaxnn.train._state import TrainState, init_train_state
from jaxnn.train._step import global_norm, make_train_step
from jaxnn.train._sweep import sweep, sweep_bytes_per_run, sweep_chunk_size
from jaxnn.train._types import Batch, LossFn, PyTree

__all__ = [
    "Batch",
    "CSVLogger",
    "Callback",
    "CallbackInfo",
    "FitResult",
    "JSONLogger",
    "LossFn",
    "PyTree",
    "TrainState",
    "evaluate",
    "fit",
    "global_norm",
    "init_train_state",
    "make_train_step",
    "optimize",
    "stateless",
    "supervised_loss",
    "sweep",
    "sweep_bytes_per_run",
    "sweep_chunk_size",
    "train_scan",
]
