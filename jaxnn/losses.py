"""Loss functions and weight penalties, numerically identical to `optax.losses`.

Conventions
-----------
* Signatures are ``loss(predictions, targets, ..., reduction="mean")``.
* ``reduction`` acts on the *unreduced* loss, which is exactly what the
  matching optax function returns:

  * ``mse``: ``optax.losses.squared_error(p, t)`` -- no factor 1/2
    (``optax.losses.l2_loss`` is half of it); shape ``p.shape``.
  * ``mae``: ``abs(p - t)`` (optax has no absolute-error loss); ``p.shape``.
  * ``huber``: ``optax.losses.huber_loss(p, t, delta=delta)``; ``p.shape``.
  * ``softmax_cross_entropy``: ``optax.losses.softmax_cross_entropy`` (or
    ``..._with_integer_labels``) after ``optax.smooth_labels``;
    shape ``logits.shape[:-1]``.
  * ``binary_cross_entropy``: ``optax.losses.sigmoid_binary_cross_entropy``;
    shape ``logits.shape``.

  ``"mean"`` is ``jnp.mean`` of that array -- the mean over **all** its
  elements, as optax users write ``jnp.mean(optax.losses.squared_error(p, t))``.
  For ``mse`` on ``(N, D)`` predictions that is ``sum / (N * D)``, not
  ``sum / N``. ``"sum"`` is ``jnp.sum`` of it.
* Shapes are checked in Python (at trace time, before anything compiles):
  regression targets must have exactly the predictions' shape (no silent
  ``(N, 1)`` against ``(N,)`` broadcasting), and predictions/logits must be
  floating point. Errors name the expected and actual shapes and dtypes.
* Penalties ``l1_penalty`` / ``l2_penalty`` work on any pytree and return a
  scalar sum; ``l2_penalty`` has **no** factor 1/2.
"""

import functools
import operator
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxnn._loss_checks import (
    _check_huber_delta,
    _check_label_range,
    _check_reduction,
    _check_smoothing,
    _class_targets,
    _floating,
    _reduce,
    _regression_inputs,
    _same_shape,
)

__all__ = [
    "accuracy",
    "binary_cross_entropy",
    "huber",
    "l1_penalty",
    "l2_penalty",
    "mae",
    "mse",
    "softmax_cross_entropy",
]


def mse(predictions: ArrayLike, targets: ArrayLike, *, reduction: str = "mean") -> jax.Array:
    r"""Mean squared error.

    .. math:: \ell_i = (p_i - t_i)^2 \qquad \text{(no factor } 1/2\text{)}

    Equal to ``jnp.mean(optax.losses.squared_error(predictions, targets))``;
    ``optax.losses.l2_loss`` is half of it.

    Args:
      predictions: floating-point array of any shape.
      targets: array of the same shape.
      reduction: ``"mean"`` (over all elements), ``"sum"`` or ``"none"``
        (elementwise, same shape as ``predictions``).
    """
    _check_reduction(reduction, "mse")
    predictions, targets = _regression_inputs(predictions, targets, "mse")
    return _reduce(jnp.square(predictions - targets), reduction)


def mae(predictions: ArrayLike, targets: ArrayLike, *, reduction: str = "mean") -> jax.Array:
    r"""Mean absolute error, :math:`\ell_i = |p_i - t_i|`.

    :math:`|\cdot|` has no derivative at :math:`p_i = t_i`; there ``jax.grad``
    returns JAX's subgradient choice for ``abs`` at 0, which is +1 (not 0).

    Args:
      predictions: floating-point array of any shape.
      targets: array of the same shape.
      reduction: ``"mean"`` (over all elements), ``"sum"`` or ``"none"``.
    """
    _check_reduction(reduction, "mae")
    predictions, targets = _regression_inputs(predictions, targets, "mae")
    return _reduce(jnp.abs(predictions - targets), reduction)


