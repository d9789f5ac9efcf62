"""Bad inputs to `jaxnn.optim`: one row each (collected by tests/test_bad_inputs.py)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

import jaxnn.optim as jo
from tests.bad_inputs._case import Case


def _update_with(opt, params, grads, state=None):
    state = opt.init(params) if state is None else state
    return opt.update(grads, state, params)


def _sgd_step_on_int_params():
    params = {"w": jnp.arange(3)}
    updates, _ = _update_with(jo.sgd(0.1), params, {"w": jnp.ones(3)})
    return jo.apply_updates(params, updates)


def _sgd_step_with_wrong_grad_shape():
    params = {"w": jnp.zeros(3)}
    updates, _ = _update_with(jo.sgd(0.1), params, {"w": jnp.ones(4)})
    return jo.apply_updates(params, updates)


_P = {"w": jnp.zeros(3)}
_G = {"w": jnp.ones(3)}

CASES = [
    Case(
        "optim-apply-updates-broadcasts",
        lambda: jo.apply_updates({"w": jnp.zeros((3, 1))}, {"w": jnp.ones(3)}),
        ValueError,
        ("['w']", "(3,)", "(3, 1)", "broadcast"),
    ),
    Case(
        "optim-apply-updates-int-params",
        lambda: jo.apply_updates({"n": jnp.arange(3)}, {"n": jnp.full(3, 0.5)}),
        TypeError,
        ("['n']", "int32", "float32", "truncate"),
    ),
    Case("optim-sgd-int-params", _sgd_step_on_int_params, TypeError, ("['w']", "int32")),
    Case(
        "optim-adam-int-params",
        lambda: jo.adam(1e-3).init({"n": jnp.arange(3)}),
        TypeError,
        ("scale_by_adam", "['n']", "int32", "floating-point"),
    ),
    Case(
        "optim-momentum-grad-shape",
        lambda: _update_with(jo.momentum(0.1), _P, {"w": jnp.ones(4)}),
        ValueError,
        ("['w']", "(4,)", "(3,)", "shape"),
    ),
    Case(
        "optim-adam-grad-shape",
        lambda: _update_with(jo.adam(0.1), _P, {"w": jnp.ones(4)}),
        ValueError,
        ("['w']", "(4,)", "(3,)"),
    ),
    Case("optim-sgd-grad-shape", _sgd_step_with_wrong_grad_shape, ValueError, ("(4,)", "(3,)")),
    Case("optim-lr-inf", lambda: jo.sgd(float("inf")), ValueError, ("learning_rate", "inf")),
    Case("optim-lr-nan", lambda: jo.adam(float("nan")), ValueError, ("learning_rate", "nan")),
    Case(
        "optim-lr-array",
        lambda: jo.sgd(jnp.full(3, 0.1)),
        ValueError,
        ("learning_rate", "scalar", "(3,)"),
    ),
    Case(
        "optim-lr-numpy-array",
        lambda: jo.adam(np.array([1e-3, 1e-2])),
        ValueError,
        ("learning_rate", "(2,)"),
    ),
    Case("optim-lr-string", lambda: jo.sgd("0.1"), TypeError, ("learning_rate", "str", "'0.1'")),
    Case("optim-b1-string", lambda: jo.adam(1e-3, b1="0.9"), TypeError, ("b1", "str")),
    Case(
        "optim-weight-decay-inf",
        lambda: jo.adamw(1e-3, weight_decay=float("inf")),
        ValueError,
        ("weight_decay", "inf"),
    ),
    Case(
        "optim-adam-given-sgd-state",
        lambda: _update_with(jo.adam(0.1), _P, _G, jo.sgd(0.1, momentum=0.9).init(_P)),
        TypeError,
        ("adam", "ScaleByAdamState", "TraceState", "init"),
    ),
    Case(
        "optim-momentum-given-adam-state",
        lambda: _update_with(jo.momentum(0.1), _P, _G, jo.adam(0.1).init(_P)),
        TypeError,
        ("sgd", "TraceState", "ScaleByAdamState"),  # momentum(lr) is sgd(lr, momentum=0.9)
    ),
    Case(
        "optim-adamw-given-adam-state",
        lambda: _update_with(jo.adamw(0.1), _P, _G, jo.adam(0.1).init(_P)),
        ValueError,
        ("adamw", "state tuple of 3 entries", "a tuple of 2"),
    ),
    Case(
        "optim-inject-given-adam-state",
        lambda: _update_with(jo.inject_hyperparams(jo.adam)(0.1), _P, _G, jo.adam(0.1).init(_P)),
        TypeError,
        ("inject_hyperparams", "InjectHyperparamsState", "tuple"),
    ),
    Case(
        "optim-chain-given-non-optimizer",
        lambda: jo.chain(jo.scale(0.1), 0.5),
        TypeError,
        ("init", "update", "float"),
    ),
]
