"""Bad input to the landscape core (directions, trajectories, dataset losses) and the adapters."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxnn import adapters, layers
from jaxnn import landscape as L
from tests.bad_inputs._case import Case

_P = {"w": jnp.ones((3, 2)), "b": jnp.ones(2)}
_TRAJ = [{"a": jnp.full((2,), float(i)), "b": jnp.ones(3) * i**2} for i in range(4)]
_XY = (jnp.ones((6, 2)), jnp.ones((6, 3)))
_MODEL = layers.Dense(3)
_MSE = lambda p, t: jnp.mean((p - t) ** 2)


def _key():
    return jax.random.key(0)


CASES = [
    Case(
        "lscore-filter-axis-out-of-range",
        lambda: L.random_direction(_key(), _P, filter_axis=2),
        ValueError,
        ("filter_axis['w']", "is 2", "shape (3, 2)", "[-2, 2)"),
    ),
    Case(
        "lscore-filter-axis-wrong-tree",
        lambda: L.normalize_direction(_P, _P, filter_axis={"w": 0}),
        ValueError,
        ("filter_axis", "tree structure of params"),
    ),
    Case(
        "lscore-filter-axis-not-int",
        lambda: L.random_direction(_key(), _P, filter_axis={"w": 0, "b": 1.5}),
        TypeError,
        ("filter_axis['b']", "python int", "1.5"),
    ),
    Case(
        "lscore-filter-axis-string",
        lambda: L.random_direction(_key(), _P, filter_axis="last"),
        TypeError,
        ("filter_axis", "pytree of ints"),
    ),
    Case(
        "lscore-norm-unknown",
        lambda: L.normalize_direction(_P, _P, norm="unit"),
        ValueError,
        ("norm must be one of", "'unit'"),
    ),
    Case(
        "lscore-pca-k-too-large",
        lambda: L.pca_directions(_TRAJ, k=9),
        ValueError,
        ("k=9", "min(4, 5)"),
    ),
    Case(
        "lscore-bn-mode-unknown",
        lambda: L.model_loss(_MODEL, (), _XY, _MSE, bn_mode="eval"),
        ValueError,
        ("bn_mode", "'running'", "'batch'", "'eval'"),
    ),
    Case(
        "lscore-model-loss-no-apply",
        lambda: L.model_loss(lambda x: x, (), _XY, _MSE),
        TypeError,
        ("model must have an apply", "function"),
    ),
    Case(
        "lscore-dataset-loss-mesh-type",
        lambda: L.dataset_loss(lambda p, b: jnp.mean(b[0]), _XY, mesh="data"),
        TypeError,
        ("mesh", "jax.sharding.Mesh", "str"),
    ),
    Case(
        "lscore-from-flax-not-a-module",
        lambda: adapters.from_flax_linen(_MODEL, {"params": {}}),
        TypeError,
        ("flax.linen.Module", "Layer"),
    ),
    Case(
        "lscore-from-flax-no-params",
        lambda: adapters.from_flax_linen(_flax_dense(), {"batch_stats": {}}),
        ValueError,
        ("'params' collection", "batch_stats"),
    ),
    Case(
        "lscore-from-flax-train-kwarg",
        lambda: adapters.from_flax_linen(_flax_dense(), {"params": {}}, train_kwarg=3),
        TypeError,
        ("train_kwarg", "3"),
    ),
    Case(
        "lscore-from-nnx-not-a-module",
        lambda: adapters.from_nnx(_MODEL),
        TypeError,
        ("flax.nnx.Module", "Layer"),
    ),
    Case(
        "lscore-from-equinox-not-a-module",
        lambda: adapters.from_equinox(_MODEL),
        TypeError,
        ("equinox.Module", "Layer"),
    ),
    Case(
        "lscore-from-equinox-bad-state",
        lambda: adapters.from_equinox(_eqx_linear(), state={"mean": 0}),
        TypeError,
        ("eqx.nn.State", "dict"),
    ),
    Case(
        "lscore-to-flax-bad-state",
        lambda: adapters.to_flax_linen({}, ()),
        TypeError,
        ("state", "dict of collections", "tuple"),
    ),
]


def _flax_dense():
    import flax.linen as nn

    return nn.Dense(2)


def _eqx_linear():
    import equinox as eqx

    return eqx.nn.Linear(2, 2, key=jax.random.key(0))
