r"""Gradient transformations: combinators, momentum, masking, decay, noise, clipping.

The adaptive scalings (AdaGrad, RMSProp, Adam) live in :mod:`jaxnn.optim.adaptive`.

Each function returns an :class:`~jaxnn.optim.base.Optimizer` ``(init, update)``
with optax's name, arguments, defaults and numerics (the same floating-point
operations in the same order, so a jaxnn transform and its optax twin agree to
the last bit or within a few ulps). They compose with :func:`chain`, and mix
freely with optax transforms in either library's ``chain``.

Conventions
-----------
* ``g`` is the incoming update (the gradient for the first transform of a
  chain), ``u`` the outgoing update, ``t`` the step number counted from 1,
  ``\odot`` and ``/`` act element-wise. Updates are *added* to the parameters
  (:func:`~jaxnn.optim.base.apply_updates`), so descent needs a negative
  scale: :func:`scale_by_learning_rate` multiplies by :math:`-\eta`.
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
  the incoming tree has the structure the state was initialised with, and
  raises a ``ValueError`` that prints both structures.
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
    Schedule,
    _check_hyperparam,
    _check_same_structure,
    _resolve,
    _safe_increment,
)

__all__ = [
    "AddDecayedWeightsState",
    "AddNoiseState",
    "MaskedNode",
    "MaskedState",
    "ScaleByScheduleState",
    "TraceState",
    "add_decayed_weights",
    "add_noise",
    "chain",
    "clip",
    "clip_by_global_norm",
    "identity",
    "masked",
    "scale",
    "scale_by_learning_rate",
    "scale_by_schedule",
    "trace",
]


# ---------------------------------------------------------------------------
# Combinators and stateless scalings.
# ---------------------------------------------------------------------------


def chain(*transforms: Optimizer) -> Optimizer:
    r"""Apply transforms in sequence: :math:`u = T_n(\dots T_2(T_1(g)))`.

    The state is the tuple of the transforms' states. Accepts jaxnn and optax
    transforms alike (anything with ``init`` and ``update``).

    Example::

        opt = chain(clip_by_global_norm(1.0), scale_by_adam(), scale(-1e-3))
    """
    init_fns = tuple(t.init for t in transforms)
    update_fns = tuple(t.update for t in transforms)

    def init(params):
        return tuple(fn(params) for fn in init_fns)

    def update(updates, state, params=None):
        if not isinstance(state, tuple) or len(state) != len(update_fns):
            got = f"a tuple of {len(state)}" if isinstance(state, tuple) else type(state).__name__
            raise ValueError(
                f"chain of {len(update_fns)} transforms expected a state tuple of "
                f"{len(update_fns)} entries, got {got}. Build the state with this "
                "chain's `init`."
            )
        new_state = []
        for s, fn in zip(state, update_fns, strict=True):
            updates, s = fn(updates, s, params)
            new_state.append(s)
        return updates, tuple(new_state)

    return Optimizer(init, update)


def identity() -> Optimizer:
    r"""Leave the updates unchanged: :math:`u = g`. State: ``EmptyState()``."""

    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None):
        del params
        return updates, state

    return Optimizer(init, update)


def scale(step_size: Any) -> Optimizer:
    r"""Multiply the updates by a fixed scalar: :math:`u = s\,g`.

    ``step_size`` may be any real number (negative for descent) or a traced
    scalar. State: ``EmptyState()``.
    """
    _check_hyperparam("step_size", step_size, low=None)

    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None):
        del params
        return jax.tree.map(lambda g: step_size * g, updates), state

    return Optimizer(init, update)


class ScaleByScheduleState(NamedTuple):
    """State of :func:`scale_by_schedule`."""

    count: jax.Array  # shape (), int32: steps taken so far (the schedule's argument)


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

    def update(updates, state, params=None):
        del params
        step_size = step_size_fn(state.count)
        updates = jax.tree.map(lambda g: jnp.array(step_size, dtype=g.dtype) * g, updates)
        return updates, ScaleByScheduleState(count=_safe_increment(state.count))

    return Optimizer(init, update)


def scale_by_learning_rate(
    learning_rate: ScalarOrSchedule | None = None, *, flip_sign: bool = True
) -> Optimizer:
    r"""Multiply by the (negated) learning rate: :math:`u_t = -\eta_t\,g_t`.

    A number or traced scalar gives :func:`scale` (``EmptyState``); a schedule
    gives :func:`scale_by_schedule` (a step counter in the state). ``None``
    gives :func:`identity`. With ``flip_sign=False`` the sign is kept.

    Raises:
      ValueError: if a concrete ``learning_rate`` is negative or NaN.
    """
    if learning_rate is None:
        return identity()
    _check_hyperparam("learning_rate", learning_rate)
    m = -1 if flip_sign else 1
    if callable(learning_rate):
        return scale_by_schedule(lambda count: m * learning_rate(count))
    return scale(m * learning_rate)


# ---------------------------------------------------------------------------
# Accumulators: momentum, AdaGrad, RMSProp, Adam.
# ---------------------------------------------------------------------------


class TraceState(NamedTuple):
    """State of :func:`trace`."""

    trace: PyTree  # like params; dtype accumulator_dtype or the updates' dtype: v_t


def trace(decay: Any, nesterov: bool = False, accumulator_dtype: Any = None) -> Optimizer:
    r"""Momentum: an exponentially *un-normalised* trace of past updates.

    .. math::

        v_t = g_t + \beta\, v_{t-1}, \qquad v_0 = 0,\\
        u_t = v_t \quad\text{(heavy ball)}, \qquad
        u_t = g_t + \beta\, v_t \quad\text{(nesterov=True)}.

    Chained before ``scale_by_learning_rate`` (as in :func:`~jaxnn.optim.sgd`),
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
        return TraceState(
            trace=jax.tree.map(lambda p: jnp.zeros_like(p, accumulator_dtype), params)
        )

    def update(updates, state, params=None):
        del params
        _check(updates, state.trace)
        f = lambda g, t: g + decay * t
        new_trace = _map(f, updates, state.trace)
        updates = jax.tree.map(f, updates, new_trace) if nesterov else new_trace
        return updates, TraceState(trace=_cast(new_trace, accumulator_dtype))

    return Optimizer(init, update)


