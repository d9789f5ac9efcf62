"""User optimizers for the suite: a `MODULE:FACTORY` spec or a factory, checked before any run.

A factory is `factory(learning_rate) -> optimizer` with optax's protocol:
`optimizer.init(params) -> state` and
`optimizer.update(grads, state, params) -> (updates, state)`. The suite calls
it *inside* a `jit(vmap(...))` over learning rates, with `learning_rate` a
schedule `step -> rate` whose values are traced, so the factory must not turn
the rate into a Python number (`float(lr)`, `if lr > ...`).

`check_factory` runs the factory on a 3-parameter toy problem, eagerly and
then under `jit(vmap(...))` over two rates, and answers each way a factory can
be wrong with its own sentence: not callable, raising on a schedule, returning
something without `init`/`update`, `init` or `update` raising, `update`
returning other than `(updates, state)`, updates shaped unlike the
parameters, or an optimizer that cannot be traced in its learning rate.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["check_factory", "load_optimizer"]


_UNTRACEABLE = jax.errors.JAXTypeError  # float()/bool()/int() of a traced value, and kin


class _Untraceable(Exception):
    """Raised inside `_one_step` under tracing; turned into a sentence by `check_factory`."""


def _schedule(rate: Any) -> Callable[[jax.Array], jax.Array]:
    return lambda count: rate * jnp.ones_like(count, jnp.float32)


def _one_step(factory: Callable, rate: Any, who: str) -> Any:
    """One `update` of `factory(schedule)` on a toy problem; sentences for each failure."""
    try:
        opt = factory(_schedule(rate))
    except _UNTRACEABLE as err:
        raise _Untraceable(err) from err
    except Exception as err:
        raise ValueError(
            f"{who}(learning_rate) raised {type(err).__name__}: {err}. The suite passes a "
            "schedule `step -> rate` as learning_rate; the factory must accept one (optax's "
            "convention) and return an optax-style (init, update) pair."
        ) from err
    if not (callable(getattr(opt, "init", None)) and callable(getattr(opt, "update", None))):
        raise ValueError(
            f"{who}(learning_rate) must return an optax-style (init, update) pair, got a "
            f"{type(opt).__name__}."
        )
    params = {"w": jnp.ones((3,), jnp.float32)}
    try:
        state = opt.init(params)
    except _UNTRACEABLE as err:
        raise _Untraceable(err) from err
    except Exception as err:
        raise ValueError(f"{who}: init(params) raised {type(err).__name__}: {err}.") from err
    try:
        out = opt.update({"w": jnp.full((3,), 0.5, jnp.float32)}, state, params)
    except _UNTRACEABLE as err:
        raise _Untraceable(err) from err
    except Exception as err:
        raise ValueError(
            f"{who}: update(grads, state, params) raised {type(err).__name__}: {err}."
        ) from err
    if not (isinstance(out, tuple) and len(out) == 2):
        raise ValueError(
            f"{who}: update(grads, state, params) must return (updates, new_state), got "
            f"{type(out).__name__}."
        )
    updates = out[0]
    shapes = jax.tree.map(jnp.shape, updates)
    if shapes != {"w": (3,)}:  # a dict of the same shapes: same structure, same shapes
        raise ValueError(
            f"{who}: the updates must have the parameters' structure and shapes "
            f"({{'w': (3,)}}), got {shapes}."
        )
    return updates["w"]


def check_factory(factory: Callable, name: str = "") -> Callable:
    """Check an optimizer factory the way the suite will call it; returns it unchanged.

    Args:
      factory: `learning_rate -> (init, update)` optimizer.
      name: how error messages name it (default: its `__name__`).

    Returns:
      `factory`.

    Raises:
      ValueError: a sentence for each way the factory is wrong (module docstring).
    """
    who = name or getattr(factory, "__name__", repr(factory))
    if not callable(factory):
        raise ValueError(
            f"{who}: an optimizer factory must be callable as factory(learning_rate), got a "
            f"{type(factory).__name__}."
        )
    try:
        _one_step(factory, 1e-3, who)
        jax.jit(jax.vmap(lambda lr: _one_step(factory, lr, who)))(jnp.array([1e-3, 1e-2]))
    except _Untraceable as wrapped:
        err = wrapped.__cause__
        raise ValueError(
            f"{who}: the optimizer must be traceable in its learning rate (the suite vmaps "
            "over rates): do not convert learning_rate(step) to a Python number or branch "
            f"on it; tracing failed with {type(err).__name__}: {str(err).splitlines()[0]}"
        ) from err
    return factory


def load_optimizer(spec: str | Callable) -> tuple[str, Callable]:
    """`"module:factory"` (or a factory) -> `(name, factory)`, checked by `check_factory`.

    Args:
      spec: `"MODULE:FACTORY"` (the module importable from `sys.path`) or a callable.

    Returns:
      `(name, factory)`; the name is the factory's attribute or `__name__`.

    Raises:
      ValueError: a sentence saying what is wrong with `spec` (format, import,
        missing or non-callable attribute, or a factory `check_factory` rejects).
    """
    if callable(spec):
        name = getattr(spec, "__name__", "user_optimizer")
        return name, check_factory(spec, name)
    module_name, sep, attr = str(spec).partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(
            f"--optimizer expects MODULE:FACTORY (e.g. my_opts:make_sgd), got {spec!r}."
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(
            f"--optimizer {spec!r}: could not import module {module_name!r} ({err}). "
            "Make it importable: run from its folder or add it to PYTHONPATH."
        ) from err
    factory = getattr(module, attr, None)
    if factory is None:
        raise ValueError(f"--optimizer {spec!r}: module {module_name!r} has no {attr!r}.")
    if not callable(factory):
        raise ValueError(
            f"--optimizer {spec!r}: {attr!r} is a {type(factory).__name__}, not a callable "
            "factory taking learning_rate."
        )
    return attr, check_factory(factory, f"--optimizer {spec!r}: {attr}")
