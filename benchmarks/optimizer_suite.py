"""Optimizer suite: the DeepOBS / "Descending through a Crowded Valley" protocol, vmapped.

Command::

    python -m benchmarks run optimizer_suite [--quick] [--out DIR] [--optimizer MODULE:FACTORY]

Problems (`benchmarks/_suite_problems.py`). Targets are on the training loss:
the exact objective `f(theta_t)` for the quadratic and 2-D problems (their
gradients are noisy as in DeepOBS, the curve is not), and for the nets the
minibatch loss smoothed by a trailing mean over the last 20 steps.

==============  =========  ============================================  ============  ============
problem         kind       model / function                              steps full    target full
                                                                         (quick)       (quick)
==============  =========  ============================================  ============  ============
quadratic_deep  quadratic  1/2 x^T H x, 100-D, eig 90 U(0,1)+10 U(30,60)  2000 (400)    1.0 (1.0)
rosenbrock      2-D        start (-0.5, 1.5), min 0                      2000 (400)    0.01 (0.01)
beale           2-D        start (-4.5, 4.5), min 0                      2000 (-)      0.01 (-)
branin          2-D        start (2.5, 12.5), min 0.3979                 2000 (400)    0.4 (0.4)
mnist1d_logreg  net        MNIST-1D, linear 40-10                        1500 (200)    1.65 (1.8)
mnist1d_mlp     net        MNIST-1D, MLP 40-128-128-10                   1500 (200)    0.5 (1.0)
mnist1d_cnn     net        MNIST-1D, conv16-conv32 (stride 2)-dense10    1500 (-)      0.5 (-)
digits_mlp      net        sklearn digits, MLP 64-128-10                 1000 (-)      0.05 (-)
==============  =========  ============================================  ============  ============

Nets: batch 128, softmax cross-entropy, He-normal init drawn from the seed;
final train loss on the whole training set and test accuracy on the test set.

Optimizers: `jaxnn.optim` sgd, momentum (0.9), nesterov (0.9), adagrad,
rmsprop, adam, adamw (weight decay 1e-4), all at their defaults, plus each
`--optimizer MODULE:FACTORY` (`FACTORY(learning_rate)` returning an optax-style
`(init, update)` pair; `learning_rate` is a traced scalar or a schedule).

Protocol, per problem:

1. *Tuning*: every optimizer x every rate of a log grid (full: 13 rates
   1e-5..10, half a decade apart; quick: 5 rates 1e-4..1) x {constant rate,
   warmup + cosine} runs on seed 0 -- one `jit(vmap(...))` call over all of
   them (`_suite_problems.make_program`). The cosine schedule is *retuned*:
   its peak rate is picked on the same grid, in the same call (linear warmup
   from 0 over the first 5% of the steps, cosine decay to 0 at the end).
   Criterion: final training loss (NaN/inf anywhere in the run: rank last;
   ties: the smaller rate), as `experiments._tuning.final_loss`.
2. *Rerun*: each optimizer at its picked rate, both schedules, on seeds
   0..9 (quick: 0..2) -- one more call of the same compiled program (the
   batch is padded to the tuning batch's size). Seed 0 repeats the tuning run
   and must match it bit for bit (`determinism` in the JSON).
3. *Timing*: the single-run program (`jit` of one run, no vmap; `lax.switch`
   executes only the chosen optimizer) for 200 steps (quick: 50), each
   optimizer at its tuned constant rate, interleaved, 5 repeats (quick: 3),
   median. Wall-clock to target = this time per step x the median steps to
   target (an estimate, not measured directly).

Metrics per (problem, optimizer, schedule), over the seeds: final train loss
and test accuracy (mean, std, min, max), steps to target (first step at which
the curve is <= the target, `inf` if never; `experiments._tuning.steps_to`;
median over seeds -- `inf` when the median seed never gets there -- and
min/max/mean/std over the seeds that do), and the loss curve's mean and
min/max band. Winner of a problem: the fewest median steps to target (ties
and the case where nobody reaches it: the lowest mean final loss).

Outputs: `DIR/optimizer_suite.json` (summary `problems`, `optimizers`,
`winner_per_problem`, `profile_score`; everything else in `problem_info`,
`results`, `profile`, `determinism`), and in `DIR/optimizer_suite/`:
`table.md`, `profile.png` (Dolan-More performance profiles on steps to
target, constant and cosine entries, AlgoPerf-style scores, see
`_suite_report`), `lr_sensitivity.png` (final loss vs rate) and
`convergence.png` (mean curve with min-max seed band).

Keys are `jax.random.key(seed, impl="rbg")`: on XLA:CPU a threefry draw
compiles in seconds (2.2 s vs 0.35 s for one `normal` under load), and
compilation dominates the quick run. Same seeds -> same numbers (timings
aside) on the same machine.
"""

