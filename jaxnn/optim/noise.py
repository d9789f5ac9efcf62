r"""Annealed Gaussian gradient noise (`add_noise`), the building block of `noisy_sgd`.

Same conventions as `jaxnn.optim.transforms`; the draws are bit for bit
optax's for the same key.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxnn.optim._checks import _check_hyperparam, _check_state
from jaxnn.optim._tree import _map
from jaxnn.optim.base import Optimizer, _safe_increment

__all__ = ["AddNoiseState", "add_noise"]


class AddNoiseState(NamedTuple):
    """State of `add_noise`."""

    # shape (), int32: steps taken t - 1
    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count (optax's name)
    rng_key: jax.Array  # shape (), typed PRNG key: split once per step


def _as_typed_key(key: Any) -> jax.Array:
    """An int seed, a typed key or a raw uint32 key -> a typed key (same bits)."""
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key
    if hasattr(key, "shape") and getattr(key, "ndim", 0) == 1:
        return jax.random.wrap_key_data(jnp.asarray(key, jnp.uint32))
    return jax.random.key(key)


def add_noise(eta: Any, gamma: Any, key: Any = None) -> Optimizer:
    r"""Add annealed Gaussian noise (Neelakantan et al., 2015).

    .. math::

        u_t = g_t + \sigma_t\,\xi_t, \qquad \sigma_t^2 = \eta / t^{\gamma},
        \qquad \xi_t \sim \mathcal N(0, I).

    Bit for bit optax's draw: each step splits the state key into
    ``(next_key, sample_key)``, splits ``sample_key`` into one key per leaf
    (in ``jax.tree.leaves`` order) and draws ``jax.random.normal`` with the
    leaf's shape and dtype.

    Args:
      eta: base variance :math:`\eta \ge 0`.
      gamma: annealing exponent :math:`\gamma`.
      key: a typed key (``jax.random.key``), a raw ``uint32[2]`` key, or an int
        seed (``jax.random.key(seed)``, as optax). Required: randomness in
        jaxnn is explicit (optax warns and falls back to seed 0).

    Raises:
      ValueError: if ``key`` is missing or a concrete ``eta`` is negative.
    """
    if key is None:
        raise ValueError(
            "add_noise draws random numbers and needs a key: pass key=jax.random.key(seed) "
            "or an int seed."
        )
    _check_hyperparam("eta", eta)
    _check_hyperparam("gamma", gamma, low=None)

    def init(params):
        del params
        return AddNoiseState(count=jnp.zeros([], jnp.int32), rng_key=_as_typed_key(key))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _check_state(state, AddNoiseState, "add_noise")
        count = _safe_increment(state.count)
        std = jnp.asarray(jnp.sqrt(eta / count**gamma))
        rng_key, sample_key = jax.random.split(state.rng_key)
        treedef = jax.tree.structure(updates)
        keys = jax.tree.unflatten(treedef, jax.random.split(sample_key, treedef.num_leaves))
        noise = jax.tree.map(lambda g, k: jax.random.normal(k, g.shape, g.dtype), updates, keys)
        updates = _map(lambda g, n: g + std * n, updates, noise)
        return updates, AddNoiseState(count=count, rng_key=rng_key)

    return Optimizer(init, update)
