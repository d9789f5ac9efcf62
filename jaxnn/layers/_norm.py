"""Normalization layers: BatchNorm, LayerNorm, RMSNorm.

Conventions (the numerics of `flax.linen`, checked against it in the tests):

* Features are the last axis; `scale` (init 1) and `bias` (init 0) have shape `(C,)`.
* `eps` is added to the variance **inside** the square root:
  `(x - mean) / sqrt(var + eps)` (flax, PyTorch).
* Variances are **biased** (divide by the number of reduced entries, not
  `n - 1`), both for normalizing and for BatchNorm's running variance (flax;
  PyTorch stores the unbiased one). They are computed in two passes,
  `mean((x - mean(x))^2)`, which equals flax with `use_fast_variance=False`
  exactly and flax's default `E[x^2] - E[x]^2` up to rounding, without its
  cancellation for inputs with a large mean.
* Statistics are computed in at least float32 (half-precision inputs are promoted).
* Parameters (and BatchNorm's running statistics) have the layer's `dtype`,
  float32 by default also under x64; the output dtype is JAX's promotion of the
  input's (at least float32) and the parameters' dtypes.
* BatchNorm momentum is flax's: `running = momentum * running + (1 - momentum) * batch`
  (so `momentum=0.9` is PyTorch's `momentum=0.1`).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from jaxnn.layers._checks import _broadcast, _check_float, _check_tree, _known, _param_dtype
from jaxnn.layers._protocol import Layer


def _stats_dtype(x):
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def _moments(x, axes):
    """Mean and biased variance over `axes` (two-pass)."""
    mean = jnp.mean(x, axis=axes, keepdims=True)
    var = jnp.mean(jnp.square(x - mean), axis=axes, keepdims=True)
    return mean, var


def _norm_init(name, dtype, with_bias=True, with_state=False):
    def init(key, input_shape):
        what = "the number of features (last dimension)"
        shape = _known(name, input_shape, [-1], what, layout="(batch, ..., features)")
        c = shape[-1]
        ones, zeros = jnp.ones((c,), dtype), jnp.zeros((c,), dtype)
        params = {"scale": ones} | ({"bias": zeros} if with_bias else {})
        state = {"mean": zeros, "var": ones} if with_state else ()
        return shape, params, state

    return init


def BatchNorm(
    momentum: float | jax.Array = 0.9, eps: float | jax.Array = 1e-5, *, dtype: Any = jnp.float32
) -> Layer:
    """Batch normalization over every axis but the last (features).

    Math: `y = (x - mu) / sqrt(var + eps) * scale + bias`. With `train=True`,
    `mu` and `var` are the (biased) statistics of the batch, over all axes but
    the last, and the returned state is
    `mean <- momentum * mean + (1 - momentum) * mu`,
    `var <- momentum * var + (1 - momentum) * var_batch`. With `train=False`
    the running statistics are used and the state is returned unchanged.

    Args:
        momentum: decay of the running averages (flax convention; number or traced scalar).
        eps: added to the variance inside the square root.
        dtype: dtype of the parameters and running statistics (default float32).

    Returns:
        A `Layer` with params `{"scale": (C,), "bias": (C,)}` and state
        `{"mean": (C,), "var": (C,)}` (initially zeros and ones).
    """
    name = f"BatchNorm(momentum={momentum}, eps={eps})"
    dtype = _param_dtype(name, dtype)

    def apply(params, state, x, *, key=None, train=False):
        x = _check_float(name, x)
        c = x.shape[-1] if x.ndim else 0
        _check_tree(name, params, {"scale": (c,), "bias": (c,)})
        _check_tree(name, state, {"mean": (c,), "var": (c,)}, what="state")
        xs = _stats_dtype(x)
        if train:
            mean, var = _moments(xs, tuple(range(x.ndim - 1)))
            mean, var = mean.reshape(c), var.reshape(c)
            # Cast back so the state keeps its dtype (a stable carry for lax.scan).
            new_state = {
                k: (momentum * state[k] + (1 - momentum) * batch).astype(jnp.result_type(state[k]))
                for k, batch in (("mean", mean), ("var", var))
            }
        else:
            mean, var, new_state = state["mean"], state["var"], state
        mul = lax.rsqrt(_broadcast(var, x.ndim) + eps) * _broadcast(params["scale"], x.ndim)
        return (xs - _broadcast(mean, x.ndim)) * mul + _broadcast(params["bias"], x.ndim), new_state

    return Layer(_norm_init(name, dtype, with_state=True), apply)


def LayerNorm(eps: float | jax.Array = 1e-5, *, dtype: Any = jnp.float32) -> Layer:
    """Layer normalization over the last axis (features), per example.

    Math: `y = (x - mean(x)) / sqrt(var(x) + eps) * scale + bias`, statistics
    over the last axis (biased variance).

    Args:
        eps: added to the variance inside the square root (flax's default is 1e-6).
        dtype: dtype of the parameters (default float32).

    Returns:
        A `Layer` with params `{"scale": (C,), "bias": (C,)}` and state `()`.
    """
    name = f"LayerNorm(eps={eps})"
    dtype = _param_dtype(name, dtype)

    def apply(params, state, x, *, key=None, train=False):
        x = _check_float(name, x)
        c = x.shape[-1] if x.ndim else 0
        _check_tree(name, params, {"scale": (c,), "bias": (c,)})
        mean, var = _moments(_stats_dtype(x), -1)
        y = (x - mean) * lax.rsqrt(var + eps)
        return y * _broadcast(params["scale"], x.ndim) + _broadcast(params["bias"], x.ndim), state

    return Layer(_norm_init(name, dtype), apply)


def RMSNorm(eps: float | jax.Array = 1e-6, *, dtype: Any = jnp.float32) -> Layer:
    """Root-mean-square normalization over the last axis (Zhang & Sennrich 2019).

    Math: `y = x / sqrt(mean(x^2) + eps) * scale` (no centering, no bias).

    Args:
        eps: added to the mean square inside the square root.
        dtype: dtype of the parameters (default float32).

    Returns:
        A `Layer` with params `{"scale": (C,)}` and state `()`.
    """
    name = f"RMSNorm(eps={eps})"
    dtype = _param_dtype(name, dtype)

    def apply(params, state, x, *, key=None, train=False):
        x = _check_float(name, x)
        c = x.shape[-1] if x.ndim else 0
        _check_tree(name, params, {"scale": (c,)})
        ms = jnp.mean(jnp.square(_stats_dtype(x)), axis=-1, keepdims=True)
        return x * lax.rsqrt(ms + eps) * _broadcast(params["scale"], x.ndim), state

    return Layer(_norm_init(name, dtype, with_bias=False), apply)
