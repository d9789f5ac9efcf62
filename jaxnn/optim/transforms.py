r"""Gradient transformations: momentum, weight decay, clipping.

The combinators and learning-rate scalings (``chain``, ``scale``, ...) live in
`jaxnn.optim.combine`, masking in `jaxnn.optim.masking`, gradient
noise in `jaxnn.optim.noise` and the
adaptive scalings (AdaGrad, RMSProp, Adam) in `jaxnn.optim.adaptive`.

Each function returns an `jaxnn.optim.base.Optimizer` ``(init, update)``
with optax's name, arguments, defaults and numerics (the same floating-point
operations in the same order, so a jaxnn transform and its optax twin agree to
the last bit or within a few ulps). They compose with `chain`, and mix
freely with optax transforms in either library's ``chain``. Every ``update``
takes optax's extra keyword arguments (``value``, ``grad``, ...) and ignores them.

Conventions
-----------
* ``g`` is the incoming update (the gradient for the first transform of a
  chain), ``u`` the outgoing update, ``t`` the step number counted from 1,
  ``\odot`` and ``/`` act element-wise. Updates are *added* to the parameters
  (`jaxnn.optim.base.apply_updates`), so descent needs a negative
  scale: `scale_by_learning_rate` multiplies by :math:`-\eta`.
* One ``NamedTuple`` state per transform; per-leaf accumulators are trees
  with the parameters' structure. Where optax keeps two state classes for
  one transform (``scale_by_rms`` with and without ``bias_correction``), jaxnn
  keeps one with a step counter that is always present.
* Hyperparameters may be Python numbers, traced JAX scalars (so a sweep is one
  ``jax.vmap``) or, where the argument says so, schedules ``step -> value``
  evaluated at the step counter kept in the state (starting at 0, as optax).
  Concrete numbers are validated when the transform is built (a
  ``ValueError`` naming the argument). Momentum-like decays are not bounded:
  negative or super-unit momentum is a legitimate research setting.
* ``update`` checks, in Python (at trace time, so also under ``jit``), that
  the incoming tree has the structure and leaf shapes the state was
  initialised with (a ``ValueError`` that prints both structures, or names
  the leaf and both shapes), and that the state is this transform's own (a
  ``TypeError`` naming the expected state class, not an ``AttributeError``).
* Transforms that keep per-parameter accumulators reject integer and
  boolean parameters at ``init`` (a ``TypeError`` naming the leaf): their
  state and updates would be truncated (optax accepts them silently).
* ``None`` leaves in the updates (optax's convention for "no update") pass
  through the per-leaf maps untouched.
* Complex parameters follow optax: squares are :math:`|g|^2 = \bar g g`
  (see the gist linked from ``optax.clip_by_global_norm``); the update is
  added to the parameters as is, so pass conjugated gradients.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxnn.optim._checks import (
    _check_float_params,
    _check_hyperparam,
    _check_prefix_shapes,
    _check_state,
)
from jaxnn.optim._tree import (
    _canonicalize_dtype,
    _cast,
    _check,
    _global_norm,
    _map,
)
from jaxnn.optim.base import (
    EmptyState,
    Optimizer,
    PyTree,
    ScalarOrSchedule,
    _resolve,
    _safe_increment,
)
from jaxnn.optim.masking import masked

__all__ = [
    "AddDecayedWeightsState",
    "TraceState",
    "add_decayed_weights",
    "clip",
    "clip_by_global_norm",
    "trace",
]


# ---------------------------------------------------------------------------
# Momentum.
# ---------------------------------------------------------------------------


class TraceState(NamedTuple):
    """State of `trace`."""

    trace: PyTree  # like params; dtype accumulator_dtype or the updates' dtype: v_t


def trace(decay: Any, nesterov: bool = False, accumulator_dtype: Any = None) -> Optimizer:
    r"""Momentum: an exponentially *un-normalised* trace of past updates.

    .. math::

        v_t = g_t + \beta\, v_{t-1}, \qquad v_0 = 0,\\
        u_t = v_t \quad\text{(heavy ball)}, \qquad
        u_t = g_t + \beta\, v_t \quad\text{(nesterov=True)}.

    Chained before ``scale_by_learning_rate`` (as in `jaxnn.optim.sgd`),
    the learning rate multiplies the trace, :math:`\theta_{t} = \theta_{t-1}
    - \eta v_t`: the PyTorch ``SGD(momentum, dampening=0)`` convention, not the
    Sutskever form :math:`v_t = \beta v_{t-1} + \eta g_t` (they agree for a
    constant :math:`\eta`, differ when it is scheduled).

    The Nesterov form is the look-ahead method of Sutskever et al. (2013),
    :math:`w_t = \beta w_{t-1} + \nabla L(\phi_{t-1} - \eta\beta w_{t-1})`,
    :math:`\phi_t = \phi_{t-1} - \eta w_t`, rewritten in the variable
    :math:`\theta_t = \phi_t - \eta\beta w_t` (the look-ahead point) with
    :math:`v_t = w_t`; both start from :math:`\theta_0 = \phi_0`, :math:`v_0 =
    w_0 = 0`, so the trajectories coincide after the change of variables.

    Args:
      decay: :math:`\beta`, a number or traced scalar (not validated beyond NaN).
      nesterov: use the Nesterov form above.
      accumulator_dtype: dtype of :math:`v`; ``None`` keeps the updates' dtype.
    """
    _check_hyperparam("decay", decay, low=None)
    accumulator_dtype = _canonicalize_dtype(accumulator_dtype)

    def init(params):
        _check_float_params(params, "trace")
        return TraceState(
            trace=jax.tree.map(lambda p: jnp.zeros_like(p, accumulator_dtype), params)
        )

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _check_state(state, TraceState, "trace")
        _check(updates, state.trace)
        f = lambda g, t: g + decay * t
        new_trace = _map(f, updates, state.trace)
        updates = jax.tree.map(f, updates, new_trace) if nesterov else new_trace
        return updates, TraceState(trace=_cast(new_trace, accumulator_dtype))

    return Optimizer(init, update)


# ---------------------------------------------------------------------------
# Weight decay and clipping.
# ---------------------------------------------------------------------------


class AddDecayedWeightsState(NamedTuple):
    """State of `add_decayed_weights` when ``weight_decay`` is a schedule."""

    # shape (), int32: steps taken (the schedule's argument)
    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count (optax's name)


def add_decayed_weights(
    weight_decay: ScalarOrSchedule = 0.0,
    mask: PyTree | Callable[[PyTree], PyTree] | None = None,
) -> Optimizer:
    r"""Add the decayed parameters: :math:`u_t = g_t + \lambda_t\,\theta_{t-1}`.

    Placed between ``scale_by_adam`` and ``scale_by_learning_rate`` this is
    AdamW's decoupled decay, which is therefore **multiplied by the learning
    rate**: :math:`\theta_t = \theta_{t-1} - \eta(\hat m/(\sqrt{\hat v} +
    \epsilon) + \lambda\theta_{t-1})`, as PyTorch's ``AdamW`` but unlike
    Loshchilov & Hutter (2019), whose decay is multiplied by the schedule
    multiplier only. Placed before the scaling it is an L2 penalty.

    State: ``EmptyState()`` for a number or traced scalar; for a schedule, an
    `AddDecayedWeightsState` step counter. ``mask`` selects the leaves
    to decay (see `masked`). A concrete ``weight_decay == 0`` returns
    the updates unchanged. ``update`` requires ``params``; a ``None`` leaf in
    ``params`` has nothing to decay and passes its update through (optax's
    ``None`` convention; optax itself raises there), and a ``None`` update
    (for a leaf or a whole subtree) stays ``None``, as in optax.

    Raises:
      ValueError: if a concrete ``weight_decay`` is negative.
    """
    _check_hyperparam("weight_decay", weight_decay)
    is_schedule = callable(weight_decay)

    def init(params):
        del params
        return (
            AddDecayedWeightsState(count=jnp.zeros([], jnp.int32)) if is_schedule else EmptyState()
        )

    def update(updates, state, params=None, **extra_args):
        del extra_args
        if params is None:
            raise ValueError(
                "add_decayed_weights needs the current parameters: call "
                "`update(grads, state, params)` with params."
            )
        _check_prefix_shapes(updates, params)
        if is_schedule:
            _check_state(state, AddDecayedWeightsState, "add_decayed_weights")
            new_state = AddDecayedWeightsState(count=_safe_increment(state.count))
        else:
            new_state = state
        if isinstance(weight_decay, (int, float)) and weight_decay == 0.0:
            return updates, new_state
        s = _resolve(weight_decay, state.count) if is_schedule else weight_decay
        return _map(lambda g, p: g if p is None else g + s * p, updates, params), new_state

    tx = Optimizer(init, update)
    return tx if mask is None else masked(tx, mask)


def clip(max_delta: Any) -> Optimizer:
    r"""Clip each element to :math:`[-\delta, \delta]`: :math:`u = \min(\max(g, -\delta), \delta)`.

    Raises:
      ValueError: if a concrete ``max_delta`` is negative.
    """
    _check_hyperparam("max_delta", max_delta, finite=False)

    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        return jax.tree.map(lambda g: jnp.clip(g, -max_delta, max_delta), updates), state

    return Optimizer(init, update)


def clip_by_global_norm(max_norm: Any) -> Optimizer:
    r"""Rescale the whole update tree when its global norm exceeds ``max_norm``.

    .. math::

        \|g\| = \sqrt{\textstyle\sum_\text{leaves}\sum_i g_i^2}, \qquad
        u = g \text{ if } \|g\| < c \text{ else } (g / \|g\|)\, c.

    Same as ``torch.nn.utils.clip_grad_norm_`` up to PyTorch's ``1e-6`` added
    to the norm.

    Raises:
      ValueError: if a concrete ``max_norm`` is negative.
    """
    _check_hyperparam("max_norm", max_norm, finite=False)

    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        g_norm = _global_norm(updates)
        trigger = jnp.squeeze(g_norm < max_norm)
        if trigger.ndim != 0:
            raise ValueError(f"`max_norm` must be a scalar, got shape {jnp.shape(max_norm)}.")
        updates = jax.tree.map(
            lambda t: jax.lax.select(trigger, t, (t / g_norm.astype(t.dtype)) * max_norm),
            updates,
        )
        return updates, state

    return Optimizer(init, update)
