"""The guarded step of `fit`: a step that went non-finite is discarded and stops training."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jaxnn.train._loss import supervised_loss
from jaxnn.train._step import step_and_grads
from jaxnn.train._types import LossFn, PyTree


def all_finite(tree: PyTree) -> jax.Array:
    """True when every entry of every leaf is finite (True for an empty tree)."""
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


def make_guarded_step(loss_fn: LossFn, optimizer: Any) -> Callable:
    """Jitted `(state, ok, batch) -> (state, ok, step_ok, metrics)`.

    A step whose loss, gradient or new parameters are non-finite (any NaN/inf
    entry; a gradient norm that overflows while every entry is finite does not
    count) is discarded. `ok` is sticky: once False, no later update is
    applied either, so the returned state is exactly the one from before the
    first bad step.
    """
    raw = step_and_grads(loss_fn, optimizer)

    @jax.jit
    def step(state, ok, batch):
        new_state, metrics, grads = raw(state, batch)
        step_ok = jnp.isfinite(metrics["loss"]) & all_finite(grads) & all_finite(new_state.params)
        keep = ok & step_ok
        state = jax.lax.cond(keep, lambda: new_state, lambda: state)
        return state, keep, step_ok, metrics

    return step


@functools.lru_cache(maxsize=32)
def _cached(apply: Callable, model: Any, loss: Callable, penalty: Any, optimizer: Any) -> Callable:
    return make_guarded_step(supervised_loss(model, loss, penalty), optimizer)


def guarded_step_for(model: Any, loss: Callable, penalty: Any, optimizer: Any) -> Callable:
    """The guarded step of `supervised_loss(model, loss, penalty)`, cached when hashable.

    Calling `fit` again with the same model, loss, penalty and optimizer
    objects reuses the compiled step instead of compiling it again.
    """
    try:
        return _cached(model.apply, model, loss, penalty, optimizer)
    except TypeError:  # an unhashable model, loss or optimizer: build a fresh step
        return make_guarded_step(supervised_loss(model, loss, penalty), optimizer)
