"""Inverted dropout."""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp

from jaxnn.layers._checks import _check_empty, _check_float, _input_shape
from jaxnn.layers._protocol import Layer


def Dropout(rate: float | jax.Array) -> Layer:
    """Inverted dropout: drops each entry with probability `rate` at train time.

    Math: with `keep = 1 - rate` and `m ~ Bernoulli(keep)` elementwise,
    `y = m * x / keep` when `train=True`, so `E[y] = x`; `y = x` when
    `train=False`. `rate=1` gives zeros.

    Args:
        rate: probability of **dropping** an entry, in `[0, 1]` (number or
            traced scalar).

    Returns:
        A parameter-free `Layer`; its `apply` needs `key` when `train=True`.
    """
    name = f"Dropout(rate={rate})"
    if isinstance(rate, numbers.Real) and not 0 <= rate <= 1:
        raise ValueError(f"{name}: rate is the probability of dropping and must be in [0, 1].")

    def init(key, input_shape):
        return _input_shape(name, input_shape), (), ()

    def apply(params, state, x, *, key=None, train=False):
        _check_empty(name, params)
        x = _check_float(name, x)
        if not train:
            return x, state
        if key is None:
            raise ValueError(
                f"{name} draws a random mask when train=True and needs a PRNG key: call "
                f"apply(params, state, x, key=jax.random.key(...), train=True)."
            )
        keep = 1 - jnp.asarray(rate, x.dtype)
        mask = jax.random.bernoulli(key, keep, x.shape)
        return jnp.where(mask, x / jnp.where(keep > 0, keep, 1), 0).astype(x.dtype), state

    return Layer(init, apply)
