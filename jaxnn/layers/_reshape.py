"""Layers that only move entries around: `Flatten` and `Identity`."""

from __future__ import annotations

import math

import jax.numpy as jnp

from jaxnn.layers._activation import _elementwise
from jaxnn.layers._checks import _check_empty, _input_shape, _known
from jaxnn.layers._protocol import Layer


def _flatten_init(key, input_shape):
    name = "Flatten"
    shape = _input_shape(name, input_shape)
    shape = _known(name, shape, range(1, len(shape)), "every non-batch size")
    return (shape[0], math.prod(shape[1:])), (), ()


def _flatten_apply(params, state, x, *, key=None, train=False):
    _check_empty("Flatten", params)
    x = jnp.asarray(x)
    return x.reshape(x.shape[0], -1), state


Flatten = Layer(_flatten_init, _flatten_apply)  # (N, d1, ..., dk) -> (N, d1 * ... * dk)
Identity = _elementwise("Identity", lambda x: x, float_only=False)  # any dtype
