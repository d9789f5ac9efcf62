"""Activation layers: parameter-free, elementwise (Softmax: over the last axis)."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from jaxnn import activations
from jaxnn.layers._checks import _check_empty, _check_float, _input_shape
from jaxnn.layers._protocol import Layer


def _elementwise(name: str, fn: Callable[[jax.Array], jax.Array], float_only: bool = True) -> Layer:
    """A parameter-free layer computing `fn(x)`; the shape is unchanged."""

    def init(key, input_shape):
        return _input_shape(name, input_shape), (), ()

    def apply(params, state, x, *, key=None, train=False):
        _check_empty(name, params)
        x = _check_float(name, x) if float_only else jnp.asarray(x)
        return fn(x), state

    return Layer(init, apply)


Relu = _elementwise("Relu", activations.relu)
Sigmoid = _elementwise("Sigmoid", activations.sigmoid)
Tanh = _elementwise("Tanh", activations.tanh)
Gelu = _elementwise("Gelu", activations.gelu)  # exact (erf) form
Softmax = _elementwise("Softmax", activations.softmax)  # over the last axis


def LeakyRelu(alpha: float | jax.Array = 0.01) -> Layer:
    """Leaky ReLU layer: `x` where `x >= 0`, `alpha * x` elsewhere.

    Args:
        alpha: slope for negative inputs (number or traced scalar).

    Returns:
        A parameter-free `Layer`.
    """
    return _elementwise(f"LeakyRelu(alpha={alpha})", lambda x: activations.leaky_relu(x, alpha))