from __future__ import annotations

import dataclasses
import importlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import _suite_problems as sp
from benchmarks import _suite_report as report
from benchmarks._common import print_table, time_interleaved, write_result
from experiments._tuning import final_loss, steps_to
from jaxnn import optim
from jaxnn.results import write_text

NAME = "optimizer_suite"
BUILTIN: dict[str, Callable] = {
    "sgd": optim.sgd,
    "momentum": optim.momentum,
    "nesterov": optim.nesterov,
    "adagrad": optim.adagrad,
    "rmsprop": optim.rmsprop,
    "adam": optim.adam,
    "adamw": optim.adamw,
}
QUICK_PROBLEMS = ("quadratic_deep", "rosenbrock", "branin", "mnist1d_logreg", "digits_mlp")
SCHEDULES = ("constant", "warmup_cosine")


@dataclasses.dataclass(frozen=True)
class Config:
    problems: tuple[str, ...] = sp.PROBLEMS
    grid: tuple[float, ...] = tuple(10.0 ** np.arange(-5.0, 1.01, 0.5))
    seeds: int = 10
    timing_steps: int = 200
    timing_repeats: int = 5
    curve_points: int = 120
    tau_max: float = 4.0

    @classmethod
    def make(cls, quick: bool) -> Config:
        if not quick:
            return cls()
        grid = tuple(10.0 ** np.arange(-4.0, 0.01, 1.0))
        return cls(QUICK_PROBLEMS, grid, seeds=3, timing_steps=50, timing_repeats=3)


# ------------------------------------------------------------------------ user optimizers


def load_optimizer(spec: str | Callable) -> tuple[str, Callable]:
    """`"module:factory"` (or a callable) -> `(name, factory)`, checked on a toy problem."""
    if callable(spec):
        name, factory = getattr(spec, "__name__", "user_optimizer"), spec
    else:
        module_name, sep, attr = str(spec).partition(":")
        if not sep or not module_name or not attr:
            raise ValueError(
                f"--optimizer expects MODULE:FACTORY (e.g. my_opts:make_sgd), got {spec!r}."
            )
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            raise ValueError(
                f"--optimizer {spec!r}: could not import module {module_name!r} ({err}). "
                "Make it importable: run from its folder or add it to PYTHONPATH."
            ) from err
        factory = getattr(module, attr, None)
        if factory is None:
            raise ValueError(f"--optimizer {spec!r}: module {module_name!r} has no {attr!r}.")
        if not callable(factory):
            raise ValueError(
                f"--optimizer {spec!r}: {attr!r} is a {type(factory).__name__}, not a callable "
                "factory taking learning_rate."
            )
        name = attr
    try:  # a schedule, as the suite passes one
        opt = factory(lambda count: 1e-3 * jnp.ones_like(count, jnp.float32))
        params = {"w": jnp.ones((3,))}
        updates, _ = opt.update({"w": jnp.ones((3,))}, opt.init(params), params)
        assert jax.tree.structure(updates) == jax.tree.structure(params)
    except Exception as err:
        raise ValueError(
            f"--optimizer {spec!r}: {name}(learning_rate) must return an optax-style "
            "(init, update) pair that accepts a schedule `step -> lr` as learning_rate; "
            f"calling it failed with {type(err).__name__}: {err}"
        ) from err
    return name, factory


