r"""Combinators and stateless scalings: `chain`, `identity`, `scale`, learning-rate scalings.

Same conventions as `jaxnn.optim.transforms`. `chain` takes jaxnn and
optax transforms alike (anything with `init` and `update`) and forwards
optax's extra arguments (`value`, `grad`, `value_fn`, ...) to every member
that takes them (`optax.GradientTransformationExtraArgs`, which every jaxnn
`Optimizer` is); members written without `**extra_args` get them dropped, as
in `optax.chain`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxnn.optim._checks import StateMismatchError, _check_hyperparam, _check_state
from jaxnn.optim.base import (
    EmptyState,
    Optimizer,
    ScalarOrSchedule,
    Schedule,
    _safe_increment,
)

__all__ = [
    "ScaleByScheduleState",
    "chain",
    "identity",
    "scale",
    "scale_by_learning_rate",
    "scale_by_schedule",
]


def _as_optimizer(tx: Any, who: str) -> optax.GradientTransformationExtraArgs:
    """`tx` itself if it takes extra arguments, else an `Optimizer` that drops them."""
    if isinstance(tx, optax.GradientTransformationExtraArgs):
        return tx
    if not (callable(getattr(tx, "init", None)) and callable(getattr(tx, "update", None))):
        raise TypeError(
            f"{who} expects optimizers (objects with `init` and `update`, e.g. "
            f"jaxnn.optim.adam(1e-3) or optax.adam(1e-3)), got {type(tx).__name__}."
        )
    return Optimizer(tx.init, tx.update)


def chain(*transforms: optax.GradientTransformation) -> Optimizer:
    r"""Apply transforms in sequence: :math:`u = T_n(\dots T_2(T_1(g)))`.

    The state is the tuple of the transforms' states. Accepts jaxnn and optax
    transforms alike (anything with ``init`` and ``update``); extra keyword
    arguments of ``update`` are passed to every member (see the module docstring).

    Example:
        ```python
        opt = chain(clip_by_global_norm(1.0), scale_by_adam(), scale(-1e-3))
        ```
    """
    return _chain(transforms, "chain")


def _chain(transforms: Sequence[Any], name: str) -> Optimizer:
    """`chain` whose errors about a foreign state name the optimizer `name` (e.g. "adam")."""
    members = tuple(_as_optimizer(t, name) for t in transforms)
    n = len(members)

    def init(params):
        return tuple(t.init(params) for t in members)

    def update(updates, state, params=None, **extra_args):
        if not isinstance(state, tuple) or len(state) != n:
            got = f"a tuple of {len(state)}" if isinstance(state, tuple) else type(state).__name__
            raise StateMismatchError(
                f"{name} of {n} transforms expected a state tuple of {n} entries, got {got}. "
                f"Build the state with this optimizer's `init` (a state built by another "
                "optimizer does not fit).",
                named=name != "chain",
            )
        new_state = []
        for i, (s, t) in enumerate(zip(state, members, strict=True)):
            try:
                updates, s = t.update(updates, s, params, **extra_args)
            except StateMismatchError as err:
                if err.named or name == "chain":
                    raise
                raise StateMismatchError(
                    f"{name}.update got a state that {name}.init did not build: entry {i} of "
                    f"its state tuple does not fit. {err}",
                    named=True,
                ) from None
            new_state.append(s)
        return updates, tuple(new_state)

    return Optimizer(init, update)


def identity() -> Optimizer:
    r"""Leave the updates unchanged: :math:`u = g`. State: ``EmptyState()``."""

    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        return updates, state

    return Optimizer(init, update)


def scale(step_size: Any) -> Optimizer:
    r"""Multiply the updates by a fixed scalar: :math:`u = s\,g`.

    ``step_size`` may be any finite real number (negative for descent) or a
    traced scalar. State: ``EmptyState()``.
    """
    _check_hyperparam("step_size", step_size, low=None)

    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        return jax.tree.map(lambda g: step_size * g, updates), state

    return Optimizer(init, update)


class ScaleByScheduleState(NamedTuple):
    """State of `scale_by_schedule`."""

    # shape (), int32: steps taken so far (the schedule's argument)
    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count (optax's name)


def scale_by_schedule(step_size_fn: Schedule) -> Optimizer:
    r"""Multiply the updates by a schedule: :math:`u_t = s(t - 1)\,g_t`.

    The schedule is evaluated at the step counter *before* it is incremented
    (0 at the first update, as optax) and cast to each leaf's dtype.
    """
    if not callable(step_size_fn):
        raise ValueError(
            f"`step_size_fn` must be a callable step -> value, got {type(step_size_fn).__name__}."
        )

    def init(params):
        del params
        return ScaleByScheduleState(count=jnp.zeros([], jnp.int32))

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _check_state(state, ScaleByScheduleState, "scale_by_schedule")
        step_size = step_size_fn(state.count)
        updates = jax.tree.map(lambda g: jnp.array(step_size, dtype=g.dtype) * g, updates)
        return updates, ScaleByScheduleState(count=_safe_increment(state.count))

    return Optimizer(init, update)


def scale_by_learning_rate(
    learning_rate: ScalarOrSchedule | None = None, *, flip_sign: bool = True
) -> Optimizer:
    r"""Multiply by the (negated) learning rate: :math:`u_t = -\eta_t\,g_t`.

    A number or traced scalar gives `scale` (``EmptyState``); a schedule
    gives `scale_by_schedule` (a step counter in the state). ``None``
    gives `identity`. With ``flip_sign=False`` the sign is kept.

    Raises:
      ValueError: if a concrete ``learning_rate`` is negative, infinite or NaN,
        or if it is an array that is not a scalar.
      TypeError: if it is not a number, a JAX scalar or a schedule (e.g. a string).
    """
    if learning_rate is None:
        return identity()
    _check_hyperparam("learning_rate", learning_rate)
    m = -1 if flip_sign else 1
    if callable(learning_rate):
        return scale_by_schedule(lambda count: m * learning_rate(count))
    return scale(m * learning_rate)
