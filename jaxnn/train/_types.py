"""Type aliases shared by the training modules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

#: Any pytree of arrays (parameters, model state, optimizer state).
PyTree = Any
#: One minibatch: usually a tuple `(x, y)` of arrays with a common leading dimension.
Batch = Any
#: The canonical loss: `loss_fn(params, model_state, batch, key) -> (loss, new_model_state)`.
LossFn = Callable[[PyTree, PyTree, Batch, jax.Array], tuple[jax.Array, PyTree]]
