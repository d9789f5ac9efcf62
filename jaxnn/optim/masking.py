r"""Masking: apply a transform to a subset of the parameters (`masked`).

`MaskedNode` and `MaskedState` are optax's own classes, so states and masked
trees built by jaxnn and by optax are interchangeable (and code that tests
``isinstance(x, optax.MaskedNode)`` sees jaxnn's placeholders too).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import optax

from jaxnn.optim._checks import PyTree, _check_state
from jaxnn.optim.base import Optimizer
from jaxnn.optim.combine import _as_optimizer

__all__ = ["MaskedNode", "MaskedState", "masked"]

MaskedNode = optax.MaskedNode
"""Placeholder for a masked-out subtree (a pytree node with no leaves); optax's class."""

MaskedState = optax.MaskedState
"""State of `masked`: ``MaskedState(inner_state)``, optax's class.

``inner_state`` is the inner transform's state, built on the masked params.
"""


def _is_tree_fn(mask: Any) -> bool:
    """True when `mask` is a function `params -> tree` rather than a tree (optax's rule).

    A tree whose leaves are not callables (e.g. an equinox Module of booleans,
    which may itself define ``__call__``) is a tree, not a function.
    """
    leaves = jax.tree.leaves(jax.tree.map(callable, mask))
    return bool(leaves) and all(leaves)


def _mask_tree(tree: PyTree, mask: PyTree) -> PyTree:
    """`tree` with the leaves (or subtrees) where `mask` is False replaced by `MaskedNode()`."""
    return jax.tree.map(lambda keep, x: x if keep else MaskedNode(), mask, tree)


def _mask_extra_args(extra_args: dict, updates: PyTree, mask: PyTree, enabled: bool) -> dict:
    """Mask the extra arguments that have the updates' tree structure (when `enabled`)."""
    if not enabled:
        return extra_args
    structure: Any = jax.tree.structure(updates)  # jaxlib ships no stub for PyTreeDef.__eq__
    return {
        k: _mask_tree(v, mask) if jax.tree.structure(v) == structure else v
        for k, v in extra_args.items()
    }


def masked(
    inner: optax.GradientTransformation,
    mask: PyTree | Callable[[PyTree], PyTree],
    *,
    mask_compatible_extra_args: bool = False,
) -> Optimizer:
    r"""Apply ``inner`` only where ``mask`` is True; elsewhere :math:`u = g`.

    ``mask`` is a tree of booleans with the params' structure (or a prefix of
    it), or a function ``params -> mask`` (called with the params at ``init``
    and with the updates at ``update``). A pytree is a tree even when it is
    callable (an equinox Module of booleans): only a mask whose leaves are all
    callables is called, as in optax. Masked-out leaves are replaced by
    `MaskedNode` before ``inner`` sees the tree, so ``inner`` keeps
    state for the selected leaves only (as ``optax.masked``).

    A tree with no leaves (such as the placeholder that
    ``optax.tree.map_params`` passes to ``init`` to find the parameter-shaped
    parts of a state) has nothing to mask and goes to ``inner.init`` as is.

    Args:
      inner: the transform to apply to the selected leaves (jaxnn or optax).
      mask: the boolean tree, or a function building it.
      mask_compatible_extra_args: also mask the extra arguments of ``update``
        that have the updates' tree structure (optax's option of that name);
        other extra arguments are passed to ``inner`` unchanged.

    Returns:
      An ``Optimizer`` whose state is ``MaskedState(inner_state)``.
    """
    inner = _as_optimizer(inner, "masked")

    def resolve(tree):
        return mask(tree) if _is_tree_fn(mask) else mask

    def init(params):
        if not jax.tree.leaves(params):
            return MaskedState(inner_state=inner.init(params))
        return MaskedState(inner_state=inner.init(_mask_tree(params, resolve(params))))

    def update(updates, state, params=None, **extra_args):
        _check_state(state, MaskedState, "masked")
        m = resolve(updates)
        extra_args = _mask_extra_args(extra_args, updates, m, mask_compatible_extra_args)
        masked_params = None if params is None else _mask_tree(params, m)
        new_updates, inner_state = inner.update(
            _mask_tree(updates, m), state.inner_state, masked_params, **extra_args
        )
        updates = jax.tree.map(lambda keep, new, old: new if keep else old, m, new_updates, updates)
        return updates, MaskedState(inner_state=inner_state)

    return Optimizer(init, update)
