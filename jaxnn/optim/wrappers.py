r"""Scheduled and inspectable hyperparameters: `inject_hyperparams`.

`inject_hyperparams(factory)(**hyperparams)` rebuilds `factory(**hyperparams)`
at every step from hyperparameters kept **in the optimizer state**, so they
can be scheduled, read (`state.hyperparams["learning_rate"]`) and changed
mid-run. It wraps any optax-protocol `(init, update)` pair — jaxnn's or
optax's — and matches `optax.inject_hyperparams` numerically. There is no
Python control flow on hyperparameter values, so it works under `jit`,
`lax.scan` and `vmap` (e.g. over the learning rate). optax's extra arguments
of `update` (`value`, `grad`, `value_fn`, ...) go to the inner optimizer and
to stateful schedules (`schedule(state, **extra_args)`,
`schedule.update(state, **extra_args)`). (`partition` lives in
`jaxnn.optim.partition`.)

Differences from optax 0.2.8 (state layout and corner cases; the numbers are otherwise the same):

* `InjectHyperparamsState` is `(count, hyperparams, hyperparams_states,
  inner_state)` as optax's `InjectStatefulHyperparamsState`, but
  `hyperparams_states` holds the states of `optax.schedules.StatefulSchedule`
  hyperparameters only: a plain schedule `step -> value` is evaluated at
  `count` and needs no state of its own (optax wraps it in a
  `WrappedSchedule` with its own copy of the count; same values).
* The dtype float hyperparameters are cast to is that of the parameters
  (the highest float dtype in the tree) or `hyperparam_dtype`; when `update`
  is called without `params` we take it from the gradients, where optax falls
  back to JAX's default float dtype (which would change the state's dtype
  between `init` and `update` for float32 parameters under x64).
* Numpy scalars (e.g. `np.float32(0.1)`) count as numeric hyperparameters.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnn.optim._checks import _check_state
from jaxnn.optim.base import Optimizer, PyTree, _safe_increment
from jaxnn.optim.combine import _as_optimizer

__all__ = ["InjectHyperparamsState", "inject_hyperparams"]


# ---------------------------------------------------------------------------
# inject_hyperparams
# ---------------------------------------------------------------------------


class InjectHyperparamsState(NamedTuple):
    """State of `inject_hyperparams`.

    Attributes:
      count: shape `()`, int32. Updates applied so far (saturates at the int32
        max); scheduled hyperparameters of the next update are `schedule(count)`.
      hyperparams: `{name: array}`, one entry per numeric or scheduled
        hyperparameter; float values are 0-d arrays of the hyperparameter dtype
        (see `inject_hyperparams`), others keep their own shape/dtype. After
        `init` it holds the values for step 0; after an update, the values that
        update used.
      hyperparams_states: `{name: schedule_state}` for the hyperparameters
        given as an `optax.schedules.StatefulSchedule` (empty when there are none).
      inner_state: the inner optimizer's state, `factory(**hyperparams).init(params)`.
    """

    # shape (), int32
    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count (optax's name)
    hyperparams: dict[str, jax.Array]  # name -> 0-d array (floats in the hyperparam dtype)
    hyperparams_states: dict[str, Any]  # name -> state of a stateful schedule
    inner_state: Any  # inner optimizer state (a pytree)


def _convert_floats(x: Any, dtype: Any) -> Any:
    """Cast float-like `x` to `dtype`; strongly typed JAX arrays and non-floats pass through."""
    if isinstance(x, jax.Array) and not getattr(x, "weak_type", False):
        return x
    current = x.dtype if hasattr(x, "dtype") else type(x)
    if jnp.issubdtype(current, jnp.floating):
        return jnp.asarray(x, dtype=dtype)
    return x


def _as_hyperparam(x: Any, dtype: Any) -> jax.Array:
    """A hyperparameter value as stored in the state: an array, floats cast to `dtype`."""
    return jnp.asarray(_convert_floats(x, dtype))


def _highest_dtype(tree: PyTree) -> Any:
    """The highest dtype among the leaves (JAX's default float for an empty tree)."""
    leaves = jax.tree.leaves(tree)
    if not leaves:
        return jnp.asarray([]).dtype
    dtypes = [jnp.asarray(x).dtype for x in leaves]
    return functools.reduce(lambda a, b: b if jnp.promote_types(a, b) == b else a, dtypes)


def inject_hyperparams(
    inner_factory: Callable[..., Optimizer],
    static_args: str | Iterable[str] = (),
    hyperparam_dtype: Any = None,
) -> Callable[..., Optimizer]:
    r"""Make an optimizer's hyperparameters part of its state, optionally scheduled.

    `inject_hyperparams(factory)(*args, **kwargs)` returns an optimizer that,
    at update :math:`t` (`t = state.count`, 0 for the first update), runs

    .. math::
        h_t = \{k: s_k(t) \text{ if } k \text{ is scheduled else state.hyperparams}[k]\},\qquad
        (u_t, \text{inner}_{t+1}) = \text{factory}(h_t).\text{update}(g_t, \text{inner}_t, \theta_t)

    and stores :math:`h_t` in `state.hyperparams`. Arguments are sorted like
    optax: names in `static_args`, `bool`\ s and non-numeric values are passed
    to `factory` unchanged; other callables are schedules `step -> value`;
    numbers and arrays are numeric hyperparameters kept as arrays in the state.

    Float hyperparameters are cast to `hyperparam_dtype`, or to the
    parameters' dtype when it is `None` (strongly typed JAX arrays, e.g. a
    traced learning rate in a vmap, keep their dtype), as optax does.

    **Changing a hyperparameter mid-run**: replace its value in the state, e.g.
    ``state.hyperparams["learning_rate"] = jnp.float32(1e-4)`` (the dict is
    mutable) or, functionally (also inside `jit`),
    ``state._replace(hyperparams={**state.hyperparams, "learning_rate": lr})``;
    the next update uses it, and it stays until replaced again. Keep the
    stored dtype and shape (a `lax.scan` carry must not change type).
    Scheduled hyperparameters are recomputed from their schedule at every
    update, so overriding them has no effect (as in optax).

    Args:
      inner_factory: a function returning an optimizer, e.g. `jaxnn.optim.adam`.
      static_args: name(s) of `inner_factory` arguments that are callables but
        not schedules (passed through unchanged).
      hyperparam_dtype: optional dtype for all float hyperparameters.

    Returns:
      A function with `inner_factory`'s signature (schedules allowed in place of
      numbers) returning an `Optimizer` whose state is `InjectHyperparamsState`.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxnn.optim.schedules import linear_schedule
      >>> import optax
      >>> opt = inject_hyperparams(optax.sgd)(learning_rate=linear_schedule(1.0, 0.0, 10))
      >>> state = opt.init(jnp.zeros(3))
      >>> updates, state = opt.update(jnp.ones(3), state)
      >>> updates, state = opt.update(jnp.ones(3), state)
      >>> round(float(state.hyperparams["learning_rate"]), 6)  # value used at step 1
      0.9
    """
    static = {static_args} if isinstance(static_args, str) else set(static_args)
    signature = inspect.signature(inner_factory)
    unknown = static - set(signature.parameters)
    if unknown:
        raise ValueError(
            f"`static_args` must name parameters of `inner_factory`, got {sorted(unknown)}; "
            f"its parameters are {list(signature.parameters)}."
        )

    @functools.wraps(inner_factory)
    def wrapped(*args: Any, **kwargs: Any) -> Optimizer:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        numeric, schedules, stateful, other = _sort_arguments(bound.arguments, static)

        def build(hparams):
            return _as_optimizer(inner_factory(**other, **hparams), "inject_hyperparams")

        def init_fn(params):
            dtype = hyperparam_dtype if hyperparam_dtype is not None else _highest_dtype(params)
            count = jnp.zeros([], jnp.int32)
            hparams = {k: _as_hyperparam(v, dtype) for k, v in numeric.items()}
            hparams.update({k: _as_hyperparam(f(count), dtype) for k, f in schedules.items()})
            hstates = {k: f.init() for k, f in stateful.items()}
            hparams.update({k: _as_hyperparam(f(hstates[k]), dtype) for k, f in stateful.items()})
            return InjectHyperparamsState(count, hparams, hstates, build(hparams).init(params))

        def update_fn(updates, state, params=None, **extra_args):
            _check_state(state, InjectHyperparamsState, "inject_hyperparams")
            dtype = hyperparam_dtype
            if dtype is None:
                dtype = _highest_dtype(updates if params is None else params)
            hparams = {k: _as_hyperparam(v, dtype) for k, v in state.hyperparams.items()}
            hparams.update({k: _as_hyperparam(f(state.count), dtype) for k, f in schedules.items()})
            old = state.hyperparams_states
            hparams.update(
                {k: _as_hyperparam(f(old[k], **extra_args), dtype) for k, f in stateful.items()}
            )
            hstates = {k: f.update(old[k], **extra_args) for k, f in stateful.items()}
            new_updates, inner_state = build(hparams).update(
                updates, state.inner_state, params, **extra_args
            )
            count = _safe_increment(state.count)
            return new_updates, InjectHyperparamsState(count, hparams, hstates, inner_state)

        return Optimizer(init_fn, update_fn)

    return wrapped


def _sort_arguments(arguments: Mapping[str, Any], static: set[str]) -> tuple[dict, ...]:
    """Split bound arguments into (numeric, schedules, stateful schedules, others), as optax."""
    numeric: dict[str, Any] = {}
    schedules: dict[str, Callable] = {}
    stateful: dict[str, Any] = {}
    other: dict[str, Any] = {}
    for name, value in arguments.items():
        if name in static or isinstance(value, bool):
            other[name] = value
        elif isinstance(value, optax.schedules.StatefulSchedule):
            stateful[name] = value
        elif callable(value):
            schedules[name] = value
        elif isinstance(value, (int, float, np.number, np.ndarray, jax.Array)):
            numeric[name] = value
        else:
            other[name] = value
    return numeric, schedules, stateful, other
