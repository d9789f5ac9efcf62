"""Sanity checks and loss-curve diagnosis.

Loss curves are 1-D sequences of per-step (or per-epoch) losses: lists, numpy
or JAX arrays. The diagnosis runs on the host (numpy) and returns plain Python
values; it is meant for after training (or on `train_scan` histories), not for
traced code.

Sanity checks return a `SanityCheck(passed, value, expected, message)`:

* `initial_loss_check` -- at initialisation a classifier should be
  uncertain, so its cross-entropy is close to `log(C)` for `C` classes.
* `overfit_small_batch` -- a model and optimizer that work can drive the
  training loss close to zero on a handful of examples.
* `gradient_check` -- autodiff gradients agree with centered finite
  differences (via `jaxnn.gradcheck.check_grads`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import train

PyTree = Any

__all__ = [
    "SanityCheck",
    "first_nonfinite",
    "diagnose",
    "initial_loss_check",
    "overfit_small_batch",
    "gradient_check",
]


class SanityCheck(NamedTuple):
    """Outcome of a sanity check.

    Attributes:
      passed: whether the check passed.
      value: the measured quantity (a loss, a relative error).
      expected: the reference it was compared with (target value or bound).
      message: one sentence saying what was measured against what.
    """

    passed: bool
    value: float
    expected: float
    message: str

    def __bool__(self) -> bool:  # `assert check` reads naturally
        return bool(self.passed)


def _as_curve(losses: Any) -> np.ndarray:
    curve = np.asarray(jax.device_get(losses), dtype=np.float64)
    if curve.ndim != 1:
        raise ValueError(f"Expected a 1-D loss curve, got an array with shape {curve.shape}.")
    return curve


def first_nonfinite(losses: Any) -> int:
    """Index of the first NaN or +-inf in a 1-D loss curve, or -1 if all are finite.

    >>> first_nonfinite([1.0, 0.5, float("nan"), 0.1])
    2
    """
    bad = ~np.isfinite(_as_curve(losses))
    return int(np.argmax(bad)) if bad.any() else -1


def diagnose(
    losses: Any,
    *,
    window: int | None = None,
    decrease_rtol: float = 0.01,
    divergence_factor: float = 10.0,
    plateau_rtol: float = 0.01,
    oscillation_sign_fraction: float = 0.5,
    oscillation_rtol: float = 0.05,
    atol: float = 1e-8,
) -> dict:
    r"""Classify a loss curve.

    Let :math:`L_0..L_{T-1}` be the finite prefix of the curve (everything
    before the first non-finite entry), :math:`w` the window (default
    :math:`\max(1, \lfloor T/10 \rfloor)`), and
    :math:`h = \text{mean}(L_{0:w})`, :math:`t = \text{mean}(L_{T-w:T})`,
    :math:`p = \text{mean}(L_{T-2w:T-w})` the head, tail and previous-window
    means. With :math:`s = \max(|h|, \text{atol})`:

    * ``first_nonfinite_step``: `first_nonfinite(losses)` (-1 if none).
    * ``diverged``: a non-finite loss occurred, or the loss blew up:
      :math:`t - h > \text{divergence\_factor} \cdot s`.
    * ``decreased``: :math:`t < h - \text{decrease\_rtol} \cdot s`
      (the tail is at least 1 % below the head by default).
    * ``plateau``: the last two windows have nearly the same level,
      :math:`|t - p| \le \text{plateau\_rtol} \cdot \max(|p|, \text{atol})`
      (needs :math:`T \ge 2w`, i.e. :math:`T \ge 2`). A curve that is flat
      from the start is a plateau too (then ``decreased`` is False).
    * ``oscillation``: over the last half of the finite prefix, with
      differences :math:`d_i = L_{i+1} - L_i`, (a) at least
      `oscillation_sign_fraction` of consecutive pairs change sign
      (:math:`d_i d_{i+1} < 0`) and (b) the mean step :math:`\text{mean}|d_i|`
      is at least `oscillation_rtol` times the mean level
      :math:`\text{mean}|L_i|` (needs at least 4 points). Minibatch noise of
      that size counts too: pass per-epoch means to look for genuine
      zig-zagging of the iterate.

    Args:
      losses: 1-D sequence of losses.
      window: the window :math:`w` (default :math:`\max(1, \lfloor T/10 \rfloor)`).
      decrease_rtol: the relative drop that counts as ``decreased``.
      divergence_factor: the relative rise that counts as ``diverged``.
      plateau_rtol: the relative level change below which it is a ``plateau``.
      oscillation_sign_fraction: the fraction of sign changes of an ``oscillation``.
      oscillation_rtol: the relative mean step of an ``oscillation``.
      atol: the floor of the scales :math:`s` and :math:`\max(|p|, \text{atol})`.

    Returns:
      dict with the five keys above plus ``num_finite`` (T), ``initial`` (h) and
      ``final`` (t) (NaN when T = 0).
    """
    curve = _as_curve(losses)
    first_bad = first_nonfinite(curve)
    finite = curve if first_bad < 0 else curve[:first_bad]
    T = len(finite)
    out = {
        "diverged": first_bad >= 0,
        "first_nonfinite_step": first_bad,
        "plateau": False,
        "oscillation": False,
        "decreased": False,
        "num_finite": T,
        "initial": math.nan,
        "final": math.nan,
    }
    if T == 0:
        return out
    w = max(1, T // 10) if window is None else int(window)
    if w < 1:
        raise ValueError(f"`window` must be a positive integer, got {window!r}.")
    w = min(w, T)
    head, tail = float(finite[:w].mean()), float(finite[-w:].mean())
    scale = max(abs(head), atol)
    out["initial"], out["final"] = head, tail
    out["diverged"] = bool(out["diverged"] or tail - head > divergence_factor * scale)
    out["decreased"] = bool(tail < head - decrease_rtol * scale)
    if T >= 2 * w:
        prev = float(finite[-2 * w : -w].mean())
        out["plateau"] = bool(abs(tail - prev) <= plateau_rtol * max(abs(prev), atol))
    last = finite[T // 2 :]
    if len(last) >= 4:
        d = np.diff(last)
        sign_changes = float(np.mean(d[:-1] * d[1:] < 0))
        level = max(float(np.mean(np.abs(last))), atol)
        out["oscillation"] = bool(
            sign_changes >= oscillation_sign_fraction
            and float(np.mean(np.abs(d))) >= oscillation_rtol * level
        )
    return out


def initial_loss_check(
    logits: Any, num_classes: int, labels: Any = None, *, rtol: float = 0.1
) -> SanityCheck:
    r"""Check that the cross-entropy at initialisation is close to :math:`\log C`.

    With `labels` (integer ids) the measured value is the mean softmax
    cross-entropy :math:`-\frac1n\sum_i \log \mathrm{softmax}(z_i)_{y_i}`;
    without, it is the cross-entropy against uniform targets,
    :math:`-\frac1{nC}\sum_{i,c} \log \mathrm{softmax}(z_i)_c` (which is
    :math:`\ge \log C`, with equality for uniform predictions). The check passes
    when :math:`|\text{value} - \log C| \le \text{rtol} \cdot \log C`. A much
    larger value usually means the last layer's initial weights are too large
    (over-confident logits).

    Args:
      logits: `(n, C)` model outputs at initialisation.
      num_classes: C.
      labels: optional `(n,)` integer class ids.
      rtol: relative tolerance around `log(C)`.
    """
    logits = jnp.asarray(logits)
    if logits.ndim != 2 or logits.shape[-1] != num_classes:
        raise ValueError(f"Expected logits of shape (n, {num_classes}), got shape {logits.shape}.")
    log_p = jax.nn.log_softmax(logits, axis=-1)
    if labels is None:
        value = float(-jnp.mean(log_p))
    else:
        labels = jnp.asarray(labels)
        if labels.shape != logits.shape[:1]:
            raise ValueError(
                f"Expected integer labels of shape {logits.shape[:1]}, got shape {labels.shape}."
            )
        value = float(-jnp.mean(jnp.take_along_axis(log_p, labels[:, None], axis=-1)))
    expected = math.log(num_classes)
    passed = abs(value - expected) <= rtol * expected
    verdict = "within" if passed else "outside"
    return SanityCheck(
        passed,
        value,
        expected,
        f"Initial cross-entropy {value:.4g} is {verdict} {rtol:.0%} of log({num_classes}) "
        f"= {expected:.4g}.",
    )


def overfit_small_batch(
    loss_fn: Callable,
    optimizer: Any,
    params: PyTree,
    batch: tuple,
    *,
    key: jax.Array | None = None,
    num_steps: int = 300,
    threshold: float = 0.01,
    model_state: PyTree = (),
) -> SanityCheck:
    """Check that `optimizer` can drive `loss_fn` below `threshold` on one small batch.

    Trains with `jaxnn.train.train_scan` for `num_steps` full-batch steps on
    `batch` (a tuple of arrays, e.g. `(x[:8], y[:8])`), then evaluates the loss
    once more at the final parameters. Failing it points to a bug in the
    model, the loss or the optimizer wiring (or too few steps / too small a
    learning rate) rather than to generalisation.

    Args:
      loss_fn: canonical `loss_fn(params, model_state, batch, key)`, e.g.
        `jaxnn.train.supervised_loss(model)`.
      optimizer: any optax-protocol `(init, update)` pair.
      params: initial parameters.
      model_state: initial model state.
      batch: tuple of arrays with a common (small) leading dimension.
      key: PRNG key (default `jax.random.key(0)`).
      num_steps: number of steps.
      threshold: the final loss must be at most this.
    """
    key = jax.random.key(0) if key is None else key
    n = int(np.shape(batch[0])[0])
    state, _ = train.train_scan(
        loss_fn,
        optimizer,
        params,
        tuple(batch),
        key=key,
        num_steps=num_steps,
        batch_size=n,
        model_state=model_state,
    )
    final, _ = loss_fn(state.params, state.model_state, tuple(batch), key)
    value = float(final)
    passed = bool(np.isfinite(value) and value <= threshold)
    verb = "reached" if passed else "did not reach"
    return SanityCheck(
        passed,
        value,
        float(threshold),
        f"After {num_steps} steps on a batch of {n} examples the loss is {value:.4g}; "
        f"it {verb} the threshold {threshold:g}.",
    )


def gradient_check(
    f: Callable[[PyTree], jax.Array],
    params: PyTree,
    *,
    eps: float | None = None,
    tol: float = 1e-5,
) -> SanityCheck:
    """Check `jax.grad(f)` against centered finite differences (`jaxnn.gradcheck`).

    Passes when the largest relative error reported by
    `jaxnn.gradcheck.check_grads(f, params, eps)` is at most `tol` (`eps=None`
    uses gradcheck's per-dtype step). Use float64 (`jax.enable_x64`) -- in
    float32 centered differences are only good to about 1e-3.
    """
    from jaxnn.gradcheck import check_grads

    result = check_grads(f, params, eps=eps)
    value = float(result.max_rel_error)
    passed = bool(value <= tol)
    where = f" (worst at {result.path}, index {result.index})" if not passed else ""
    return SanityCheck(
        passed,
        value,
        float(tol),
        f"Largest relative error between autodiff and finite-difference gradients is "
        f"{value:.3g}{where}; tolerance {tol:g}.",
    )
