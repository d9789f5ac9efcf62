r"""Centered-difference gradients and a gradient checker for any pytree.

Conventions
-----------
* ``f(params) -> scalar`` is a JAX-traceable function of a pytree of
  floating-point arrays (dicts, lists, tuples, flax/equinox trees).
* The numerical gradient of each scalar entry :math:`\theta_i` is the
  centered difference

  .. math::
     g_i \approx \frac{f(\theta + h e_i) - f(\theta - h e_i)}
                       {(\theta_i + h) - (\theta_i - h)},

  whose truncation error is :math:`O(h^2)`. The denominator is the step as it
  was actually represented in the leaf's dtype (not ``2h``), which removes
  the error of rounding :math:`\theta_i \pm h`. Every coordinate costs two
  evaluations of ``f``; they run in one compiled ``lax.map`` per leaf, so the
  checker is meant for small models (up to ~1e4 parameters).
* Default step ``eps=None`` depends on the leaf's dtype: ``1e-6`` for
  float64, ``1e-3`` for float32, ``1e-1`` for 16-bit floats (with a warning).
  These are near the optimum :math:`h \sim \epsilon_{mach}^{1/3}` that
  balances truncation against round-off error
  :math:`\sim \epsilon_{mach}|f|/h`. Expect relative errors around 1e-8
  or better in float64, and only ~1e-3 in float32; check gradients in
  float64 (``jax.enable_x64``) whenever you can. An explicit ``eps`` below
  :math:`\sqrt{\epsilon_{mach}}` of a leaf's dtype triggers a warning.
* Relative error, elementwise:

  .. math::
     r = \frac{|a - n|}{\max(|a|, |n|, \mathrm{tiny})}

  with ``tiny = jnp.finfo(dtype).tiny`` by default, so ``0`` vs ``0`` is
  error 0 and a nonzero vs ``0`` is error 1. Pass a larger ``tiny`` (e.g.
  ``1e-6``) to ignore entries whose gradient is essentially zero. NaNs count
  as an infinite error.
"""

import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["GradCheckResult", "check_grads", "numerical_grad"]


class GradCheckResult(NamedTuple):
    r"""Worst entry of a gradient check.

    Attributes:
      max_rel_error: largest relative error :math:`|a-n|/\max(|a|,|n|,tiny)`.
      path: the leaf holding it, as ``jax.tree_util.keystr`` (e.g. ``"['w'][0]"``);
        ``""`` when ``params`` is a single array or has no leaves.
      index: multi-index of the entry inside that leaf (``()`` for scalars);
        ``np.ravel_multi_index(index, leaf.shape)`` gives the flat index.
      analytic: the analytic gradient there (``jax.grad`` or ``grad_fn``).
      numeric: the centered-difference gradient there.
    """

    max_rel_error: float
    path: str
    index: tuple  # type: ignore[assignment]  # shadows tuple.index (a public field name)
    analytic: float
    numeric: float

    def __str__(self):
        where = f"{self.path}[{', '.join(map(str, self.index))}]" if self.index else self.path
        return (
            f"max relative error {self.max_rel_error:.3g} at {where or 'params'}: "
            f"analytic {self.analytic:.8g}, numeric {self.numeric:.8g}"
        )


def _default_eps(dtype):
    dtype = jnp.dtype(dtype)
    if dtype == jnp.float64:
        return 1e-6
    if dtype == jnp.float32:
        return 1e-3
    warnings.warn(
        f"Gradient checks in {dtype} are unreliable (machine epsilon "
        f"{float(jnp.finfo(dtype).eps):.1e}); using eps=0.1. Cast params to float64 "
        "under jax.enable_x64 for a meaningful check.",
        UserWarning,
        stacklevel=3,
    )
    return 1e-1


def _check_eps(h, dtype):
    if not h > 0:
        raise ValueError(f"eps must be a positive number; got {h!r}.")
    if h < float(jnp.finfo(dtype).eps) ** 0.5:
        warnings.warn(
            f"eps={h:g} is below sqrt(machine epsilon) of {dtype}; round-off "
            f"(~eps_mach*|f|/eps) will dominate the centered differences. "
            f"The default for {dtype} is eps=None.",
            UserWarning,
            stacklevel=3,
        )


def _leaves(params):
    """Flatten to (paths, float leaves, treedef), raising on non-float leaves."""
    with_path, treedef = jax.tree_util.tree_flatten_with_path(params)
    paths, leaves = [], []
    for path, leaf in with_path:
        leaf = jnp.asarray(leaf)
        name = jax.tree_util.keystr(path)
        if not jnp.issubdtype(leaf.dtype, jnp.floating):
            raise TypeError(
                f"Gradient checks need floating-point parameters; leaf {name or 'params'} "
                f"has dtype {leaf.dtype} and shape {leaf.shape}. Cast it, or close over it "
                "in f instead of passing it in params."
            )
        paths.append(name)
        leaves.append(leaf)
    return paths, leaves, treedef


def _check_scalar(f, params):
    out = jax.eval_shape(f, params)
    if not (hasattr(out, "shape") and out.shape == () and jnp.issubdtype(out.dtype, jnp.floating)):
        got = f"{out.shape} {out.dtype}" if hasattr(out, "shape") else type(out).__name__
        raise ValueError(
            f"f(params) must return a real floating-point scalar; got {got}. "
            "Reduce it first, e.g. with jnp.mean or jnp.sum."
        )


