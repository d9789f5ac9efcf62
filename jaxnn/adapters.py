"""Adapters: flax.linen, flax.nnx and equinox models as jaxnn layers, and back.

Each `from_*` function returns `(layer, params, state)`, where `layer` follows
jaxnn's layer protocol

    layer.apply(params, state, x, *, key=None, train=False) -> (y, new_state)

and records `layer.filter_axis`, a pytree of ints like `params` giving the
output axis of every leaf (pass it on as
`landscape.random_direction(key, params, filter_axis=layer.filter_axis)`).
With it, `train.fit`, `train.evaluate`, `train.train_scan` (through
`train.supervised_loss`), `landscape.model_loss`, the slices and the Hessian
functions run on the foreign model unchanged. The `to_*` functions write
trained `(params, state)` back into the framework's own objects.

What each adapter maps (and how to pass a flag of your own):

* **flax.linen** (`from_flax_linen(module, variables)`): `params` is
  `variables["params"]`, `state` a dict of every other collection
  (`batch_stats`, ...). `train` goes to the module's `__call__` keyword found
  by name: `train` / `training` / `is_training` receive `train`;
  `deterministic` / `use_running_average` / `inference` / `eval` receive
  `not train`; a module with none of them gets no flag. Pass
  `train_kwarg="my_flag"` (gets `train`) or a function
  `train_kwarg=lambda train: {"mode": "train" if train else "test"}` for any
  other convention. With `train=True` the state collections are mutable and
  their updates are returned; `key` is split into the rng streams
  `rng_names` (default `("dropout",)`; stream `i` gets `fold_in(key, i)`).
  Kernels are `(in, out)` / HWIO: `filter_axis` is `-1` everywhere.
* **flax.nnx** (`from_nnx(model)`): `nnx.split(model, nnx.Param, ...)`:
  `params` holds the `nnx.Param` variables, `state` everything else
  (BatchNorm statistics, rng streams). `train=True` calls `model.train()`,
  `train=False` `model.eval()` (they set `deterministic` and
  `use_running_average` on every submodule) on a fresh copy; pass
  `set_mode=lambda model, train: ...` for other attributes. A `key` reseeds
  every rng stream of the model (stream `i`, by sorted tag, gets
  `fold_in(key, i)`); without one the model's own streams draw, and their
  advanced counters come back in the new state. `filter_axis` is `-1`.
* **equinox** (`from_equinox(model, state=None)`): `params` is
  `eqx.filter(model, eqx.is_inexact_array)`, `state` the `eqx.nn.State` (from
  `eqx.nn.make_with_state`) or `()`. Equinox layers act on one example, so
  `apply` vmaps the model over the leading axis of `x` with
  `axis_name="batch"` (the name `eqx.nn.BatchNorm` must be built with), the
  state broadcast and returned once (`out_axes=None`), and `key` split into
  one key per example; pass `batched=True` for a model that takes whole
  batches. A model with state is called as `model(x, state, key=...) -> (y,
  state)`, one without as `model(x, key=...) -> y` (`key` only if its
  `__call__` takes one). `train` maps to `eqx.nn.inference_mode(model,
  value=not train)`, which sets every `inference` flag (Dropout,
  BatchNorm); pass `set_mode=lambda model, train: model` to do otherwise.
  Weights are `(out, in)` / OIHW: `filter_axis` is `0` everywhere.

flax and equinox are optional: this module imports them lazily inside each
function (the one place jaxnn imports inside a function, so that `import
jaxnn` never needs them). Install them with the `dev` extra or on their own.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import jax

__all__ = [
    "AdaptedModel",
    "from_equinox",
    "from_flax_linen",
    "from_nnx",
    "to_equinox",
    "to_flax_linen",
    "to_nnx",
]

PyTree = Any

_FLAX_FLAGS = {"train": True, "training": True, "is_training": True}
_FLAX_INVERTED = ("deterministic", "use_running_average", "inference", "eval")


class AdaptedModel(NamedTuple):
    """A foreign model behind jaxnn's layer protocol."""

    apply: Callable  # apply(params, state, x, *, key=None, train=False) -> (y, new_state)
    filter_axis: PyTree  # ints like params: the output (filter) axis of every leaf
    framework: str  # "flax.linen", "flax.nnx" or "equinox"


def _axes_like(params: PyTree, axis: int) -> PyTree:
    return jax.tree.map(lambda _: axis, params)


