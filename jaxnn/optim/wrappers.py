r"""Wrappers around optimizers: scheduled/inspectable hyperparameters and per-group optimizers.

* `inject_hyperparams(factory)(**hyperparams)` rebuilds `factory(**hyperparams)`
  at every step from hyperparameters kept **in the optimizer state**, so they
  can be scheduled, read (`state.hyperparams["learning_rate"]`) and changed
  mid-run.
* `partition(transforms, param_labels)` applies a different optimizer to each
  labelled group of parameters (e.g. no weight decay on biases).

Both wrap any optax-protocol `(init, update)` pair — jaxnn's or optax's — and
match `optax.inject_hyperparams` / `optax.partition` (a.k.a.
`optax.multi_transform`) numerically. They are written in the same style:
no Python control flow on hyperparameter values, so they work under `jit`,
`lax.scan` and `vmap` (e.g. over the learning rate).

Differences from optax 0.2.8 (state layout and corner cases; the numbers are otherwise the same):

* `InjectHyperparamsState` is `(count, hyperparams, inner_state)`; optax's
  stateful-schedule slot `hyperparams_states` is not kept (a schedule here is
  a plain `step -> value` function evaluated at `count`).
* The dtype float hyperparameters are cast to is that of the parameters
  (the highest float dtype in the tree) or `hyperparam_dtype`; when `update`
  is called without `params` we take it from the gradients, where optax falls
  back to JAX's default float dtype (which would change the state's dtype
  between `init` and `update` for float32 parameters under x64).
* Numpy scalars (e.g. `np.float32(0.1)`) count as numeric hyperparameters.
* `partition` has no `mask_compatible_extra_args` (jaxnn's `update` takes no
  extra arguments). Its state mirrors optax's: `{label: MaskedState(inner)}`
  with the other groups' leaves as `MaskedNode()` (jaxnn's `masked`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn.optim.base import Optimizer, PyTree, _safe_increment
from jaxnn.optim.transforms import MaskedState, masked

__all__ = [
    "InjectHyperparamsState",
    "inject_hyperparams",
    "PartitionState",
    "partition",
]


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
      inner_state: the inner optimizer's state, `factory(**hyperparams).init(params)`.
    """

    count: jax.Array  # shape (), int32
    hyperparams: dict[str, jax.Array]  # name -> 0-d array (floats in the hyperparam dtype)
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

    Example:
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
        schedules: dict[str, Callable] = {}
        numeric: dict[str, Any] = {}
        other: dict[str, Any] = {}
        for name, value in bound.arguments.items():
            if name in static or isinstance(value, bool):
                other[name] = value
            elif callable(value):
                schedules[name] = value
            elif isinstance(value, (int, float, np.number, np.ndarray, jax.Array)):
                numeric[name] = value
            else:
                other[name] = value

        def init_fn(params):
            dtype = hyperparam_dtype if hyperparam_dtype is not None else _highest_dtype(params)
            count = jnp.zeros([], jnp.int32)
            hparams = {k: _as_hyperparam(v, dtype) for k, v in numeric.items()}
            hparams.update({k: _as_hyperparam(f(count), dtype) for k, f in schedules.items()})
            inner_state = inner_factory(**other, **hparams).init(params)
            return InjectHyperparamsState(count, hparams, inner_state)

        def update_fn(updates, state, params=None):
            dtype = hyperparam_dtype
            if dtype is None:
                dtype = _highest_dtype(updates if params is None else params)
            hparams = {k: _as_hyperparam(v, dtype) for k, v in state.hyperparams.items()}
            hparams.update({k: _as_hyperparam(f(state.count), dtype) for k, f in schedules.items()})
            new_updates, inner_state = inner_factory(**other, **hparams).update(
                updates, state.inner_state, params
            )
            new_state = InjectHyperparamsState(_safe_increment(state.count), hparams, inner_state)
            return new_updates, new_state

        return Optimizer(init_fn, update_fn)

    return wrapped


# ---------------------------------------------------------------------------
# partition
# ---------------------------------------------------------------------------