# ----------------------------------------------------------------------------- protocol


class _Clock:
    """Wall and CPU seconds between laps."""

    def __init__(self):
        self.laps: dict[str, dict[str, float]] = {}
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self, name: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.laps[name] = {"wall": wall - self.wall, "cpu": cpu - self.cpu}
        self.wall, self.cpu = wall, cpu


def _keys(seeds: np.ndarray) -> jax.Array:
    return jax.vmap(lambda s: jax.random.key(s))(jnp.asarray(seeds, jnp.uint32))


def _call(program: Callable, rows: list[tuple], size: int) -> dict[str, np.ndarray]:
    """Run `rows` of (opt index, lr, use_schedule, seed), padded to `size`, in one call."""
    padded = rows + [rows[0]] * (size - len(rows))
    k, lr, sched, seed = (np.asarray(c) for c in zip(*padded, strict=True))
    out = program(
        jnp.asarray(k, jnp.int32), jnp.asarray(lr, jnp.float32), jnp.asarray(sched), _keys(seed)
    )
    return {name: np.asarray(v)[: len(rows)] for name, v in out.items()}


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
    some = reached.size > 0
    return {
        "per_seed": steps,
        "median": float(np.median(steps)),
        "reached": int(reached.size),
        "seeds": int(steps.size),
        **{k: (getattr(np, k)(reached) if some else np.nan) for k in ("mean", "std", "min", "max")},
    }


def _curve_band(curves: np.ndarray, points: int) -> dict[str, Any]:
    idx = np.unique(np.round(np.linspace(0, curves.shape[-1] - 1, points)).astype(int))
    c = np.where(np.isfinite(curves[:, idx]), curves[:, idx], np.nan)
    return {"steps": idx, "mean": c.mean(0), "std": c.std(0), "min": c.min(0), "max": c.max(0)}


def _benchmark_problem(problem: sp.Problem, names: list[str], factories: list, cfg: Config):
    """Tune, rerun and time every optimizer on `problem`; results keyed by optimizer."""
    K, G, S = len(names), len(cfg.grid), cfg.seeds
    clock = _Clock()
    program = jax.jit(jax.vmap(sp.make_program(problem, factories, problem.num_steps)))
    size = max(K * 2 * G, K * 2 * S)
    tune_rows = [(k, g, s, 0) for k in range(K) for s in (0, 1) for g in cfg.grid]
    tuned = _call(program, tune_rows, size)
    clock.lap("compile_and_tune")
    scores = final_loss(np.concatenate([tuned["curve"], tuned["final_loss"][:, None]], -1))
    scores = scores.reshape(K, 2, G)
    grid = np.asarray(cfg.grid, np.float32)
    picks = np.array([[np.lexsort((grid, scores[k, s]))[0] for s in (0, 1)] for k in range(K)])

    rerun_rows = [(k, grid[picks[k, s]], s, seed) for k in range(K) for s in (0, 1) for seed in range(S)]  # fmt: skip
    rerun = _call(program, rerun_rows, size)
    clock.lap("rerun")
    curves = rerun["curve"].reshape(K, 2, S, -1)
    if problem.stochastic_curve:
        curves = sp.smooth(curves)
    steps = steps_to(problem.target)(curves.reshape(K * 2 * S, -1)).reshape(K, 2, S)

    tune_curves = tuned["curve"].reshape(K, 2, G, -1)
    seed0 = rerun["curve"].reshape(K, 2, S, -1)[:, :, 0]
    same = [np.array_equal(tune_curves[k, s, picks[k, s]], seed0[k, s], equal_nan=True) for k in range(K) for s in (0, 1)]  # fmt: skip

    single = jax.jit(sp.make_program(problem, factories, cfg.timing_steps, vmapped=False, evaluate=False))  # fmt: skip
    key0 = jax.random.key(0)
    timing = time_interleaved(
        {n: (lambda k=k: single(k, jnp.float32(grid[picks[k, 0]]), False, key0)) for k, n in enumerate(names)},
        cfg.timing_repeats,
    )  # fmt: skip
    clock.lap("timing")

    results = {}
    for k, name in enumerate(names):
        per_step = timing[name]["median"] / cfg.timing_steps
        entry = {"time_per_step_s": per_step}
        for s, sched in enumerate(SCHEDULES):
            st = _steps_stats(steps[k, s])
            entry[sched] = {
                "lr": float(grid[picks[k, s]]),
                "tuning": {"grid": grid, "scores": scores[k, s], "pick": float(grid[picks[k, s]])},
                "final_loss": _stats(rerun["final_loss"].reshape(K, 2, S)[k, s]),
                "test_accuracy": _stats(rerun["test_accuracy"].reshape(K, 2, S)[k, s])
                if problem.kind == "net"
                else None,
                "steps_to_target": st,
                "seconds_to_target": st["median"] * per_step,
                "curve": _curve_band(curves[k, s], cfg.curve_points),
            }
        results[name] = entry
    return results, bool(all(same)), clock.laps