def _call_parameters(fn: Callable) -> dict:
    try:
        return dict(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return {}


def _flax_flag(module: Any, method: str | None, train_kwarg: Any) -> Callable[[bool], dict]:
    """`train -> {keyword: value}` for the module's call (see the module docstring)."""
    if callable(train_kwarg):
        return train_kwarg
    if isinstance(train_kwarg, str):
        return lambda train: {train_kwarg: train}
    if train_kwarg is not None:
        raise TypeError(
            "train_kwarg must be None (detect the flag by name), a keyword name or a function "
            f"train -> dict of keyword arguments; got {train_kwarg!r}."
        )
    names = _call_parameters(getattr(module, method or "__call__"))
    for name in names:
        if name in _FLAX_FLAGS:
            return functools.partial(_flag, name, False)
        if name in _FLAX_INVERTED:
            return functools.partial(_flag, name, True)
    return _no_flag


def _flag(name: str, inverted: bool, train: bool) -> dict:
    return {name: (not train) if inverted else train}


def _no_flag(train: bool) -> dict:
    return {}


def _rngs(key: jax.Array | None, names: tuple[str, ...]) -> dict | None:
    if key is None:
        return None
    return {name: jax.random.fold_in(key, i) for i, name in enumerate(names)}


def from_flax_linen(
    module: Any,
    variables: PyTree,
    *,
    train_kwarg: str | Callable[[bool], dict] | None = None,
    rng_names: tuple[str, ...] = ("dropout",),
    method: str | None = None,
) -> tuple[AdaptedModel, PyTree, dict]:
    """A `flax.linen` module and its variables as `(layer, params, state)`.

    `layer.apply(params, state, x, key=k, train=t)` is
    `module.apply({"params": params, **state}, x, rngs={name_i: fold_in(k, i)},
    **flag(t), mutable=list(state) if t else False)`.

    Args:
      module: a `flax.linen.Module`.
      variables: what `module.init` returned (`{"params": ..., "batch_stats": ...}`).
      train_kwarg: how `train` reaches the module (see the module docstring).
      rng_names: rng streams fed from `key` (default `("dropout",)`).
      method: name of the module's method to call (default `__call__`).

    Returns:
      `(layer, params, state)`; `state` is a dict of the non-`params` collections.
    """
    import flax.core
    import flax.linen as nn

    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a flax.linen.Module; got {type(module).__name__}.")
    variables = flax.core.unfreeze(variables)
    if not isinstance(variables, dict) or "params" not in variables:
        got = list(variables) if isinstance(variables, dict) else type(variables).__name__
        raise ValueError(
            "variables must be what module.init returned, a dict with a 'params' collection; "
            f"got {got}."
        )
    flag = _flax_flag(module, method, train_kwarg)
    params = variables["params"]
    state = {k: v for k, v in variables.items() if k != "params"}
    call = {} if method is None else {"method": method}

    def apply(params, state, x, *, key=None, train=False):
        full = {"params": params, **state}
        kwargs = {**call, **flag(train), "rngs": _rngs(key, tuple(rng_names))}
        if train and state:
            y, updates = module.apply(full, x, mutable=list(state), **kwargs)
            return y, {**state, **flax.core.unfreeze(updates)}
        return module.apply(full, x, **kwargs), state

    return AdaptedModel(apply, _axes_like(params, -1), "flax.linen"), params, state


def to_flax_linen(params: PyTree, state: dict) -> dict:
    """The variables dict `{"params": params, **state}` that `module.apply` takes."""
    if not isinstance(state, dict):
        raise TypeError(
            "state must be the dict of collections from_flax_linen returned; "
            f"got {type(state).__name__}."
        )
    return {"params": params, **state}


def _nnx_mode(model: Any, train: bool) -> None:
    if train:
        model.train()
    else:
        model.eval()


def _reseed(nnx: Any, state: PyTree, key: jax.Array) -> PyTree:
    """`state` with every rng stream restarted from `fold_in(key, i)` (i: sorted tag)."""
    is_var = lambda v: isinstance(v, nnx.Variable)
    variables = jax.tree.leaves(state, is_leaf=is_var)
    tags = sorted({v.tag for v in variables if isinstance(v, (nnx.RngKey, nnx.RngCount))})
    keys = {tag: jax.random.fold_in(key, i) for i, tag in enumerate(tags)}

    def reseed(v):
        if isinstance(v, nnx.RngKey):
            return v.replace(keys[v.tag])
        if isinstance(v, nnx.RngCount):
            return v.replace(jax.numpy.zeros_like(v.get_value()))
        return v

    return jax.tree.map(reseed, state, is_leaf=is_var)


def from_nnx(
    model: Any, *, set_mode: Callable[[Any, bool], None] | None = None
) -> tuple[AdaptedModel, PyTree, PyTree]:
    """A `flax.nnx` module as `(layer, params, state)` (the model itself is not changed).

    `layer.apply` merges `(graphdef, params, state)` into a fresh module, sets
    its mode, reseeds its rng streams from `key` when given, calls it on `x`
    and, with `train=True`, splits the new state back out.

    Args:
      model: an `nnx.Module`.
      set_mode: `(module, train) -> None`; default `module.train()` /
        `module.eval()`.

    Returns:
      `(layer, params, state)`: `nnx.State`s of the `nnx.Param` variables and of
      all the others.
    """
    from flax import nnx

    if not isinstance(model, nnx.Module):
        raise TypeError(f"model must be a flax.nnx.Module; got {type(model).__name__}.")
    graphdef, params, state = nnx.split(model, nnx.Param, ...)  # type: ignore[misc]
    mode = _nnx_mode if set_mode is None else set_mode

    def apply(params, state, x, *, key=None, train=False):
        fresh = state if key is None else _reseed(nnx, state, key)
        module = nnx.merge(graphdef, params, fresh, copy=True)
        mode(module, train)
        y = module(x)
        if not train:
            return y, state
        return y, nnx.split(module, nnx.Param, ...)[2]

    return AdaptedModel(apply, _axes_like(params, -1), "flax.nnx"), params, state


def to_nnx(model: Any, params: PyTree, state: PyTree) -> Any:
    """A new `nnx.Module` like `model` holding `params` and `state` (`model` is unchanged)."""
    from flax import nnx

    if not isinstance(model, nnx.Module):
        raise TypeError(f"model must be a flax.nnx.Module; got {type(model).__name__}.")
    return nnx.merge(nnx.graphdef(model), params, state)


def _eqx_call(model: Any, has_state: bool, takes_key: bool) -> Callable:
    """`(x, key, state) -> (y, state)` for one input of the model."""

    def call(x, key, state):
        kwargs = {"key": key} if takes_key else {}
        if has_state:
            return model(x, state, **kwargs)
        return model(x, **kwargs), state

    return call


def from_equinox(
    model: Any,
    state: Any = None,
    *,
    batched: bool = False,
    axis_name: str = "batch",
    set_mode: Callable[[Any, bool], Any] | None = None,
) -> tuple[AdaptedModel, PyTree, Any]:
    """An equinox model (and its `eqx.nn.State`) as `(layer, params, state)`.

    `layer.apply(params, state, x, key=k, train=t)` combines `params` with the
    model's static part, applies `eqx.nn.inference_mode(model, not t)` and
    computes `vmap(model, axis_name)(x_i, state, key=k_i)` over the examples
    `x_i` (keys `k_i = split(k, len(x))[i]`), returning the state once.

    Args:
      model: an `equinox.Module` (callable).
      state: its `eqx.nn.State`, for models with BatchNorm and other state.
      batched: the model takes a whole batch itself (no vmap, `key` as is).
      axis_name: the vmap axis name (what `eqx.nn.BatchNorm(axis_name=...)` uses).
      set_mode: `(model, train) -> model`; default `eqx.nn.inference_mode`.

    Returns:
      `(layer, params, state)`; `state` is `()` for a model without state.
    """
    import equinox as eqx

    if not isinstance(model, eqx.Module) or not callable(model):
        raise TypeError(f"model must be a callable equinox.Module; got {type(model).__name__}.")
    if state is not None and not isinstance(state, eqx.nn.State):
        raise TypeError(
            "state must be the eqx.nn.State from eqx.nn.make_with_state (or None for a "
            f"model without state); got {type(state).__name__}."
        )
    params, static = eqx.partition(model, eqx.is_inexact_array)
    has_state = state is not None
    takes_key = "key" in _call_parameters(model.__call__)

    def apply(params, state, x, *, key=None, train=False):
        module = eqx.combine(params, static)
        module = (
            eqx.nn.inference_mode(module, value=not train)
            if set_mode is None
            else set_mode(module, train)
        )
        call = _eqx_call(module, has_state, takes_key)
        if batched:
            y, new_state = call(x, key, state)
        else:
            keys = None if key is None else jax.random.split(key, x.shape[0])
            mapped = jax.vmap(
                call,
                in_axes=(0, None if key is None else 0, None),
                out_axes=(0, None),
                axis_name=axis_name,
            )
            y, new_state = mapped(x, keys, state)
        return y, (new_state if train else state)

    out_state = state if has_state else ()
    return AdaptedModel(apply, _axes_like(params, 0), "equinox"), params, out_state


def to_equinox(model: Any, params: PyTree, state: Any = None) -> tuple[Any, Any]:
    """`(model with params written in, state)`; `state` is None for a stateless model."""
    import equinox as eqx

    if not isinstance(model, eqx.Module):
        raise TypeError(f"model must be an equinox.Module; got {type(model).__name__}.")
    _, static = eqx.partition(model, eqx.is_inexact_array)
    stateless = state is None or (isinstance(state, tuple) and not state)
    return eqx.combine(params, static), (None if stateless else state)
