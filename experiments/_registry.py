"""The ordered list of experiments, in the gallery's order."""

from __future__ import annotations

import importlib
from types import ModuleType

EXPERIMENTS: tuple[str, ...] = (
    "linear_collapse",
    "activations",
    "softmax_temperature",
    "universal_approximation",
    "loss_functions",
    "numerical_gradient",
    "backprop_circuit",
    "gradient_descent_lr",
    "batch_vs_minibatch",
    "optimizer_race",
    "nesterov_lookahead",
    "adagrad_vs_rmsprop",
    "adam_anatomy",
    "lr_schedules",
    "exponential_decay",
    "saddle_point",
    "gradient_clipping",
    "batchnorm",
    "initialization",
    "vanishing_gradients",
    "under_overfitting",
    "regularization",
    "filter_normalized_landscape",
    "sharp_vs_flat",
)


def names() -> tuple[str, ...]:
    """Names of the experiments whose module exists, in gallery order."""
    return tuple(n for n in EXPERIMENTS if importlib.util.find_spec(f"experiments.{n}") is not None)


def get(name: str) -> ModuleType:
    """Import the module of experiment `name` (a clear error for an unknown name)."""
    if name not in EXPERIMENTS:
        raise SystemExit(
            f"Unknown experiment {name!r}. Known experiments: {', '.join(EXPERIMENTS)}."
        )
    return importlib.import_module(f"experiments.{name}")
