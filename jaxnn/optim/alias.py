r"""Named optimizers: optax's aliases, built from the transforms in `transforms.py`.

Every alias has optax's name, arguments, defaults and numerics and returns an
`jaxnn.optim.base.Optimizer` whose ``update`` gives the step to *add*
to the parameters. Its state is the tuple of the chained transforms' states.

Conventions
-----------
* ``learning_rate`` (and ``weight_decay`` in `adamw`) is a number, a
  traced scalar or a schedule ``step -> value``; with a schedule a step
  counter lives in the state and the schedule is evaluated at 0 on the first
  update (optax's ``scale_by_schedule``).
* Other hyperparameters are numbers or traced scalars, so that a sweep over
  any of them is one ``jax.vmap`` of a compiled loop; boolean options
  (``nesterov``, ``centered``, ...) are static and select the code path.
* Concrete hyperparameters are validated when the optimizer is built: a
  negative learning rate, ``b1``/``b2`` outside [0, 1) or a negative ``eps``
  raise a ``ValueError`` naming the argument.
* Beyond the signatures of docs/design.md, optax's optional ``accumulator_dtype``
  (`sgd`) and ``mu_dtype`` (`adam`, `adamw`) are accepted in
  the same positions so that positional calls written for optax work.
* `noisy_sgd` requires a ``key`` (randomness is explicit in jaxnn; optax
  warns and uses seed 0).
* Each alias is an ``optax.GradientTransformationExtraArgs``: ``update``
  accepts optax's extra arguments (``value``, ``grad``, ...) and ignores them.
  Given the state of another optimizer, ``update`` raises a ``TypeError``
  naming the alias and the state class it expected.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jaxnn.optim.adaptive import (
    scale_by_adam,
    scale_by_rms,
    scale_by_rss,
    scale_by_stddev,
)
from jaxnn.optim.base import Optimizer, PyTree, ScalarOrSchedule
from jaxnn.optim.combine import _chain, identity, scale_by_learning_rate
from jaxnn.optim.noise import add_noise
from jaxnn.optim.transforms import add_decayed_weights, trace

__all__ = [
    "adagrad",
    "adam",
    "adamw",
    "momentum",
    "nesterov",
    "noisy_sgd",
    "rmsprop",
    "sgd",
]


def sgd(
    learning_rate: ScalarOrSchedule,
    momentum: Any = None,
    nesterov: bool = False,
    accumulator_dtype: Any = None,
) -> Optimizer:
    r"""Stochastic gradient descent, optionally with heavy-ball or Nesterov momentum.

    .. math::

        \text{momentum=None:}\quad \theta_t = \theta_{t-1} - \eta_t g_t,\\
        v_t = g_t + \beta v_{t-1},\ v_0 = 0;\quad
        \theta_t = \theta_{t-1} - \eta_t v_t \ \text{(heavy ball)},\quad
        \theta_t = \theta_{t-1} - \eta_t (g_t + \beta v_t) \ \text{(nesterov)}.

    The learning rate multiplies the momentum buffer (PyTorch's convention,
    ``dampening=0``). The Nesterov form is Sutskever's look-ahead method
    :math:`w_t = \beta w_{t-1} + \nabla L(\phi_{t-1} - \eta\beta w_{t-1})`,
    :math:`\phi_t = \phi_{t-1} - \eta w_t` in the variables
    :math:`\theta_t = \phi_t - \eta\beta w_t`, :math:`v_t = w_t`: same
    trajectory, gradients evaluated at the iterate itself (see
    `jaxnn.optim.transforms.trace`). ``nesterov`` is ignored when
    ``momentum`` is None.

    Example:
        ```python
        opt = sgd(0.1, momentum=0.9)
        state = opt.init(params)
        updates, state = opt.update(grads, state)
        params = apply_updates(params, updates)
        ```
    """
    tx = identity() if momentum is None else trace(momentum, nesterov, accumulator_dtype)
    return _chain(
        (tx, scale_by_learning_rate(learning_rate)),
        "sgd",
    )


def momentum(learning_rate: ScalarOrSchedule, beta: Any = 0.9) -> Optimizer:
    r"""Heavy-ball momentum: ``sgd(learning_rate, momentum=beta)``.

    .. math:: v_t = \beta v_{t-1} + g_t, \qquad \theta_t = \theta_{t-1} - \eta v_t.
    """
    return sgd(learning_rate, momentum=beta, nesterov=False)


def nesterov(learning_rate: ScalarOrSchedule, beta: Any = 0.9) -> Optimizer:
    r"""Nesterov momentum: ``sgd(learning_rate, momentum=beta, nesterov=True)``.

    .. math::

        v_t = \beta v_{t-1} + g_t, \qquad \theta_t = \theta_{t-1} - \eta (g_t + \beta v_t).

    This is the look-ahead form :math:`w_t = \beta w_{t-1} + \nabla
    L(\phi_{t-1} - \eta\beta w_{t-1})`, :math:`\phi_t = \phi_{t-1} - \eta w_t`
    after the change of variables :math:`\theta_t = \phi_t - \eta\beta w_t`,
    :math:`v_t = w_t` (so :math:`\theta_0 = \phi_0` since :math:`w_0 = 0`).
    """
    return sgd(learning_rate, momentum=beta, nesterov=True)


def adagrad(
    learning_rate: ScalarOrSchedule,
    initial_accumulator_value: Any = 0.1,
    eps: Any = 1e-7,
) -> Optimizer:
    r"""AdaGrad (Duchi et al., 2011).

    .. math::

        G_t = G_{t-1} + g_t^2,\ G_0 = 0.1, \qquad
        \theta_t = \theta_{t-1} - \eta_t\, g_t / \sqrt{G_t + \epsilon}.

    Differs from PyTorch's ``Adagrad``: the accumulator starts at **0.1**
    (PyTorch: 0) and ``eps`` is **inside** the root (PyTorch:
    :math:`g / (\sqrt{G} + 10^{-10})`).
    """
    return _chain(
        (
            scale_by_rss(initial_accumulator_value=initial_accumulator_value, eps=eps),
            scale_by_learning_rate(learning_rate),
        ),
        "adagrad",
    )


def rmsprop(
    learning_rate: ScalarOrSchedule,
    decay: Any = 0.9,
    eps: Any = 1e-8,
    initial_scale: Any = 0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    momentum: Any = None,
    nesterov: bool = False,
    bias_correction: bool = False,
) -> Optimizer:
    r"""RMSProp (Tieleman & Hinton, 2012), optionally centered and with momentum.

    .. math::

        \nu_t = \rho\nu_{t-1} + (1-\rho) g_t^2,\ \nu_0 = \text{initial\_scale};\quad
        \text{centered: } \mu_t = \rho\mu_{t-1} + (1-\rho) g_t,\
            \nu_t \to \nu_t - \mu_t^2;\\
        s_t = g_t / \sqrt{\nu_t + \epsilon} \ \text{(eps\_in\_sqrt)}
            \text{ or } g_t / (\sqrt{\nu_t} + \epsilon);\\
        \text{momentum=None: } \theta_t = \theta_{t-1} - \eta_t s_t;\qquad
        \text{else } b_t = \beta b_{t-1} + \eta_t s_t,\ \theta_t = \theta_{t-1} - b_t
        \ \text{(nesterov: } \theta_t = \theta_{t-1} - \eta_t s_t - \beta b_t).

    (with ``bias_correction``, :math:`\mu_t, \nu_t` are divided by
    :math:`1 - \rho^t` before use). Differences that trip people up:

    * the learning rate is applied **before** the momentum buffer (the buffer
      accumulates :math:`\eta_t s_t`, as TensorFlow/Keras do); PyTorch's
      ``RMSprop(momentum=...)`` accumulates :math:`s_t` and multiplies the
      buffer by :math:`\eta_t` (as `sgd` does here). The two agree for a
      constant learning rate and differ under a schedule;
    * ``eps`` is **inside** the root by default; PyTorch's ``RMSprop`` puts it
      outside (``eps_in_sqrt=False``), and its ``alpha=0.99`` is ``decay`` here
      (default 0.9);
    * the accumulator starts at ``initial_scale=0`` (PyTorch); TF1's
      ``RMSPropOptimizer`` starts it at 1.
    """
    scaling = scale_by_stddev if centered else scale_by_rms
    return _chain(
        (
            scaling(
                decay=decay,
                eps=eps,
                initial_scale=initial_scale,
                eps_in_sqrt=eps_in_sqrt,
                bias_correction=bias_correction,
            ),
            scale_by_learning_rate(learning_rate),
            trace(decay=momentum, nesterov=nesterov) if momentum is not None else identity(),
        ),
        "rmsprop",
    )


def adam(
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    eps_root: Any = 0.0,
    mu_dtype: Any = None,
    *,
    nesterov: bool = False,
) -> Optimizer:
    r"""Adam (Kingma & Ba, 2015); NAdam with ``nesterov=True``.

    .. math::

        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\quad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\\
        \theta_t = \theta_{t-1} - \eta_t\, \frac{m_t / (1-\beta_1^t)}
            {\sqrt{v_t / (1-\beta_2^t) + \bar\epsilon} + \epsilon}.

    ``eps`` is outside the root (paper, PyTorch); ``eps_root`` inside. See
    `jaxnn.optim.adaptive.scale_by_adam` for the Nesterov variant and
    for float16 parameters (the default ``eps`` underflows there; jaxnn
    follows optax and warns at ``init``).
    """
    return _chain(
        (
            scale_by_adam(
                b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype, nesterov=nesterov
            ),
            scale_by_learning_rate(learning_rate),
        ),
        "adam",
    )


def adamw(
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    eps_root: Any = 0.0,
    mu_dtype: Any = None,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: PyTree | Callable[[PyTree], PyTree] | None = None,
    *,
    nesterov: bool = False,
) -> Optimizer:
    r"""AdamW: Adam with decoupled weight decay (Loshchilov & Hutter, 2019).

    .. math::

        \theta_t = \theta_{t-1} - \eta_t \left( \frac{\hat m_t}{\sqrt{\hat v_t
            + \bar\epsilon} + \epsilon} + \lambda_t\, \theta_{t-1} \right)

    with :math:`\hat m_t, \hat v_t` as in `adam`. The decay is
    **multiplied by the learning rate** :math:`\eta_t` (optax and PyTorch);
    the paper multiplies it by the schedule multiplier only, so
    :math:`\lambda_\text{paper} = \eta\lambda`. It is *not* Adam on
    :math:`L + \tfrac{\lambda}{2}\|\theta\|^2`: there the decay term would be
    divided by :math:`\sqrt{\hat v_t}`. ``mask`` (a bool tree or
    ``params -> tree``) selects the leaves that decay; Adam acts on all.
    """
    return _chain(
        (
            scale_by_adam(
                b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype, nesterov=nesterov
            ),
            add_decayed_weights(weight_decay, mask),
            scale_by_learning_rate(learning_rate),
        ),
        "adamw",
    )


def noisy_sgd(
    learning_rate: ScalarOrSchedule,
    eta: Any = 0.01,
    gamma: Any = 0.55,
    key: Any = None,
) -> Optimizer:
    r"""SGD with annealed Gaussian gradient noise (Neelakantan et al., 2015).

    .. math::

        \theta_t = \theta_{t-1} - \eta_t \left(g_t + \sigma_t \xi_t\right),
        \qquad \sigma_t^2 = \text{eta} / t^{\gamma},\ \xi_t \sim \mathcal N(0, I).

    ``key`` is a typed key, a raw ``uint32[2]`` key or an int seed; the draws
    are bit for bit optax's for the same key (see
    `jaxnn.optim.noise.add_noise`). ``key`` is required.
    """
    return _chain(
        (add_noise(eta, gamma, key), scale_by_learning_rate(learning_rate)),
        "noisy_sgd",
    )
