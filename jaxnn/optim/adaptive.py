r"""Adaptive scalings: AdaGrad, RMSProp (plain and centred) and Adam.

Each divides the update element-wise by a running estimate of the gradient's
scale. Same conventions as `jaxnn.optim.transforms` (``g`` the incoming
update, ``t`` the step counted from 1, optax's names, defaults and numerics,
concrete hyperparameters validated with a ``ValueError`` naming the argument,
the gradient tree checked against the state's).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxnn.optim._checks import (
    _check_float_params,
    _check_hyperparam,
    _check_state,
    _warn_eps_underflow,
)
from jaxnn.optim._tree import (
    _abs_sq,
    _bias_correction,
    _canonicalize_dtype,
    _cast,
    _check,
    _map,
    _moment,
    _moment_sq,
)
from jaxnn.optim.base import Optimizer, PyTree, _safe_increment

__all__ = [
    "ScaleByAdamState",
    "ScaleByRStdDevState",
    "ScaleByRmsState",
    "ScaleByRssState",
    "scale_by_adam",
    "scale_by_rms",
    "scale_by_rss",
    "scale_by_stddev",
]


class ScaleByRssState(NamedTuple):
    """State of `scale_by_rss`."""

    sum_of_squares: PyTree  # like params, same dtypes: G_t = G_0 + sum_s g_s^2


def scale_by_rss(initial_accumulator_value: Any = 0.1, eps: Any = 1e-7) -> Optimizer:
    r"""AdaGrad scaling by the root of the sum of squared gradients.

    .. math::

        G_t = G_{t-1} + g_t^2, \qquad G_0 = \text{initial\_accumulator\_value},\\
        u_t = g_t / \sqrt{G_t + \epsilon} \quad (u_t = 0 \text{ where } G_t = 0).

    Differences that trip people up: optax (and jaxnn) start the accumulator
    at **0.1**, PyTorch's ``Adagrad`` at **0**; and ``eps`` is added *inside*
    the square root here but *outside* it in PyTorch
    (:math:`g / (\sqrt{G} + \epsilon)`, with ``eps=1e-10``).

    Raises:
      ValueError: if ``initial_accumulator_value`` or ``eps`` is negative.
    """
    _check_hyperparam("initial_accumulator_value", initial_accumulator_value)
    _check_hyperparam("eps", eps)

    def init(params):
        _check_float_params(params, "scale_by_rss")
        return ScaleByRssState(
            sum_of_squares=jax.tree.map(
                lambda p: jnp.full_like(p, initial_accumulator_value), params
            )
        )

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _check_state(state, ScaleByRssState, "scale_by_rss")
        _check(updates, state.sum_of_squares)
        sum_of_squares = _map(lambda g, t: _abs_sq(g) + t, updates, state.sum_of_squares)
        inv_sqrt = _map(lambda t: jnp.where(t > 0, jax.lax.rsqrt(t + eps), 0.0), sum_of_squares)
        updates = _map(lambda g, s: s * g, updates, inv_sqrt)
        return updates, ScaleByRssState(sum_of_squares=sum_of_squares)

    return Optimizer(init, update)


class ScaleByRmsState(NamedTuple):
    """State of `scale_by_rms`."""

    # shape (), int32: steps taken (used when bias_correction=True)
    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count (optax's name)
    nu: PyTree  # like params, same dtypes: EMA of squared updates


def _check_rms_args(decay: Any, eps: Any, initial_scale: Any) -> None:
    _check_hyperparam("decay", decay, low=0.0, high=1.0, high_inclusive=True)
    _check_hyperparam("eps", eps)
    _check_hyperparam("initial_scale", initial_scale)


def _rms_scaling(nu_hat: Any, eps: Any, eps_in_sqrt: bool) -> Any:
    if eps_in_sqrt:
        return jax.lax.rsqrt(nu_hat + eps)
    return 1 / (jnp.sqrt(nu_hat) + eps)


def scale_by_rms(
    decay: Any = 0.9,
    eps: Any = 1e-8,
    initial_scale: Any = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
) -> Optimizer:
    r"""RMSProp scaling by the root of an EMA of squared updates.

    .. math::

        \nu_t = \rho\,\nu_{t-1} + (1 - \rho)\, g_t^2, \qquad
            \nu_0 = \text{initial\_scale},\\
        \hat\nu_t = \nu_t / (1 - \rho^t) \text{ if bias\_correction else } \nu_t,\\
        u_t = g_t / \sqrt{\hat\nu_t + \epsilon} \text{ (eps\_in\_sqrt) or }
              g_t / (\sqrt{\hat\nu_t} + \epsilon).

    Differences that trip people up: optax puts ``eps`` **inside** the root
    by default; PyTorch's ``RMSprop`` (``alpha`` = :math:`\rho`, ``eps=1e-8``)
    puts it **outside**: use ``eps_in_sqrt=False`` to match. Keras uses
    ``rho``. With ``bias_correction=True, eps_in_sqrt=False`` this equals
    `scale_by_adam` with ``b1=0``.

    Raises:
      ValueError: if ``decay`` is outside [0, 1] or ``eps``/``initial_scale``
        is negative.
    """
    _check_rms_args(decay, eps, initial_scale)

    def init(params):
        _check_float_params(params, "scale_by_rms")
        _warn_eps_underflow(params, eps, "scale_by_rms")
        nu = jax.tree.map(lambda p: jnp.full_like(p, initial_scale), params)
        return ScaleByRmsState(count=jnp.zeros([], jnp.int32), nu=nu)

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _check_state(state, ScaleByRmsState, "scale_by_rms")
        _check(updates, state.nu)
        nu = _moment_sq(updates, state.nu, decay)
        count = _safe_increment(state.count)
        nu_hat = _bias_correction(nu, decay, count) if bias_correction else nu
        scaling = _map(lambda n: _rms_scaling(n, eps, eps_in_sqrt), nu_hat)
        updates = _map(lambda g, s: s * g, updates, scaling)
        return updates, ScaleByRmsState(count=count, nu=nu)

    return Optimizer(init, update)


class ScaleByRStdDevState(NamedTuple):
    """State of `scale_by_stddev`."""

    # shape (), int32: steps taken (used when bias_correction=True)
    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count (optax's name)
    mu: PyTree  # like params, same dtypes: EMA of updates
    nu: PyTree  # like params, same dtypes: EMA of squared updates


def scale_by_stddev(
    decay: Any = 0.9,
    eps: Any = 1e-8,
    initial_scale: Any = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
) -> Optimizer:
    r"""Centered RMSProp scaling by an estimate of the gradient's standard deviation.

    .. math::

        \mu_t = \rho\,\mu_{t-1} + (1 - \rho)\, g_t, \qquad \mu_0 = 0,\\
        \nu_t = \rho\,\nu_{t-1} + (1 - \rho)\, g_t^2, \qquad
            \nu_0 = \text{initial\_scale},\\
        (\hat\mu_t, \hat\nu_t) = (\mu_t, \nu_t) / (1 - \rho^t)
            \text{ if bias\_correction},\\
        u_t = g_t / \sqrt{\hat\nu_t - \hat\mu_t^2 + \epsilon} \text{ (eps\_in\_sqrt) or }
              g_t / (\sqrt{\hat\nu_t - \hat\mu_t^2} + \epsilon).

    PyTorch's ``RMSprop(centered=True)`` puts ``eps`` outside the root.
    With ``bias_correction=True`` the first step has :math:`\hat\nu_1 - \hat\mu_1^2
    = g_1^2 - g_1^2`, zero up to rounding: the update is :math:`g_1/\sqrt{\epsilon}`,
    or NaN where rounding makes it negative and ``eps`` is too small to absorb
    it. This is optax's behaviour, reproduced as is.

    Raises:
      ValueError: as `scale_by_rms`.
    """
    _check_rms_args(decay, eps, initial_scale)

    def init(params):
        _check_float_params(params, "scale_by_stddev")
        _warn_eps_underflow(params, eps, "scale_by_stddev")
        mu = jax.tree.map(jnp.zeros_like, params)
        nu = jax.tree.map(lambda p: jnp.full_like(p, initial_scale), params)
        return ScaleByRStdDevState(count=jnp.zeros([], jnp.int32), mu=mu, nu=nu)

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _check_state(state, ScaleByRStdDevState, "scale_by_stddev")
        _check(updates, state.nu)
        mu = _moment(updates, state.mu, decay, 1)
        nu = _moment_sq(updates, state.nu, decay)
        count = _safe_increment(state.count)
        if bias_correction:
            mu_hat = _bias_correction(mu, decay, count)
            nu_hat = _bias_correction(nu, decay, count)
        else:
            mu_hat, nu_hat = mu, nu
        scaling = _map(lambda m, n: _rms_scaling(n - _abs_sq(m), eps, eps_in_sqrt), mu_hat, nu_hat)
        updates = _map(lambda g, s: s * g, updates, scaling)
        return updates, ScaleByRStdDevState(count=count, mu=mu, nu=nu)

    return Optimizer(init, update)


class ScaleByAdamState(NamedTuple):
    """State of `scale_by_adam`."""

    # shape (), int32: steps taken t
    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count (optax's name)
    mu: PyTree  # like params; dtype mu_dtype or the params' dtype: first moment m_t
    nu: PyTree  # like params, same dtypes: second moment v_t


def scale_by_adam(
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    eps_root: Any = 0.0,
    mu_dtype: Any = None,
    *,
    nesterov: bool = False,
) -> Optimizer:
    r"""Adam's scaling (Kingma & Ba, 2015), optionally with Nesterov momentum (NAdam).

    .. math::

        m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2,\\
        \hat m_t = m_t / (1 - \beta_1^t), \qquad \hat v_t = v_t / (1 - \beta_2^t),\\
        u_t = \hat m_t / \left(\sqrt{\hat v_t + \bar\epsilon} + \epsilon\right).

    With ``nesterov=True`` (Dozat, 2016), :math:`\hat m_t = \beta_1 m_t /
    (1 - \beta_1^{t+1}) + (1 - \beta_1)\, g_t / (1 - \beta_1^t)`.

    ``eps`` (:math:`\epsilon`) is **outside** the root, as in the paper and
    PyTorch; ``eps_root`` (:math:`\bar\epsilon`, default 0) is inside, for
    differentiating through the update. Keras-1 and TF1 add ``eps`` to the
    *uncorrected* :math:`\sqrt{v_t}` ("epsilon hat"), which is a different
    optimizer for the first few hundred steps.

    Low precision: with float16 parameters the default ``eps=1e-8`` underflows
    to 0 in the state's dtype, so a zero gradient gives :math:`0/0 =` NaN.
    jaxnn keeps optax's numbers on purpose and warns (``RuntimeWarning``) at
    ``init``; use ``eps >= 6e-8`` or float32 parameters.

    Raises:
      ValueError: if ``b1`` or ``b2`` is outside [0, 1) or ``eps``/``eps_root``
        is negative.
    """
    _check_hyperparam("b1", b1, low=0.0, high=1.0)
    _check_hyperparam("b2", b2, low=0.0, high=1.0)
    _check_hyperparam("eps", eps)
    _check_hyperparam("eps_root", eps_root)
    mu_dtype = _canonicalize_dtype(mu_dtype)

    def init(params):
        _check_float_params(params, "scale_by_adam")
        _warn_eps_underflow(params, eps, "scale_by_adam")
        mu = jax.tree.map(lambda p: jnp.zeros_like(p, dtype=mu_dtype), params)
        nu = jax.tree.map(jnp.zeros_like, params)
        return ScaleByAdamState(count=jnp.zeros([], jnp.int32), mu=mu, nu=nu)

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        _check_state(state, ScaleByAdamState, "scale_by_adam")
        _check(updates, state.nu)
        mu = _moment(updates, state.mu, b1, 1)
        nu = _moment_sq(updates, state.nu, b2)
        count = _safe_increment(state.count)
        if nesterov:
            mu_hat = _map(
                lambda m, g: b1 * m + (1 - b1) * g,
                _bias_correction(mu, b1, _safe_increment(count)),
                _bias_correction(updates, b1, count),
            )
        else:
            mu_hat = _bias_correction(mu, b1, count)
        nu_hat = _bias_correction(nu, b2, count)
        updates = _map(lambda m, v: m / (jnp.sqrt(v + eps_root) + eps), mu_hat, nu_hat)
        mu = _cast(mu, mu_dtype)
        nu = _map(lambda n, old: n.astype(old.dtype), nu, state.nu)
        return updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return Optimizer(init, update)
