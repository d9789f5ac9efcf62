"""Fair wall-clock timing of JAX programs, and speed targets decided within the noise.

Timing rules (applied by `time_interleaved`):

1. every candidate is called once first, so compilation is not timed;
2. each call ends with `jax.block_until_ready` on its output;
3. the candidates being compared are interleaved (A, B, A, B, ...) so a
   slow period of the machine hits both sides alike;
4. each candidate is repeated and both the minimum and the median are kept;
   ratios are computed from the same run (min over min, median over median).

A speed target such as "ours / peer <= 1" is decided by `ratio_target`
against the *interval* of the ratio measured in the same run, not its point
value: round `i` of the interleaved loop gives one paired ratio
`r_i = ours_i / peer_i`, and the target is met when `[min_i r_i, max_i r_i]`
reaches it. Two identical programs then meet "<= 1" however the machine
jitters, while a program that is slower in every round does not. The peer's
own spread, `(max - min) / median` of its repeated timings, and the machine
load (`os.getloadavg`) are reported next to the verdict.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any

import jax
import numpy as np

__all__ = ["Timing", "machine_load", "ratio_target", "time_interleaved"]


class Timing(dict):
    """`{"min": s, "median": s, "repeats": n, "all": [...]}` for one candidate (seconds)."""


def time_interleaved(
    candidates: Mapping[str, Callable[[], Any]], repeats: int, *, inner: int = 1
) -> dict[str, Timing]:
    """Time zero-argument callables, interleaved, after one warm-up call each.

    Args:
      candidates: name -> callable returning JAX arrays (blocked on).
      repeats: number of timed rounds, >= 1.
      inner: calls per timed sample (for sub-millisecond work); times are per call.

    Returns:
      name -> `Timing` with per-call seconds; `all[i]` is round `i`.
    """
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"time_interleaved needs an integer repeats >= 1, got {repeats!r}.")
    if isinstance(inner, bool) or not isinstance(inner, int) or inner < 1:
        raise ValueError(f"time_interleaved needs an integer inner >= 1, got {inner!r}.")
    for name, fn in candidates.items():
        if not callable(fn):
            raise TypeError(f"Candidate {name!r} must be a zero-argument callable, got {fn!r}.")
        jax.block_until_ready(fn())
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            start = time.perf_counter()
            for _ in range(inner):
                out = fn()
            jax.block_until_ready(out)
            samples[name].append((time.perf_counter() - start) / inner)
    return {
        name: Timing(min=min(s), median=statistics.median(s), repeats=len(s), all=s)
        for name, s in samples.items()
    }


def machine_load() -> list[float] | None:
    """The 1, 5 and 15-minute load averages (`None` where the OS has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _spread(timing: Mapping[str, Any]) -> float:
    values = np.asarray(timing["all"], np.float64)
    return float((values.max() - values.min()) / np.median(values))


def ratio_target(
    description: str,
    ours: Mapping[str, Any],
    peer: Mapping[str, Any],
    *,
    at_most: float | None = None,
    at_least: float | None = None,
) -> dict[str, Any]:
    r"""A speed target on `ours / peer`, decided within the noise of the same run.

    .. math:: r_i = t^{ours}_i / t^{peer}_i, \qquad
              \text{met} \iff \min_i r_i \le \text{at\_most}
              \ \ (\text{or } \max_i r_i \ge \text{at\_least})

    Args:
      description: the target in words, e.g. `"jaxnn / optax <= 1.0"`.
      ours: the `Timing` of the measured program.
      peer: the `Timing` of the reference, from the same `time_interleaved` call.
      at_most: the ratio must be able to be at most this (a slowdown bound).
      at_least: the ratio must be able to be at least this (a speedup bound).

    Returns:
      `{"target", "value" (ratio of medians), "interval" [low, high],
      "peer_spread", "load", "met"}`.
    """
    if (at_most is None) == (at_least is None):
        raise ValueError("ratio_target needs exactly one of at_most or at_least.")
    a, b = np.asarray(ours["all"], np.float64), np.asarray(peer["all"], np.float64)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(
            f"ratio_target needs paired samples from one time_interleaved call, got "
            f"{a.size} and {b.size} samples."
        )
    paired = a / b
    low, high = float(paired.min()), float(paired.max())
    met = low <= at_most if at_most is not None else high >= float(at_least or 0.0)
    return {
        "target": description,
        "value": float(ours["median"] / peer["median"]),
        "interval": [low, high],
        "peer_spread": _spread(peer),
        "load": machine_load(),
        "met": bool(met),
    }