def huber(
    predictions: ArrayLike,
    targets: ArrayLike,
    delta: ArrayLike = 1.0,
    *,
    reduction: str = "mean",
) -> jax.Array:
    r"""Huber loss: quadratic near zero, linear beyond ``delta``.

    With :math:`e = p - t`,

    .. math::
       \ell = \begin{cases} \tfrac12 e^2 & |e| \le \delta \\
       \delta\,(|e| - \tfrac12\delta) & |e| > \delta \end{cases}

    exactly as ``optax.losses.huber_loss`` (its gradient is the residual
    clipped to :math:`[-\delta, \delta]`). ``delta`` may be a traced scalar.

    Args:
      predictions: floating-point array of any shape.
      targets: array of the same shape.
      delta: positive threshold between the quadratic and linear regimes
        (checked when concrete: ``delta <= 0`` raises a ValueError).
      reduction: ``"mean"`` (over all elements), ``"sum"`` or ``"none"``.
    """
    _check_reduction(reduction, "huber")
    _check_huber_delta(delta)
    predictions, targets = _regression_inputs(predictions, targets, "huber")
    abs_err = jnp.abs(predictions - targets)
    quadratic = jnp.minimum(abs_err, delta)
    linear = abs_err - quadratic
    return _reduce(0.5 * quadratic**2 + delta * linear, reduction)


def softmax_cross_entropy(
    logits: ArrayLike,
    labels: ArrayLike,
    label_smoothing: ArrayLike = 0.0,
    *,
    reduction: str = "mean",
) -> jax.Array:
    r"""Softmax cross entropy from logits, stable for logits of any magnitude.

    With :math:`\log q = \mathrm{log\_softmax}(z) = z - \mathrm{logsumexp}(z)`
    and target distribution :math:`y` (one-hot for integer ids),

    .. math::
       \tilde y = (1 - \alpha)\,y + \alpha / C, \qquad
       \ell = -\sum_c \tilde y_c \log q_c,

    where :math:`\alpha` is ``label_smoothing`` (``optax.smooth_labels``) and
    :math:`C` the number of classes. The gradient is
    :math:`\partial\ell/\partial z = \mathrm{softmax}(z) - \tilde y`.

    Args:
      logits: floating-point array ``(..., C)``.
      labels: integer class ids of shape ``logits.shape[:-1]``, or one-hot /
        probability targets of shape ``logits.shape`` (any float dtype).
        Concrete ids outside ``[0, C)`` raise a ValueError. Under ``jit`` /
        ``vmap`` / ``grad`` the values are unknown while tracing and cannot be
        checked: the loss of an example with such an id is NaN (with or
        without label smoothing), so the mean is NaN and training visibly diverges.
      label_smoothing: :math:`\alpha \in [0, 1)`; may be a traced scalar
        (checked only when concrete).
      reduction: ``"mean"`` over the examples (all of ``logits.shape[:-1]``),
        ``"sum"``, or ``"none"`` (shape ``logits.shape[:-1]``).

    Examples:
      >>> softmax_cross_entropy(jnp.zeros((2, 4)), jnp.array([0, 3]))  # log 4
      Array(1.3862944, dtype=float32)
    """
    name = "softmax_cross_entropy"
    _check_reduction(reduction, name)
    _check_smoothing(label_smoothing, name)
    logits, labels, is_int = _class_targets(logits, labels, name)
    num_classes = logits.shape[-1]
    if is_int:
        _check_label_range(labels, num_classes, name)
        valid = (labels >= 0) & (labels < num_classes)
    smooth = not (isinstance(label_smoothing, (int, float)) and label_smoothing == 0)
    if is_int and not smooth:
        # logsumexp(z) - z[y]: no full log_softmax and no one-hot needed.
        picked = jnp.take_along_axis(logits, labels[..., None], axis=-1)[..., 0]
        per_example = jax.nn.logsumexp(logits, axis=-1) - picked
    else:
        if is_int:
            labels = jax.nn.one_hot(labels, logits.shape[-1], dtype=logits.dtype)
        if smooth:
            alpha = jnp.asarray(label_smoothing, logits.dtype)
            labels = (1.0 - alpha) * labels + alpha / logits.shape[-1]
        per_example = -jnp.sum(labels * jax.nn.log_softmax(logits, axis=-1), axis=-1)
    if is_int:  # traced out-of-range ids: NaN (take_along_axis alone gives NaN, one_hot zeros)
        per_example = jnp.where(valid, per_example, jnp.nan)
    return _reduce(per_example, reduction)