# ---------------------------------------------------------------------------
# Weight decay, masking, gradient noise, clipping.
# ---------------------------------------------------------------------------


class MaskedNode(NamedTuple):
    """Placeholder for a masked-out subtree (a pytree node with no leaves)."""


class MaskedState(NamedTuple):
    """State of :func:`masked`."""

    inner_state: Any  # the inner transform's state, built on the masked params


def masked(inner: Optimizer, mask: PyTree | Callable[[PyTree], PyTree]) -> Optimizer:
    r"""Apply ``inner`` only where ``mask`` is True; elsewhere :math:`u = g`.

    ``mask`` is a tree of booleans with the params' structure (or a prefix of
    it), or a callable ``params -> mask``. Masked-out leaves are replaced by
    :class:`MaskedNode` before ``inner`` sees the tree, so ``inner`` keeps
    state for the selected leaves only (as ``optax.masked``).
    """

    def mask_tree(tree, m):
        return jax.tree.map(lambda keep, x: x if keep else MaskedNode(), m, tree)

    def resolve(tree):
        return mask(tree) if callable(mask) else mask

    def init(params):
        return MaskedState(inner_state=inner.init(mask_tree(params, resolve(params))))

    def update(updates, state, params=None):
        m = resolve(updates)
        masked_params = None if params is None else mask_tree(params, m)
        new_updates, inner_state = inner.update(
            mask_tree(updates, m), state.inner_state, masked_params
        )
        updates = jax.tree.map(lambda keep, new, old: new if keep else old, m, new_updates, updates)
        return updates, MaskedState(inner_state=inner_state)

    return Optimizer(init, update)


class AddDecayedWeightsState(NamedTuple):
    """State of :func:`add_decayed_weights` when ``weight_decay`` is a schedule."""

    count: jax.Array  # shape (), int32: steps taken (the schedule's argument)


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
    :class:`AddDecayedWeightsState` step counter. ``mask`` selects the leaves
    to decay (see :func:`masked`). A concrete ``weight_decay == 0`` returns
    the updates unchanged. ``update`` requires ``params``.

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

    def update(updates, state, params=None):
        if params is None:
            raise ValueError(
                "add_decayed_weights needs the current parameters: call "
                "`update(grads, state, params)` with params."
            )
        _check_same_structure(updates, params, "the gradients", "the params")
        if is_schedule:
            new_state = AddDecayedWeightsState(count=_safe_increment(state.count))
        else:
            new_state = state
        if isinstance(weight_decay, (int, float)) and weight_decay == 0.0:
            return updates, new_state
        s = _resolve(weight_decay, state.count) if is_schedule else weight_decay
        return _map(lambda g, p: g + s * p, updates, params), new_state

    tx = Optimizer(init, update)
    return tx if mask is None else masked(tx, mask)


class AddNoiseState(NamedTuple):
    """State of :func:`add_noise`."""

    count: jax.Array  # shape (), int32: steps taken t - 1
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

    def update(updates, state, params=None):
        del params
        count = _safe_increment(state.count)
        std = jnp.asarray(jnp.sqrt(eta / count**gamma))
        rng_key, sample_key = jax.random.split(state.rng_key)
        treedef = jax.tree.structure(updates)
        keys = jax.tree.unflatten(treedef, jax.random.split(sample_key, treedef.num_leaves))
        noise = jax.tree.map(lambda g, k: jax.random.normal(k, g.shape, g.dtype), updates, keys)
        updates = _map(lambda g, n: g + std * n, updates, noise)
        return updates, AddNoiseState(count=count, rng_key=rng_key)

    return Optimizer(init, update)


def clip(max_delta: Any) -> Optimizer:
    r"""Clip each element to :math:`[-\delta, \delta]`: :math:`u = \min(\max(g, -\delta), \delta)`.

    Raises:
      ValueError: if a concrete ``max_delta`` is negative.
    """
    _check_hyperparam("max_delta", max_delta)

    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None):
        del params
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
    _check_hyperparam("max_norm", max_norm)

    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None):
        del params
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
