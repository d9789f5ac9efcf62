"""Bad input to sweep, the grid engine, data placement and the Hessian directions."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxnn import _devices, _engine, landscape
from jaxnn.train import sweep
from tests.bad_inputs._case import Case

_P = {"w": jnp.ones(3)}
_LOSS = lambda p: jnp.sum(p["w"] ** 2)  # noqa: E731

CASES = [
    Case(
        "scale_sweep_empty_grid",
        lambda: sweep(lambda lr: lr, {}),
        TypeError,
        ("grid", "non-empty dict"),
    ),
    Case(
        "scale_sweep_grid_not_dict",
        lambda: sweep(lambda lr: lr, [0.1]),
        TypeError,
        ("grid", "dict"),
    ),
    Case(
        "scale_sweep_values_2d",
        lambda: sweep(lambda lr: lr, {"lr": jnp.ones((2, 2))}),
        ValueError,
        ("grid['lr']", "1-d", "(2, 2)"),
    ),
    Case(
        "scale_sweep_values_empty",
        lambda: sweep(lambda lr: lr, {"lr": jnp.ones(0)}),
        ValueError,
        ("grid['lr']", "(0,)"),
    ),
    Case(
        "scale_sweep_name_not_an_argument",
        lambda: sweep(lambda lr: lr, {"rate": jnp.ones(2)}),
        TypeError,
        ("run_fn", "rate"),
    ),
    Case(
        "scale_sweep_key_not_str",
        lambda: sweep(lambda lr: lr, {1: jnp.ones(2)}),
        TypeError,
        ("grid keys", "1"),
    ),
    Case(
        "scale_sweep_chunk_size",
        lambda: sweep(lambda lr: lr, {"lr": jnp.ones(2)}, chunk_size=0),
        ValueError,
        ("chunk_size", "positive"),
    ),
    Case(
        "scale_sweep_run_fn_not_callable",
        lambda: sweep(3, {"lr": jnp.ones(2)}),
        TypeError,
        ("run_fn", "callable"),
    ),
    Case(
        "scale_map_points_ragged",
        lambda: _engine.map_points(lambda s, p: p, None, {"a": jnp.ones(3), "b": jnp.ones(4)}),
        ValueError,
        ("leading", "(3,)", "(4,)"),
    ),
    Case(
        "scale_data_mesh_not_a_mesh",
        lambda: _devices.data_mesh(jax.devices()),
        TypeError,
        ("mesh", "list"),
    ),
    Case(
        "scale_hessian_directions_k_too_large",
        lambda: landscape.hessian_directions(_LOSS, _P, jax.random.key(0), k=4),
        ValueError,
        ("k=4", "3 x 3"),
    ),
    Case(
        "scale_hessian_directions_norm",
        lambda: landscape.hessian_directions(_LOSS, _P, jax.random.key(0), norm="unit"),
        ValueError,
        ("norm", "'unit'"),
    ),
]
