"""jaxnn: a JAX library for optimization research.

Pure-function layers and losses differentiated with `jax.grad` and compiled
with `jax.jit`; optimizers as `(init, update)` pairs that match optax step for
step; loss-landscape slices and Hessian curvature computed with `vmap`;
offline datasets; and jit/scan training loops that vmap over seeds and
hyperparameters.

The public modules are re-exported here; `jaxnn.plotting` is imported on
demand only (it pulls in matplotlib).
"""

from jaxnn import (
    activations,
    adapters,
    data,
    diagnostics,
    gradcheck,
    initializers,
    landscape,
    layers,
    losses,
    objectives,
    optim,
    results,
    suite,
    timing,
    train,
    tuning,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "activations",
    "adapters",
    "data",
    "diagnostics",
    "gradcheck",
    "initializers",
    "landscape",
    "layers",
    "losses",
    "objectives",
    "optim",
    "results",
    "suite",
    "timing",
    "train",
    "tuning",
]
