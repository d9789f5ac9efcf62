"""The tuning / rerun / timing protocol of the optimizer suite, and user optimizers.

`benchmark_problem` runs steps 1-3 of the suite's protocol (see `jaxnn.suite`)
on one problem with one compiled, vmapped program (`_problems.make_program`):
a batch row is `(optimizer index, learning rate, use_schedule, seed)`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn.suite import _problems as sp
from jaxnn.timing import time_interleaved
from jaxnn.tuning import final_loss, steps_to

__all__ = ["SCHEDULES", "benchmark_problem", "entries", "rows", "winner"]

SCHEDULES = ("constant", "warmup_cosine")


class _Clock:
    """Wall and CPU seconds between laps."""

    def __init__(self) -> None:
        self.laps: dict[str, dict[str, float]] = {}
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self, name: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.laps[name] = {"wall": wall - self.wall, "cpu": cpu - self.cpu}
        self.wall, self.cpu = wall, cpu


def _call(program: Callable, batch: list[tuple], size: int) -> dict[str, np.ndarray]:
    """Run `batch` rows (opt index, lr, use_schedule, seed), padded to `size`, in one call."""
    padded = batch + [batch[0]] * (size - len(batch))
    k, lr, sched, seed = (np.asarray(c) for c in zip(*padded, strict=True))
    keys = jax.vmap(jax.random.key)(jnp.asarray(seed, jnp.uint32))
    out = program(jnp.asarray(k, jnp.int32), jnp.asarray(lr, jnp.float32), jnp.asarray(sched), keys)
    return {name: np.asarray(v)[: len(batch)] for name, v in out.items()}


def _stats(values: np.ndarray) -> dict[str, Any]:
    v = np.asarray(values, np.float64)
    return {
        "mean": v.mean(),
        "std": v.std(),
        "min": v.min(),
        "max": v.max(),
        "diverged": int(np.sum(~np.isfinite(v))),
    }


def _steps_stats(steps: np.ndarray) -> dict[str, Any]:
    reached = steps[np.isfinite(steps)]
    stats = {"per_seed": steps, "median": float(np.median(steps))}
    stats |= {"reached": int(reached.size), "seeds": int(steps.size)}
    for name in ("mean", "std", "min", "max"):
        stats[name] = getattr(np, name)(reached) if reached.size else np.nan
    return stats


def _curve_band(curves: np.ndarray, points: int) -> dict[str, Any]:
    idx = np.unique(np.round(np.linspace(0, curves.shape[-1] - 1, points)).astype(int))
    c = np.where(np.isfinite(curves[:, idx]), curves[:, idx], np.nan)
    return {"steps": idx, "mean": c.mean(0), "std": c.std(0), "min": c.min(0), "max": c.max(0)}


def _relative_gap(a: np.ndarray, b: np.ndarray) -> float:
    """`max |a - b| / max |b|` over the finite entries (0 when identical)."""
    ok = np.isfinite(a) & np.isfinite(b)
    if not ok.any() or np.array_equal(a, b, equal_nan=True):
        return 0.0
    scale = np.max(np.abs(b[ok]))
    return float(np.max(np.abs(a[ok] - b[ok])) / scale) if scale > 0 else float("inf")


def benchmark_problem(
    problem: sp.Problem, names: list[str], factories: list[Callable], cfg: Any
) -> tuple[dict, dict, dict]:
    """Tune, rerun and time every optimizer on `problem`.

    Returns:
      `(results by optimizer, determinism check, wall/CPU seconds per phase)`.
    """
    K, G, S = len(names), len(cfg.grid), cfg.seeds
    clock = _Clock()
    program = jax.jit(jax.vmap(sp.make_program(problem, factories, problem.num_steps)))
    grid = np.asarray(cfg.grid, np.float32)
    tune_batch = [(k, g, s, 0) for k in range(K) for s in (0, 1) for g in grid]
    size = 2 * K * max(G, S)  # both calls padded to one size: one compiled program
    tuned = _call(program, tune_batch, size)
    clock.lap("compile_and_tune")
    scores = final_loss(np.concatenate([tuned["curve"], tuned["final_loss"][:, None]], -1))
    scores = scores.reshape(K, 2, G)
    picks = np.array([[np.lexsort((grid, scores[k, s]))[0] for s in (0, 1)] for k in range(K)])
    lrs = grid[picks]  # (K, 2)

    rerun_batch = [(k, lrs[k, s], s, i) for k in range(K) for s in (0, 1) for i in range(S)]
    rerun = _call(program, rerun_batch, size)
    clock.lap("rerun")
    curves = rerun["curve"].reshape(K, 2, S, -1)
    if problem.stochastic_curve:
        curves = sp.smooth(curves)
    flat = curves.reshape(K * 2 * S, -1)
    steps = steps_to(problem.target)(flat).reshape(K, 2, S)
    stays = steps_to(problem.target, stay=True)(flat).reshape(K, 2, S)

    tune_curves = tuned["curve"].reshape(K, 2, G, -1)
    seed0 = rerun["curve"].reshape(K, 2, S, -1)[:, :, 0]
    pairs = [(tune_curves[k, s, picks[k, s]], seed0[k, s]) for k in range(K) for s in (0, 1)]
    same = all(np.array_equal(a, b, equal_nan=True) for a, b in pairs)
    gap = max(_relative_gap(a, b) for a, b in pairs)

    single = sp.make_program(problem, factories, cfg.timing_steps, vmapped=False, evaluate=False)
    single, key0 = jax.jit(single), jax.random.key(0)

    def timed(k):  # optimizer k at its tuned constant rate
        return lambda: single(k, jnp.float32(lrs[k, 0]), False, key0)

    timing = time_interleaved({n: timed(k) for k, n in enumerate(names)}, cfg.timing_repeats)
    clock.lap("timing")

    final, acc = rerun["final_loss"].reshape(K, 2, S), rerun["test_accuracy"].reshape(K, 2, S)
    results = {}
    for k, name in enumerate(names):
        per_step = timing[name]["median"] / cfg.timing_steps
        entry = {"time_per_step_s": per_step}
        for s, sched in enumerate(SCHEDULES):
            st = _steps_stats(steps[k, s])
            entry[sched] = {
                "lr": float(lrs[k, s]),
                "tuning": {"grid": grid, "scores": scores[k, s], "pick": float(lrs[k, s])},
                "final_loss": _stats(final[k, s]),
                "test_accuracy": _stats(acc[k, s]) if problem.kind == "net" else None,
                "steps_to_target": st,
                "steps_to_stay_below_target": _steps_stats(stays[k, s]),
                "seconds_to_target": st["median"] * per_step,
                "curve": _curve_band(curves[k, s], cfg.curve_points),
            }
        results[name] = entry
    return results, {"identical": bool(same), "max_relative_difference": gap}, clock.laps


def winner(per_opt: dict[str, Any]) -> dict[str, Any]:
    """The entry with the fewest median steps to target (ties: lowest mean final loss)."""
    cands = []
    for opt, r in per_opt.items():
        for sched in SCHEDULES:
            loss = r[sched]["final_loss"]["mean"]
            loss = loss if np.isfinite(loss) else np.inf
            cands.append((r[sched]["steps_to_target"]["median"], loss, opt, sched))
    steps, loss, opt, sched = min(cands, key=lambda c: (c[0], c[1]))
    return {"optimizer": opt, "schedule": sched, "median_steps": steps, "final_loss_mean": loss}


def rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat record per (problem, optimizer, schedule)."""
    out = []
    for p, per_opt in results.items():
        for o, r in per_opt.items():
            for sched in SCHEDULES:
                e = r[sched]
                out.append(
                    {
                        "problem": p,
                        "optimizer": o,
                        "schedule": sched,
                        "lr": e["lr"],
                        "median_steps_to_target": e["steps_to_target"]["median"],
                        "seeds_reaching_target": e["steps_to_target"]["reached"],
                        "final_loss_mean": e["final_loss"]["mean"],
                        "test_accuracy_mean": (e["test_accuracy"] or {}).get("mean"),
                        "time_per_step_s": r["time_per_step_s"],
                        "seconds_to_target": e["seconds_to_target"],
                    }
                )
    return out


def entries(names: Sequence[str]) -> list[tuple[str, str, str]]:
    """Profile entries `(label, optimizer, schedule)`: `adam` and `adam+cos`."""
    return [(n + ("+cos" if s == "warmup_cosine" else ""), n, s) for n in names for s in SCHEDULES]