def _winner(per_opt: dict[str, Any]) -> dict[str, Any]:
    cands = []
    for opt, r in per_opt.items():
        for sched in SCHEDULES:
            loss = r[sched]["final_loss"]["mean"]
            loss = loss if np.isfinite(loss) else np.inf
            cands.append((r[sched]["steps_to_target"]["median"], loss, opt, sched))
    steps, loss, opt, sched = min(cands, key=lambda c: (c[0], c[1]))
    return {"optimizer": opt, "schedule": sched, "median_steps": steps, "final_loss_mean": loss}


def _rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat record per (problem, optimizer, schedule)."""
    return [
        {
            "problem": p,
            "optimizer": o,
            "schedule": sched,
            "lr": r[sched]["lr"],
            "median_steps_to_target": r[sched]["steps_to_target"]["median"],
            "seeds_reaching_target": r[sched]["steps_to_target"]["reached"],
            "final_loss_mean": r[sched]["final_loss"]["mean"],
            "test_accuracy_mean": (r[sched]["test_accuracy"] or {}).get("mean"),
            "time_per_step_s": r["time_per_step_s"],
            "seconds_to_target": r[sched]["seconds_to_target"],
        }
        for p, per_opt in results.items()
        for o, r in per_opt.items()
        for sched in SCHEDULES
    ]


def _entries(names: Sequence[str]) -> list[tuple[str, str, str]]:
    return [(n + ("+cos" if s == "warmup_cosine" else ""), n, s) for n in names for s in SCHEDULES]


def run(
    quick: bool,
    out_dir: str | Path,
    extra_optimizers: Sequence[str | Callable] = (),
    *,
    problems: Sequence[str] | None = None,
) -> dict:
    """Run the suite, write `out_dir/optimizer_suite.json` and `out_dir/optimizer_suite/`,
    print the table, and return the result dict. `problems` restricts the run (tests)."""
    wall0, cpu0 = time.perf_counter(), time.process_time()
    cfg = Config.make(quick)
    if problems is not None:
        unknown = sorted(set(problems) - set(sp.PROBLEMS))
        if unknown:
            raise ValueError(f"Unknown problems {unknown}; known problems: {list(sp.PROBLEMS)}.")
        cfg = dataclasses.replace(cfg, problems=tuple(problems))
    factories = {n: sp.flattened(f) for n, f in BUILTIN.items()}
    for spec in extra_optimizers:
        name, factory = load_optimizer(spec)
        factories[name if name not in factories else str(spec)] = factory
    names = list(factories)

    problem_info, results, determinism, seconds = {}, {}, {}, {}
    for pname in cfg.problems:
        problem = sp.build(pname, quick)
        problem_info[pname] = {
            "kind": problem.kind,
            "description": problem.description,
            "num_steps": problem.num_steps,
            "target": problem.target,
            "min_value": problem.min_value,
            "curve": "smoothed minibatch loss (trailing mean of 20 steps)"
            if problem.stochastic_curve
            else "exact objective f(theta_t)",
        }
        results[pname], determinism[pname], seconds[pname] = _benchmark_problem(
            problem, names, list(factories.values()), cfg
        )
        laps = ", ".join(f"{k} {v['wall']:.1f}/{v['cpu']:.1f}" for k, v in seconds[pname].items())
        print(f"[{NAME}] {pname} (wall/CPU s): {laps}", flush=True)

    entries = _entries(names)
    steps_table = np.array(
        [[results[p][n][s]["steps_to_target"]["median"] for _, n, s in entries] for p in results]
    )
    taus = np.geomspace(1.0, 64.0, 241)
    rho = report.performance_profile(steps_table, taus)
    score = dict(zip([e for e, _, _ in entries], report.profile_score(steps_table, cfg.tau_max), strict=True))  # fmt: skip
    winners = {p: _winner(results[p]) for p in results}

    result = {
        "summary": {
            "problems": list(results),
            "optimizers": names,
            "winner_per_problem": {p: w["optimizer"] for p, w in winners.items()},
            "profile_score": score,
            "quick": quick,
            "wall_seconds": time.perf_counter() - wall0,
            "cpu_seconds": time.process_time() - cpu0,
        },
        "config": {**dataclasses.asdict(cfg), "schedules": SCHEDULES, "warmup_fraction": 0.05,
                   "smooth_window": sp.SMOOTH_WINDOW, "keys": "jax.random.key(seed)"},  # fmt: skip
        "problem_info": problem_info,
        "winners": winners,
        "profile": {"taus": taus, "entries": [e for e, _, _ in entries], "rho": rho,
                    "steps": steps_table, "score": score, "tau_max": cfg.tau_max},  # fmt: skip
        "determinism": {"seed0_rerun_equals_tuning_run": determinism},
        "seconds_per_problem": seconds,
        "rows": _rows(results),
        "results": results,
    }
    out = Path(out_dir)
    folder = out / NAME
    result["files"] = [str(folder / f) for f in report.plot_all(folder, result)]
    notes = [
        f"{'Quick' if quick else 'Full'} run: {len(cfg.grid)}-point lr grid, {cfg.seeds} seeds; "
        f"wall {result['summary']['wall_seconds']:.0f} s, CPU {result['summary']['cpu_seconds']:.0f} s.",
    ]
    write_text(folder / "table.md", report.markdown(problem_info, results, winners, score, notes))
    result["files"].append(str(folder / "table.md"))
    result["summary"]["wall_seconds"] = time.perf_counter() - wall0
    result["summary"]["cpu_seconds"] = time.process_time() - cpu0
    write_result(out, NAME, result)

    rows = report.table_rows(results)
    cols = ["problem", "optimizer", "lr", "steps to target", "final loss", "test acc",
            "cos steps", "cos final loss", "ms/step"]  # fmt: skip
    print_table(rows, cols, title=f"{NAME} ({'quick' if quick else 'full'})")
    print_table(
        [{"problem": p, **w} for p, w in winners.items()],
        ["problem", "optimizer", "schedule", "median_steps", "final_loss_mean"],
        title="winners (fewest median steps to target)",
    )
    print_table(
        [{"entry": k, "score": v} for k, v in sorted(score.items(), key=lambda kv: -kv[1])],
        ["entry", "score"],
        title=f"performance-profile score (area on [1, {cfg.tau_max:g}])",
    )
    return result
