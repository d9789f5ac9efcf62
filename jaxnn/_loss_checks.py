"""Argument checks and reductions shared by the losses of ``jaxnn.losses``.

Shapes and dtypes are checked in Python (at trace time under ``jit``); values
(class ids, ``label_smoothing``, Huber's ``delta``) only when they are concrete,
since a tracer has no value while tracing.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(values: jax.Array, reduction: str) -> jax.Array:
    if reduction == "mean":
        return jnp.mean(values)
    if reduction == "sum":
        return jnp.sum(values)
    return values


def _check_reduction(reduction, name):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {_REDUCTIONS}; got {reduction!r}.")


def _floating(x: Any, what: str, name: str) -> jax.Array:
    """Convert `x` to an array and require a floating-point dtype."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(
            f"{name}: {what} must have a floating-point dtype; got {x.dtype} with shape "
            f"{x.shape}. Cast them first, e.g. `{what}.astype(jnp.float32)`."
        )
    return x


def _same_shape(predictions, targets, name, pred_name="predictions", tgt_name="targets"):
    if predictions.shape != targets.shape:
        raise ValueError(
            f"{name}: {tgt_name} must have the same shape as {pred_name}; got {pred_name} "
            f"{predictions.shape} ({predictions.dtype}) and {tgt_name} {targets.shape} "
            f"({targets.dtype}). Reshape one of them (e.g. `{tgt_name}.reshape"
            f"({pred_name}.shape)`) so that nothing broadcasts by accident."
        )


def _regression_inputs(predictions: Any, targets: Any, name: str) -> tuple[jax.Array, jax.Array]:
    predictions = _floating(predictions, "predictions", name)
    targets = jnp.asarray(targets)
    _same_shape(predictions, targets, name)
    if not jnp.issubdtype(targets.dtype, jnp.floating):
        targets = targets.astype(predictions.dtype)
    return predictions, targets


def _is_concrete(x):
    """True when `x` has a value now (a number or array, not a tracer under jit/vmap/grad)."""
    return not isinstance(x, jax.core.Tracer)


def _check_huber_delta(delta):
    if _is_concrete(delta):
        d = np.asarray(delta)
        if d.ndim or not np.isfinite(d) or not d > 0:
            raise ValueError(
                f"huber: delta must be a positive finite scalar (the residual size where the "
                f"loss turns from quadratic to linear), got {delta!r}."
            )


def _class_targets(logits: Any, labels: Any, name: str) -> tuple[jax.Array, jax.Array, bool]:
    """Validate labels against logits ``(..., C)``; return (labels, is_integer)."""
    logits = _floating(logits, "logits", name)
    labels = jnp.asarray(labels)
    if logits.ndim == 0:
        raise ValueError(
            f"{name}: logits must have a class axis last, shape (..., num_classes); "
            f"got a scalar ({logits.dtype})."
        )
    if jnp.issubdtype(labels.dtype, jnp.integer):
        if labels.shape != logits.shape[:-1]:
            raise ValueError(
                f"{name}: integer labels are class ids and must have shape "
                f"logits.shape[:-1] = {logits.shape[:-1]}; got labels {labels.shape} "
                f"({labels.dtype}) for logits {logits.shape} ({logits.dtype})."
            )
        return logits, labels, True
    if labels.ndim != logits.ndim:
        raise ValueError(
            f"{name}: floating-point labels are one-hot/probability targets and must "
            f"have the same ndim and shape as logits {logits.shape}; got labels "
            f"{labels.shape} ({labels.dtype}). If they are class ids, cast them to an "
            f"integer dtype (`labels.astype(jnp.int32)`)."
        )
    if labels.shape != logits.shape:
        raise ValueError(
            f"{name}: one-hot/probability labels must have the logits' shape "
            f"{logits.shape} (num_classes = {logits.shape[-1]}); got labels "
            f"{labels.shape} ({labels.dtype})."
        )
    return logits, labels.astype(logits.dtype), False


def _check_label_range(labels, num_classes, name):
    """Concrete integer labels must be class ids in ``[0, num_classes)``."""
    if not _is_concrete(labels) or labels.size == 0:
        return
    ids = np.asarray(labels)
    bad = np.flatnonzero((ids < 0) | (ids >= num_classes))
    if bad.size:
        where = np.unravel_index(bad[0], ids.shape)
        raise ValueError(
            f"{name}: integer labels are class ids in [0, {num_classes}) (logits have "
            f"{num_classes} classes on the last axis), but {bad.size} of {ids.size} labels "
            f"are outside that range: min {ids.min()}, max {ids.max()}, e.g. "
            f"labels[{', '.join(str(int(i)) for i in where)}] = {ids[where]}."
        )


def _check_smoothing(label_smoothing, name):
    if _is_concrete(label_smoothing):
        a = np.asarray(label_smoothing)
        if a.ndim or not 0 <= a < 1:
            raise ValueError(
                f"{name}: label_smoothing is the probability mass spread uniformly over the "
                f"classes and must be a scalar in [0, 1), got {label_smoothing!r}."
            )
