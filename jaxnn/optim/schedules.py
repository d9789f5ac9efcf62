r"""Schedules: functions `step -> value` for annealing a hyperparameter.

Names, arguments, defaults and numerics are optax's (`optax.schedules`); every
formula below is evaluated with the same operations in the same order, so the
values agree with optax's to the last bit or two in float32 and float64.

Conventions:

* `step` is the number of updates already applied (0 for the first update), a
  Python int or an integer array; the schedule is traceable in `step`.
* **Values** (`init_value`, `end_value`, `peak_value`, `alpha`, `exponent`,
  `decay_rate`, the scales of a piecewise schedule) may be Python numbers or
  traced JAX scalars, so a sweep over, say, the peak learning rate is one
  `jax.vmap`. Step counts (`transition_steps`, `decay_steps`, `warmup_steps`,
  `transition_begin`, join `boundaries`) may be traced too; the keys of
  `boundaries_and_scales` must be Python numbers (they are dict keys).
  No schedule uses Python control flow on a traced argument: where optax
  branches in Python on a value, we branch with `jnp.where`, which gives the
  same numbers.
* Concrete bad arguments raise a `ValueError` naming the argument when the
  schedule is built. Traced arguments cannot be checked without a host sync
  and are taken as given.

Differences from optax (all on arguments that optax accepts silently or only
logs about, where its result is not what the caller asked for):

* `transition_steps < 0` (linear, exponential) and `transition_begin < 0`
  raise; optax logs and falls back to a constant schedule / to 0.
  `transition_steps == 0` still gives optax's constant `init_value` schedule.
* `exponential_decay` with `decay_rate <= 0` raises (optax documents "must not
  be zero" and returns a constant for 0; a negative rate gives NaN).
* `warmup_cosine_decay_schedule` with `warmup_steps < 0` raises; with
  `decay_steps <= warmup_steps` it raises like optax, but naming the arguments.
* `join_schedules` checks `len(boundaries) == len(schedules) - 1` and that
  concrete boundaries are non-decreasing (optax silently zips).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax.numpy as jnp

from jaxnn.optim._checks import _is_concrete_number
from jaxnn.optim.base import Schedule

__all__ = [
    "constant_schedule",
    "linear_schedule",
    "exponential_decay",
    "cosine_decay_schedule",
    "warmup_cosine_decay_schedule",
    "piecewise_constant_schedule",
    "join_schedules",
]

Value = Any  # a Python number or a (possibly traced) JAX scalar


def _concrete(value: Any) -> float | None:
    """`float(value)` for a concrete scalar, `None` for a traced one."""
    return float(value) if _is_concrete_number(value) else None


def _check_nonnegative(name: str, value: Any, fn: str) -> None:
    v = _concrete(value)
    if v is not None and not v >= 0:
        raise ValueError(f"`{fn}` expects `{name}` >= 0, got {name}={value!r}.")


def _check_positive(name: str, value: Any, fn: str, hint: str = "") -> None:
    v = _concrete(value)
    if v is not None and not v > 0:
        raise ValueError(f"`{fn}` expects `{name}` > 0, got {name}={value!r}.{hint}")


def constant_schedule(value: Value) -> Schedule:
    r"""A schedule that always returns `value`.

    .. math:: v(t) = c

    Examples:
      >>> constant_schedule(0.1)(1000)
      0.1
    """

    def schedule(count):
        del count
        return value

    return schedule


def linear_schedule(
    init_value: Value,
    end_value: Value,
    transition_steps: int,
    transition_begin: int = 0,
) -> Schedule:
    r"""Linear interpolation from `init_value` to `end_value` over `transition_steps`.

    With :math:`I` = `init_value`, :math:`E` = `end_value`, :math:`B` =
    `transition_begin` and :math:`T` = `transition_steps`:

    .. math::
        v(t) = (I - E)\left(1 - \frac{\operatorname{clip}(t - B, 0, T)}{T}\right) + E

    i.e. `I` for `t <= B`, `E` for `t >= B + T`, linear in between.
    `transition_steps == 0` gives the constant schedule `I` (as optax).

    Args:
      init_value: value before and at `transition_begin`.
      end_value: value from `transition_begin + transition_steps` on.
      transition_steps: length of the transition, `>= 0`.
      transition_begin: steps to hold `init_value` first, `>= 0`.

    Examples:
      >>> float(linear_schedule(1.0, 0.0, 10)(5))
      0.5
    """
    fn = "linear_schedule"
    _check_nonnegative("transition_steps", transition_steps, fn)
    _check_nonnegative("transition_begin", transition_begin, fn)
    steps = _concrete(transition_steps)
    if steps == 0:
        return constant_schedule(init_value)
    begin: Any = transition_begin  # an int, or a traced scalar clamped at 0 below
    if _concrete(begin) is None:
        begin = jnp.maximum(begin, 0)

    def schedule(count):
        if steps is not None:
            c = jnp.clip(count - begin, 0, transition_steps)
            frac = 1 - c / transition_steps
            return (init_value - end_value) * frac + end_value
        # Traced transition_steps: optax's "non-positive -> constant" with jnp.where.
        positive = transition_steps > 0
        safe_steps = jnp.where(positive, transition_steps, 1)
        c = jnp.clip(count - begin, 0, safe_steps)
        frac = 1 - c / safe_steps
        return jnp.where(positive, (init_value - end_value) * frac + end_value, init_value)

    return schedule


def exponential_decay(
    init_value: Value,
    transition_steps: int,
    decay_rate: Value,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: Value | None = None,
) -> Schedule:
    r"""Exponential decay; with `staircase=True` it is *step decay*.

    With :math:`I` = `init_value`, :math:`r` = `decay_rate`, :math:`B` =
    `transition_begin` and :math:`T` = `transition_steps`:

    .. math::
        p(t) = \frac{t - B}{T}\quad(\lfloor\cdot\rfloor \text{ if staircase}),\qquad
        v(t) = \begin{cases} I & t \le B \\ I\, r^{p(t)} & t > B \end{cases}

    `staircase=True` is step decay: the value is multiplied by `r` once every
    `T` steps (e.g. `exponential_decay(0.1, 30, 0.1, staircase=True)` divides
    the learning rate by 10 every 30 steps). If `end_value` is given the result
    is clipped to it: `max(v, end_value)` when `r < 1` (a floor), `min(v,
    end_value)` otherwise (a ceiling).

    Args:
      init_value: the initial value.
      transition_steps: steps per factor of `decay_rate`, `>= 0`; 0 gives the
        constant schedule `init_value` (as optax).
      decay_rate: the decay factor, `> 0`.
      transition_begin: steps to hold `init_value` first, `>= 0`.
      staircase: decay in discrete jumps (step decay) instead of continuously.
      end_value: optional floor (`r < 1`) or ceiling (`r >= 1`).

    Examples:
      >>> sched = exponential_decay(1.0, transition_steps=10, decay_rate=0.5, staircase=True)
      >>> float(sched(19)), float(sched(20))
      (0.5, 0.25)
    """
    fn = "exponential_decay"
    _check_nonnegative("transition_steps", transition_steps, fn)
    _check_nonnegative("transition_begin", transition_begin, fn)
    _check_positive("decay_rate", decay_rate, fn)
    steps = _concrete(transition_steps)
    if steps == 0:
        return constant_schedule(init_value)
    rate = _concrete(decay_rate)
    begin: Any = transition_begin  # an int, or a traced scalar clamped at 0 below
    if _concrete(begin) is None:
        begin = jnp.maximum(begin, 0)

    def schedule(count):
        safe_steps = transition_steps
        if steps is None:
            safe_steps = jnp.where(transition_steps > 0, transition_steps, 1)
        decreased_count = count - begin
        p = decreased_count / safe_steps
        if staircase:
            p = jnp.floor(p)
        value = jnp.where(decreased_count <= 0, init_value, init_value * jnp.power(decay_rate, p))
        if end_value is not None:
            if rate is not None:
                value = (jnp.maximum if rate < 1.0 else jnp.minimum)(value, end_value)
            else:
                value = jnp.where(
                    decay_rate < 1.0,
                    jnp.maximum(value, end_value),
                    jnp.minimum(value, end_value),
                )
        if rate is None:  # optax: a zero rate gives the constant schedule
            value = jnp.where(decay_rate == 0, init_value, value)
        if steps is None:
            value = jnp.where(transition_steps > 0, value, init_value)
        return value

    return schedule


def cosine_decay_schedule(
    init_value: Value,
    decay_steps: int,
    alpha: Value = 0.0,
    exponent: Value = 1.0,
) -> Schedule:
    r"""Cosine decay from `init_value` to `alpha * init_value` over `decay_steps`.

    With :math:`I` = `init_value`, :math:`T` = `decay_steps`, :math:`p` =
    `exponent` and :math:`\tau = \min(t, T)`:

    .. math::
        v(t) = I\left[(1 - \alpha)\left(\tfrac12\left(1 + \cos\tfrac{\pi \tau}{T}\right)\right)^{p}
               + \alpha\right]

    so `v(0) = I` and `v(t) = alpha * I` for `t >= T` (Loshchilov & Hutter, SGDR).

    Args:
      init_value: the initial value.
      decay_steps: length of the decay, `> 0`.
      alpha: final value as a fraction of `init_value`.
      exponent: power applied to the cosine factor.

    Examples:
      >>> round(float(cosine_decay_schedule(1.0, 100, alpha=0.1)(100)), 6)
      0.1
    """
    _check_positive("decay_steps", decay_steps, "cosine_decay_schedule")
    # Python ints become floats (no int32 overflow in jitted code), as in optax.
    steps = float(decay_steps) if isinstance(decay_steps, int) else decay_steps

    def schedule(count):
        count = float(count) if isinstance(count, int) else count
        count = jnp.minimum(count, steps)
        cosine_decay = 0.5 * (1 + jnp.cos(jnp.pi * count / steps))
        decayed = (1 - alpha) * cosine_decay**exponent + alpha
        return init_value * decayed

    return schedule


def warmup_cosine_decay_schedule(
    init_value: Value,
    peak_value: Value,
    warmup_steps: int,
    decay_steps: int,
    end_value: Value = 0.0,
    exponent: Value = 1.0,
) -> Schedule:
    r"""Linear warmup from `init_value` to `peak_value`, then cosine decay to `end_value`.

    With :math:`W` = `warmup_steps`, :math:`D` = `decay_steps` (the total
    length, warmup included) and :math:`\alpha = E / P` (0 when `P = 0`):

    .. math::
        v(t) = \begin{cases}
            \text{linear\_schedule}(I, P, W)(t) & t < W \\
            \text{cosine\_decay\_schedule}(P, D - W, \alpha, p)(t - W) & t \ge W
        \end{cases}

    so `v(W) = P` (the peak) and `v(t) = E` for `t >= D`.

    Args:
      init_value: value at step 0.
      peak_value: value at the end of the warmup (may be traced: a vmap over
        the peak learning rate works).
      warmup_steps: length of the linear warmup, `>= 0`.
      decay_steps: total length of the schedule, `> warmup_steps`.
      end_value: value from `decay_steps` on.
      exponent: power applied to the cosine factor.

    Examples:
      >>> sched = warmup_cosine_decay_schedule(0.0, 1.0, warmup_steps=10, decay_steps=100)
      >>> float(sched(10)), float(sched(100))
      (1.0, 0.0)
    """
    fn = "warmup_cosine_decay_schedule"
    _check_nonnegative("warmup_steps", warmup_steps, fn)
    w, d = _concrete(warmup_steps), _concrete(decay_steps)
    if w is not None and d is not None and not d > w:
        raise ValueError(
            f"`{fn}` expects `decay_steps` (the total length, warmup included) to exceed "
            f"`warmup_steps`, got decay_steps={decay_steps!r}, warmup_steps={warmup_steps!r}."
        )
    peak = _concrete(peak_value)
    if peak is not None:
        alpha = 0.0 if peak == 0.0 else end_value / peak_value
    else:
        is_zero = peak_value == 0.0
        alpha = jnp.where(is_zero, 0.0, end_value / jnp.where(is_zero, 1.0, peak_value))
    schedules = [
        linear_schedule(init_value=init_value, end_value=peak_value, transition_steps=warmup_steps),
        cosine_decay_schedule(
            init_value=peak_value,
            decay_steps=decay_steps - warmup_steps,
            alpha=alpha,
            exponent=exponent,
        ),
    ]
    return join_schedules(schedules, [warmup_steps])


def piecewise_constant_schedule(
    init_value: Value,
    boundaries_and_scales: Mapping[int, Value] | None = None,
) -> Schedule:
    r"""`init_value` times the product of the scales whose boundary has been reached.

    .. math:: v(t) = I \prod_{i:\, t \ge b_i} s_i

    for `boundaries_and_scales = {b_i: s_i}`; the scale `s_i` applies from
    step `b_i` on (inclusive).

    Args:
      init_value: value before the first boundary.
      boundaries_and_scales: `{step: scale}`; scales must be `>= 0`.

    Examples:
      >>> sched = piecewise_constant_schedule(1.0, {100: 0.1, 200: 0.1})
      >>> [round(float(sched(t)), 6) for t in (99, 100, 200)]
      [1.0, 0.1, 0.01]
    """
    items = sorted(boundaries_and_scales.items()) if boundaries_and_scales else []
    for boundary, scale in items:
        s = _concrete(scale)
        if s is not None and not s >= 0:
            raise ValueError(
                "`piecewise_constant_schedule` expects non-negative scales in "
                f"`boundaries_and_scales`, got scale {scale!r} at boundary {boundary!r}."
            )

    def schedule(count):
        v = init_value
        for threshold, scale in items:
            indicator = jnp.maximum(0.0, jnp.sign(threshold - count))  # 1 before, 0 from it on
            v = v * indicator + (1 - indicator) * scale * v
        return v

    return schedule


def join_schedules(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Schedule:
    r"""Run `schedules[0]` until `boundaries[0]`, then `schedules[1]`, and so on.

    .. math:: v(t) = s_k(t - b_k)\quad\text{for } b_k \le t < b_{k+1}

    with :math:`b_0 = 0`: each schedule after the first receives the number of
    steps since *its* boundary (optax's offset), so `schedules[k]` starts
    from its own step 0 at `boundaries[k - 1]`.

    Args:
      schedules: `n >= 1` schedules.
      boundaries: `n - 1` non-decreasing steps at which to switch.

    Examples:
      >>> sched = join_schedules([constant_schedule(1.0), linear_schedule(1.0, 0.0, 10)], [5])
      >>> float(sched(4)), float(sched(10))
      (1.0, 0.5)
    """
    schedules, boundaries = list(schedules), list(boundaries)
    if not schedules:
        raise ValueError("`join_schedules` expects at least one schedule, got none.")
    if len(boundaries) != len(schedules) - 1:
        raise ValueError(
            "`join_schedules` expects one boundary fewer than schedules, got "
            f"{len(schedules)} schedules and {len(boundaries)} boundaries."
        )
    concrete = [_concrete(b) for b in boundaries]
    for prev, nxt in zip(concrete[:-1], concrete[1:], strict=True):
        if prev is not None and nxt is not None and nxt < prev:
            raise ValueError(
                f"`join_schedules` expects non-decreasing `boundaries`, got {boundaries!r}."
            )
    fns: list[Callable] = schedules

    def schedule(step):
        output = fns[0](step)
        for boundary, fn in zip(boundaries, fns[1:], strict=True):
            output = jnp.where(step < boundary, output, fn(step - boundary))
        return output

    return schedule
