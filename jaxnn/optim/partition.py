r"""Per-group optimizers: `partition` (optax's `partition`, formerly `multi_transform`).

`partition(transforms, param_labels)` applies a different optimizer to each
labelled group of parameters (e.g. no weight decay on biases). It wraps any
optax-protocol `(init, update)` pair — jaxnn's or optax's — matches
`optax.partition` numerically, and forwards optax's extra arguments of
`update` (`value`, `grad`, ...) to every group's optimizer. Its state mirrors
optax's: `{label: MaskedState(inner)}` with the other groups' leaves as
`MaskedNode()` (see `jaxnn.optim.masking.masked`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any, NamedTuple

import jax
import optax

from jaxnn.optim._checks import PyTree, _check_state
from jaxnn.optim.base import Optimizer
from jaxnn.optim.combine import _as_optimizer
from jaxnn.optim.masking import MaskedState, _is_tree_fn, masked

__all__ = ["PartitionState", "partition"]


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
    labels = param_labels(tree) if _is_tree_fn(param_labels) else param_labels
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
    transforms: Mapping[Hashable, optax.GradientTransformation],
    param_labels: PyTree | Callable[[PyTree], PyTree],
    *,
    mask_compatible_extra_args: bool = False,
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
        A labels tree that is itself callable (an equinox Module of labels)
        is a tree: only a labels object whose leaves are all callables is
        called (`masked`'s rule; optax would call such a Module).
      mask_compatible_extra_args: mask the extra arguments of `update` that
        have the updates' structure for each group (see `masked`).

    Returns:
      An `Optimizer` whose state is `PartitionState`.

    Example (no weight decay on biases):
      >>> import jax, jax.numpy as jnp, optax
      >>> params = {"w": jnp.ones((2, 3)), "b": jnp.zeros(3)}
      >>> labels = lambda p: jax.tree.map(lambda x: "decay" if x.ndim > 1 else "no_decay", p)
      >>> opt = partition({"decay": optax.adamw(1e-3), "no_decay": optax.adam(1e-3)}, labels)
      >>> updates, state = opt.update(params, opt.init(params), params)
    """
    transforms = {k: _as_optimizer(tx, "partition") for k, tx in transforms.items()}

    def group(labels, label, tx):
        mask = _group_mask(labels, label)
        return masked(tx, mask, mask_compatible_extra_args=mask_compatible_extra_args)

    def init_fn(params):
        if not jax.tree.leaves(params):  # nothing to label, e.g. optax.tree.map_params
            return PartitionState({k: MaskedState(tx.init(params)) for k, tx in transforms.items()})
        labels = _labels_for(param_labels, params, transforms)
        return PartitionState(
            {k: group(labels, k, tx).init(params) for k, tx in transforms.items()}
        )

    def update_fn(updates, state, params=None, **extra_args):
        _check_state(state, PartitionState, "partition")
        labels = _labels_for(param_labels, updates, transforms)
        new_states = {}
        for k, tx in transforms.items():
            updates, new_states[k] = group(labels, k, tx).update(
                updates, state.inner_states[k], params, **extra_args
            )
        return updates, PartitionState(new_states)

    return Optimizer(init_fn, update_fn)
