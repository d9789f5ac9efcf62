"""Learning-rate tuning by one vmapped sweep over a log grid.

A tuned hyperparameter is picked, never hand-set: the caller writes
`make_curve(lr) -> losses`, a pure function of a *traced* scalar learning rate
(build the optimizer inside it, e.g. ``jaxnn.optim.sgd(lr)``), and
`tune_learning_rate` evaluates it for every rate of the grid at once with
``jax.jit(jax.vmap(make_curve))`` and picks the rate whose curve scores best
(lowest) under a `criterion`:

```python
from jaxnn import objectives, optim, train, tuning

f = objectives.rosenbrock
grid = tuning.log_grid(1e-4, 1e-2, 9)
result = tuning.tune_learning_rate(
    lambda lr: train.optimize(f, optim.sgd(lr), jnp.array([-1.0, 1.0]), 500)[1]["loss"],
    grid, tuning.steps_to(1e-2))
result.pick, result.numbers()   # the rate, and the grid/scores to save
```

A criterion maps the stacked curves, shape `(len(grid), T)`, to one score per
rate; a curve with a non-finite value (a diverged run) scores `inf`, so it is
never picked. Ties are broken by the lower final loss, then by the smaller rate.

`jaxnn.suite` tunes every optimizer of its benchmark with these criteria
(`final_loss`, `steps_to`); the experiments pick their rates with
`tune_learning_rate`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import diagnostics

__all__ = [
    "Criterion",
    "TuneResult",
    "final_loss",
    "log_grid",
    "mean_log_loss",
    "steps_to",
    "sweep",
    "tail_mean",
    "tune_learning_rate",
]

Criterion = Callable[[np.ndarray], np.ndarray]


def log_grid(low: float, high: float, num: int) -> np.ndarray:
    r"""`num` rates spaced evenly in log10 between `low` and `high` (both included).

    .. math:: \eta_i = 10^{\log_{10} low + i (\log_{10} high - \log_{10} low) / (num - 1)}

    Args:
      low: the smallest rate, > 0.
      high: the largest rate, >= `low`.
      num: the number of rates, >= 1.

    Returns:
      A float64 array of shape `(num,)`.
    """
    if not (np.isfinite(low) and np.isfinite(high) and 0 < low <= high):
        raise ValueError(
            f"log_grid needs finite rates with 0 < low <= high, got low={low!r}, high={high!r}."
        )
    if isinstance(num, bool) or not isinstance(num, (int, np.integer)) or num < 1:
        raise ValueError(f"log_grid needs an integer num >= 1, got num={num!r}.")
    return np.logspace(np.log10(low), np.log10(high), int(num))


def final_loss(curves: np.ndarray) -> np.ndarray:
    """Score = the last loss of each curve (`inf` when the curve has a non-finite value)."""
    curves = np.asarray(curves, np.float64)
    return np.where(np.all(np.isfinite(curves), axis=-1), curves[..., -1], np.inf)


def tail_mean(fraction: float = 0.1) -> Criterion:
    """Score = mean loss over the last `fraction` of the run (for noisy minibatch curves).

    Args:
      fraction: the share of the curve averaged, in (0, 1].

    Returns:
      A criterion `curves (G, T) -> scores (G,)`.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"tail_mean needs a fraction in (0, 1], got fraction={fraction!r}.")

    def criterion(curves: np.ndarray) -> np.ndarray:
        curves = np.asarray(curves, np.float64)
        k = max(1, int(round(fraction * curves.shape[-1])))
        finite = np.all(np.isfinite(curves), axis=-1)
        tail = np.where(finite[..., None], curves[..., -k:], 0.0)
        return np.where(finite, tail.mean(axis=-1), np.inf)

    criterion.__name__ = f"tail_mean({fraction:g})"
    return criterion


def mean_log_loss(curves: np.ndarray) -> np.ndarray:
    """Score = mean of log10(loss) over the run: rewards getting low early and staying low.

    Only meaningful for positive losses (use `loss - min_value`).
    """
    curves = np.asarray(curves, np.float64)
    finite = np.all(np.isfinite(curves), axis=-1) & np.all(curves > 0, axis=-1)
    safe = np.where(finite[..., None], curves, 1.0)
    return np.where(finite, np.mean(np.log10(safe), axis=-1), np.inf)


def steps_to(threshold: float, *, stay: bool = False) -> Criterion:
    """Score = the first step at which the loss is `<= threshold` (`inf` if never).

    With `stay=True`, the first step from which the loss stays `<= threshold`
    until the end of the run: an optimizer that touches the threshold once and
    bounces back above it (a constant-rate RMSProp/Adam orbit) does not count.

    Args:
      threshold: the loss to reach (a finite number).
      stay: count only a step from which the loss stays below `threshold`.

    Returns:
      A criterion `curves (G, T) -> scores (G,)`.
    """
    if not np.isfinite(threshold):
        raise ValueError(f"steps_to needs a finite threshold, got threshold={threshold!r}.")

    def criterion(curves: np.ndarray) -> np.ndarray:
        curves = np.asarray(curves, np.float64)
        finite = np.all(np.isfinite(curves), axis=-1)
        below = np.where(np.isfinite(curves), curves, np.inf) <= threshold
        if stay:  # below from t on: a reversed cumulative AND
            below = np.flip(np.logical_and.accumulate(np.flip(below, -1), axis=-1), -1)
        first = np.argmax(below, axis=-1).astype(np.float64)
        return np.where(finite & np.any(below, axis=-1), first, np.inf)

    criterion.__name__ = f"steps_to({threshold:g}{', stay=True' if stay else ''})"
    return criterion