class PartitionState(NamedTuple):
    """State of `partition`.

    Attributes:
      inner_states: `{label: MaskedState(inner_state)}`, one entry per key of
        `transforms` (optax's layout); `inner_state` is that optimizer's state
        for the parameter tree in which leaves of other groups are replaced by
        `MaskedNode()`, so its arrays have the shapes and dtypes of the group's
        parameters.
    """

    inner_states: dict[Hashable, MaskedState]  # label -> masked inner state


def _labels_for(param_labels: Any, tree: PyTree, transforms: Mapping) -> PyTree:
    """Resolve the labels tree, check it is a prefix of `tree` and every label has a transform."""
    labels = param_labels(tree) if callable(param_labels) else param_labels
    missing = [label for label in dict.fromkeys(jax.tree.leaves(labels)) if label not in transforms]
    if missing:
        raise ValueError(
            f"`partition` got parameters labelled {missing!r} but no transform for "
            f"{'that label' if len(missing) == 1 else 'those labels'}; `transforms` has keys "
            f"{list(transforms)!r}. Add an entry `{missing[0]!r}: <optimizer>` to `transforms` "
            "for each missing label, or fix `param_labels`."
        )
    try:
        jax.tree.map(lambda *_: None, labels, tree)
    except ValueError as err:
        raise ValueError(
            "`partition` expects `param_labels` to have the structure of the parameters "
            f"(or a prefix of it).\n  labels: {jax.tree.structure(labels)}\n"
            f"  params: {jax.tree.structure(tree)}"
        ) from err
    return labels


def _group_mask(labels: PyTree, group: Hashable) -> PyTree:
    return jax.tree.map(lambda label: label == group, labels)


def partition(
    transforms: Mapping[Hashable, Optimizer],
    param_labels: PyTree | Callable[[PyTree], PyTree],
) -> Optimizer:
    r"""Apply a different optimizer to each labelled group of parameters.

    With labels :math:`\ell(i)` for the leaves :math:`i` and optimizers
    :math:`T_k`, group :math:`k = \{i : \ell(i) = k\}` is updated by

    .. math:: (u_k, s_k') = T_k.\text{update}(g_k, s_k, \theta_k)

    i.e. optimizer :math:`T_k` is `masked(T_k, labels == k)`: it sees only the
    leaves labelled `k` (the others are `MaskedNode()` placeholders, so global
    quantities such as a gradient norm are per group) and the updates are
    merged back into the full tree, in the order of `transforms`. This is
    `optax.partition` (formerly `optax.multi_transform`).

    Args:
      transforms: `{label: optimizer}` (jaxnn or optax transforms).
      param_labels: a pytree of labels with the structure of the parameters or
        a prefix of it, or a function `params -> labels` (called with the
        params at `init` and with the updates at `update`). Every label must be
        a key of `transforms`; a missing one raises a `ValueError` naming it.

    Returns:
      An `Optimizer` whose state is `PartitionState`.

    Example (no weight decay on biases):
      >>> import jax, jax.numpy as jnp, optax
      >>> params = {"w": jnp.ones((2, 3)), "b": jnp.zeros(3)}
      >>> labels = lambda p: jax.tree.map(lambda x: "decay" if x.ndim > 1 else "no_decay", p)
      >>> opt = partition({"decay": optax.adamw(1e-3), "no_decay": optax.adam(1e-3)}, labels)
      >>> updates, state = opt.update(params, opt.init(params), params)
    """
    transforms = dict(transforms)

    def init_fn(params):
        labels = _labels_for(param_labels, params, transforms)
        return PartitionState(
            {
                group: masked(tx, _group_mask(labels, group)).init(params)
                for group, tx in transforms.items()
            }
        )

    def update_fn(updates, state, params=None):
        labels = _labels_for(param_labels, updates, transforms)
        new_states = {}
        for group, tx in transforms.items():
            updates, new_states[group] = masked(tx, _group_mask(labels, group)).update(
                updates, state.inner_states[group], params
            )
        return updates, PartitionState(new_states)

    return Optimizer(init_fn, update_fn)