def _leaf_numerical_grad(f, leaves, treedef, k, eps):
    """Centered differences for every entry of leaf ``k`` (one compiled map)."""
    leaf = leaves[k]
    if leaf.size == 0:
        return jnp.zeros_like(leaf)
    flat = leaf.ravel()

    def f_with(new_flat):
        new_leaves = list(leaves)
        new_leaves[k] = new_flat.reshape(leaf.shape)
        return f(jax.tree_util.tree_unflatten(treedef, new_leaves))

    def one(i):
        # Rounded to the leaf's dtype (a traced eps may be wider): the step as represented.
        up = (flat[i] + eps).astype(leaf.dtype)
        down = (flat[i] - eps).astype(leaf.dtype)
        step = up - down
        diff = f_with(flat.at[i].set(up)) - f_with(flat.at[i].set(down))
        return (diff / step).astype(leaf.dtype)

    return jax.lax.map(one, jnp.arange(flat.size)).reshape(leaf.shape)


def numerical_grad(f: Callable[[Any], jax.Array], params: Any, eps: float | None = None) -> Any:
    r"""Gradient of ``f`` at ``params`` by centered differences (see module docstring).

    Args:
      f: ``f(params) -> scalar``, JAX-traceable.
      params: pytree of floating-point arrays.
      eps: step :math:`h`, a scalar; ``None`` picks it per leaf from the dtype
        (1e-6 float64, 1e-3 float32). A traced scalar is accepted (to ``jit``
        over it or ``vmap`` over step sizes) and is then not validated; the
        shifted entries :math:`\theta_i \pm h` are rounded to the leaf's dtype
        either way.

    Returns:
      A pytree like ``params`` (same structure, shapes and dtypes).

    Examples:
      >>> g = numerical_grad(lambda p: jnp.sum(p["w"] ** 2), {"w": jnp.array([1.0, 2.0])})
      >>> bool(jnp.allclose(g["w"], jnp.array([2.0, 4.0]), atol=1e-3))
      True
    """
    _, leaves, treedef = _leaves(params)
    params = jax.tree_util.tree_unflatten(treedef, leaves)
    _check_scalar(f, params)
    if eps is not None and jnp.ndim(eps) != 0:
        raise ValueError(f"eps must be a scalar; got an array of shape {jnp.shape(eps)}.")
    grads = []
    for k, leaf in enumerate(leaves):
        if eps is None:
            h = _default_eps(leaf.dtype)
        elif isinstance(eps, jax.core.Tracer):  # e.g. vmapped over steps: used as is, unchecked
            h = eps
        else:
            h = float(eps)
            _check_eps(h, leaf.dtype)
        grads.append(_leaf_numerical_grad(f, leaves, treedef, k, h))
    return jax.tree_util.tree_unflatten(treedef, grads)


def check_grads(
    f: Callable[[Any], jax.Array],
    params: Any,
    eps: float | None = None,
    *,
    grad_fn: Callable[[Any], Any] | None = None,
    tiny: float | None = None,
) -> GradCheckResult:
    """Compare analytic and centered-difference gradients; report the worst entry.

    Args:
      f: ``f(params) -> scalar``, JAX-traceable.
      params: pytree of floating-point arrays.
      eps: finite-difference step (``None``: per-dtype default, see module docstring).
      grad_fn: the analytic gradient to check, ``grad_fn(params) -> pytree``;
        defaults to ``jax.grad(f)``. Pass a hand-written backward pass here.
      tiny: floor of the relative-error denominator (default ``finfo(dtype).tiny``).

    Returns:
      `GradCheckResult` with the largest relative error, its leaf path
      and index, and the analytic and numeric values there.

    Examples:
      >>> f = lambda p: (p[0] + p[1]) * p[2]
      >>> r = check_grads(f, (jnp.float32(-2), jnp.float32(5), jnp.float32(-4)))
      >>> r.max_rel_error < 1e-4
      True
    """
    paths, leaves, treedef = _leaves(params)
    params = jax.tree_util.tree_unflatten(treedef, leaves)
    _check_scalar(f, params)
    analytic = (jax.grad(f) if grad_fn is None else grad_fn)(params)
    a_leaves, a_treedef = jax.tree_util.tree_flatten(analytic)
    if a_treedef != treedef:
        raise ValueError(
            f"The analytic gradient must have the structure of params; got {a_treedef} "
            f"for params {treedef}."
        )
    n_leaves = jax.tree_util.tree_leaves(numerical_grad(f, params, eps))

    worst = GradCheckResult(0.0, paths[0] if len(paths) == 1 else "", (), 0.0, 0.0)
    worst_err = -1.0
    for path, leaf, a, n in zip(paths, leaves, a_leaves, n_leaves, strict=True):
        a = np.asarray(a, np.float64)
        n = np.asarray(n, np.float64)
        if a.shape != leaf.shape:
            raise ValueError(
                f"The analytic gradient at {path or 'params'} has shape {a.shape}; "
                f"expected the parameter's shape {leaf.shape}."
            )
        if a.size == 0:
            continue
        floor = float(jnp.finfo(leaf.dtype).tiny) if tiny is None else float(tiny)
        err = np.abs(a - n) / np.maximum(np.maximum(np.abs(a), np.abs(n)), floor)
        err = np.where(np.isnan(err), np.inf, err)
        flat = int(np.argmax(err))
        if err.flat[flat] > worst_err:
            worst_err = float(err.flat[flat])
            index = tuple(int(i) for i in np.unravel_index(flat, err.shape))
            a_val, n_val = float(a.flat[flat]), float(n.flat[flat])
            worst = GradCheckResult(worst_err, path, index, a_val, n_val)
    return worst