def binary_cross_entropy(
    logits: ArrayLike, labels: ArrayLike, *, reduction: str = "mean"
) -> jax.Array:
    r"""Sigmoid binary cross entropy from logits, elementwise and stable.

    .. math::
       \ell = -y \log\sigma(z) - (1 - y)\log\sigma(-z),

    with :math:`\log\sigma(z) = -\mathrm{softplus}(-z)` so no ``exp``
    overflows; :math:`\partial\ell/\partial z = \sigma(z) - y`. Identical to
    ``optax.losses.sigmoid_binary_cross_entropy``.

    Args:
      logits: floating-point array of any shape (one logit per binary decision).
      labels: 0/1 or probabilities, same shape as ``logits`` (int, bool or float).
      reduction: ``"mean"`` (over all elements), ``"sum"`` or ``"none"``.
    """
    name = "binary_cross_entropy"
    _check_reduction(reduction, name)
    logits = _floating(logits, "logits", name)
    labels = jnp.asarray(labels)
    _same_shape(logits, labels, name, "logits", "labels")
    labels = labels.astype(logits.dtype)
    values = -labels * jax.nn.log_sigmoid(logits) - (1.0 - labels) * jax.nn.log_sigmoid(-logits)
    return _reduce(values, reduction)


def accuracy(logits: ArrayLike, labels: ArrayLike) -> jax.Array:
    """Fraction of examples whose ``argmax`` logit is the label.

    Args:
      logits: array ``(..., C)``.
      labels: integer ids ``logits.shape[:-1]`` or one-hot/probabilities
        ``logits.shape`` (compared through their argmax).

    Returns:
      A float32 scalar in ``[0, 1]`` (mean over all of ``logits.shape[:-1]``).
      Ties go to the lowest class index (``jnp.argmax``).
    """
    logits = jnp.asarray(logits)
    if not jnp.issubdtype(logits.dtype, jnp.floating):
        logits = logits.astype(jnp.float32)
    _, labels, is_int = _class_targets(logits, labels, "accuracy")
    if not is_int:
        labels = jnp.argmax(labels, axis=-1)
    return jnp.mean((jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32))


def l2_penalty(params: Any) -> jax.Array:
    r"""Sum of squares over every leaf: :math:`\sum_i w_i^2`.

    There is **no** factor 1/2: ``weight_decay * l2_penalty(params)`` has
    gradient ``2 * weight_decay * params``. Equals
    ``optax.tree.norm(params, squared=True)``. An empty tree gives ``0.0``.
    """
    return _tree_sum(jnp.square, params)


def l1_penalty(params: Any) -> jax.Array:
    r"""Sum of absolute values over every leaf: :math:`\sum_i |w_i|`.

    Equals ``optax.tree.norm(params, ord=1)``. An empty tree gives ``0.0``.
    """
    return _tree_sum(jnp.abs, params)


def _tree_sum(fn, tree):
    """``sum_leaves sum(fn(leaf))``, in the leaves' dtype; float32 0 for an empty tree."""
    sums = [jnp.sum(fn(jnp.asarray(leaf))) for leaf in jax.tree_util.tree_leaves(tree)]
    return functools.reduce(operator.add, sums) if sums else jnp.zeros((), jnp.float32)
