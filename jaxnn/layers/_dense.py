"""The fully connected layer `Dense` and the `mlp` stack built from it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from jaxnn import initializers
from jaxnn.layers._activation import Relu
from jaxnn.layers._checks import _broadcast, _check_float, _check_tree, _known, _param_dtype
from jaxnn.layers._protocol import Layer, serial

Initializer = Callable[..., jax.Array]  # (key, shape, dtype) -> array


def Dense(
    out_dim: int,
    w_init: Initializer = initializers.he_normal(),
    b_init: Initializer = initializers.zeros,
    *,
    dtype: Any = jnp.float32,
) -> Layer:
    """Fully connected layer acting on the last axis.

    Math: `y = x @ w + b`, `w: (in, out_dim)`, `b: (out_dim,)`, `x: (..., in)`.
    The output dtype is JAX's promotion of the input's and the parameters'.

    Args:
        out_dim: number of output features.
        w_init: kernel initializer `(key, shape, dtype) -> array` (default He normal).
        b_init: bias initializer (default zeros).
        dtype: dtype of the parameters (default float32, also under x64).

    Returns:
        A `Layer` with params `{"w": (in, out_dim), "b": (out_dim,)}` and state `()`.
    """
    name = f"Dense({out_dim})"
    dtype = _param_dtype(name, dtype)

    def init(key, input_shape):
        what = "the number of input features (last dimension)"
        shape = _known(name, input_shape, [-1], what, layout="(batch, ..., features)")
        kw, kb = jax.random.split(key)
        w = w_init(kw, (shape[-1], out_dim), dtype)
        return (*shape[:-1], out_dim), {"w": w, "b": b_init(kb, (out_dim,), dtype)}, ()

    def apply(params, state, x, *, key=None, train=False):
        x = _check_float(name, x)
        _check_tree(name, params, {"w": (None, out_dim), "b": (out_dim,)})
        w, b = params["w"], params["b"]
        if x.ndim < 1 or x.shape[-1] != w.shape[0]:
            raise ValueError(
                f"{name} expects inputs whose last dimension is {w.shape[0]} (its kernel is "
                f"{w.shape}), but got an input of shape {x.shape}."
            )
        y = x @ w
        return y + _broadcast(b, y.ndim), state

    return Layer(init, apply)


def mlp(
    sizes: Sequence[int],
    activation: Layer = Relu,
    w_init: Initializer = initializers.he_normal(),
    b_init: Initializer = initializers.zeros,
    *,
    dtype: Any = jnp.float32,
) -> Layer:
    """Multi-layer perceptron: Dense layers with `activation` between them.

    `mlp([256, 256, 10])` is `serial(Dense(256), Relu, Dense(256), Relu, Dense(10))`
    (no activation after the last layer: it outputs logits).

    Args:
        sizes: output sizes of the Dense layers.
        activation: the `Layer` placed between consecutive Dense layers.
        w_init: the kernel initializer passed to every Dense layer.
        b_init: the bias initializer passed to every Dense layer.
        dtype: parameter dtype passed to every Dense layer.

    Returns:
        A `serial` `Layer`.
    """
    stack = []
    for i, size in enumerate(sizes):
        dense = Dense(size, w_init, b_init, dtype=dtype)
        stack += [dense] + ([activation] if i < len(sizes) - 1 else [])
    return serial(*stack)