class TuneResult(NamedTuple):
    """The outcome of a sweep: every rate's curve and score, and the pick."""

    grid: np.ndarray  # (G,) learning rates tried
    curves: np.ndarray  # (G, T) loss curve of each rate
    scores: np.ndarray  # (G,) criterion per rate, lower is better, inf = diverged/never
    diverged: np.ndarray  # (G,) bool, a non-finite loss somewhere in the curve
    index: int  # type: ignore[assignment]  # position of the pick in `grid` (shadows tuple.index)
    pick: float  # the tuned learning rate
    criterion: str  # the criterion's name
    aux: Any = None  # with has_aux: the auxiliary outputs, stacked over the grid (numpy)

    def numbers(self) -> dict[str, Any]:
        """What to save: the grid, each rate's score and divergence, and the pick."""
        return {
            "criterion": self.criterion,
            "grid": self.grid,
            "scores": self.scores,
            "diverged": self.diverged,
            "pick": self.pick,
        }


def sweep(make_curve: Callable[[jax.Array], Any], grid: np.ndarray) -> Any:
    """`make_curve` evaluated at every row of `grid` in one `jit(vmap(...))` call.

    Unlike `jaxnn.train.sweep` (a cartesian product of 1-D axes, chunked), the
    rows here may themselves be vectors (e.g. `(lr, rate)` pairs), and the whole
    grid is one vmapped batch: the learning-rate grids of a tuning run are small.

    Args:
      make_curve: a pure function of one traced row of `grid` (a scalar for a 1-D grid).
      grid: the array of values, one per row.

    Returns:
      `make_curve`'s output pytree, stacked over the grid, as numpy arrays.
    """
    if not callable(make_curve):
        raise TypeError(f"make_curve must be a function lr -> losses, got {make_curve!r}.")
    values = jnp.asarray(np.asarray(grid), dtype=jnp.result_type(float))
    return jax.tree.map(np.asarray, jax.jit(jax.vmap(make_curve))(values))


def _check_grid(grid: Any) -> np.ndarray:
    grid = np.asarray(grid, np.float64)
    if grid.ndim != 1 or grid.size == 0:
        raise ValueError(
            f"The grid must be a non-empty 1-D array of rates, got shape {grid.shape}."
        )
    if not np.all(np.isfinite(grid)):
        raise ValueError(f"The grid must hold finite rates, got {grid.tolist()}.")
    return grid


def tune_learning_rate(
    make_curve: Callable[[jax.Array], Any],
    grid: np.ndarray,
    criterion: Criterion = final_loss,
    *,
    has_aux: bool = False,
) -> TuneResult:
    r"""Sweep `make_curve` over `grid` with one vmap and pick the best-scoring rate.

    .. math:: \eta^* = \arg\min_{\eta \in grid} \text{criterion}(\text{make\_curve}(\eta))

    (ties: the lower final loss, then the smaller rate).

    Args:
      make_curve: `lr -> losses` (1-D), pure and traceable in `lr` (a traced
        scalar); with `has_aux`, `lr -> (losses, aux)` where `aux` is any pytree
        (trajectories, other runs) returned stacked over the grid in `result.aux`.
      grid: 1-D array of learning rates, e.g. `log_grid(1e-3, 1, 16)`.
      criterion: curves `(G, T)` -> scores `(G,)`, lower is better.
      has_aux: whether `make_curve` returns `(losses, aux)`.

    Returns:
      A `TuneResult`. If every rate diverged (all scores `inf`), the pick is the
      smallest rate of the grid; check `result.scores` before relying on it.

    Example:
        ```python
        grid = log_grid(1e-3, 1.0, 7)
        result = tune_learning_rate(lambda lr: (1 - lr) ** (2 * jnp.arange(10.0)), grid)
        ```
    """
    grid = _check_grid(grid)
    if not callable(criterion):
        raise TypeError(f"criterion must be a function curves -> scores, got {criterion!r}.")
    out = sweep(make_curve, grid)
    curves, aux = out if has_aux else (out, None)
    curves = np.asarray(curves)
    if curves.ndim != 2 or curves.shape[0] != grid.size:
        raise ValueError(
            f"make_curve must return a 1-D loss curve; the sweep returned shape {curves.shape} "
            f"for a grid of {grid.size} rates."
        )
    scores = np.asarray(criterion(curves), np.float64)
    if scores.shape != grid.shape:
        raise ValueError(
            f"criterion must return one score per rate, shape {grid.shape}; got {scores.shape}."
        )
    diverged = np.array([diagnostics.first_nonfinite(c) >= 0 for c in curves])
    last = np.where(np.isfinite(curves[:, -1]), curves[:, -1], np.inf)
    index = int(np.lexsort((grid, last, scores))[0])
    name = getattr(criterion, "__name__", "criterion")
    return TuneResult(grid, curves, scores, diverged, index, float(grid[index]), name, aux)
