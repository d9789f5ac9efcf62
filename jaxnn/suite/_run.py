"""Optimizer suite: the DeepOBS / "Descending through a Crowded Valley" protocol, vmapped.

Command::

    python -m benchmarks run optimizer_suite [--quick] [--out DIR] [--optimizer MODULE:FACTORY]

Problems (`benchmarks/_suite_problems.py`). Targets are on the training loss:
the exact objective `f(theta_t)` for the quadratic and 2-D problems (their
gradients are noisy as in DeepOBS, the curve is not), and for the nets the
minibatch loss smoothed by a trailing mean over the last 20 steps.

==============  =========  ============================================  ==========  ===========
problem         kind       model / function                              steps       target
                                                                         full/quick  full/quick
==============  =========  ============================================  ==========  ===========
quadratic_deep  quadratic  1/2 x^T H x, 100-D, eig 90 U(0,1)+10 U(30,60)  2000/400    1.0/1.0
rosenbrock      2-D        start (-0.5, 1.5), min 0                      2000/400    0.01/0.01
beale           2-D        start (-4.5, 4.5), min 0                      2000/400*   0.01/0.01*
branin          2-D        start (2.5, 12.5), min 0.3979                 2000/400    0.4/0.4
mnist1d_logreg  net        MNIST-1D, linear 40-10                        1500/200    1.65/1.8
mnist1d_mlp     net        MNIST-1D, MLP 40-128-128-10                   1500/200*   0.5/1.0*
mnist1d_cnn     net        MNIST-1D, conv16-conv32 (stride 2)-dense10    1500/200*   0.5/1.0*
digits_mlp      net        sklearn digits, MLP 64-128-10                 1000/200    0.05/0.1
==============  =========  ============================================  ==========  ===========

(*: not in the quick run, which keeps one quadratic, two 2-D problems and two
nets: ~36 CPU seconds; `run(..., problems=[...])` picks any subset.)

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
   them (`_suite_problems.make_program`: under vmap every optimizer's update
   runs on every row and `lax.select_n` keeps the row's own). The cosine
   schedule is *retuned*:
   its peak rate is picked on the same grid, in the same call (linear warmup
   from 0 over the first 5% of the steps, cosine decay to 0 at the end).
   Criterion: final training loss (NaN/inf anywhere in the run: rank last;
   ties: the smaller rate), as `experiments._tuning.final_loss`.
2. *Rerun*: each optimizer at its picked rate, both schedules, on seeds
   0..9 (quick: 0..2), in one more call of the same compiled program (the
   batch padded to the tuning batch's size). Seed 0 repeats the tuning run
   bit for bit (`determinism` in the JSON checks it). The padding is
   deliberate: compiled for another batch size, XLA:CPU blocks the matmuls
   differently, and chaotic runs amplify the last-bit differences (on
   `quadratic_deep`, rmsprop + cosine at peak 0.32: 54% of the curve's scale).
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

Keys are `jax.random.key(seed)`; same seeds -> same numbers (timings aside)
on the same machine. Module layout: `_suite_problems` (problems, the vmapped
program), `_suite_protocol` (tuning, rerun, timing, user optimizers),
`_suite_report` (profiles, table, figures).

Cost, measured on the 2-core CPU this was built on (shared with other jobs,
so CPU seconds are the load-free figure): quick 27 s wall / 36 s CPU on a
quiet machine (100-145 s wall under a load of 8); full 1000 s wall / 1117 s
CPU under a load of ~4 (MNIST-1D CNN 650 s CPU, MLP 310 s, digits 97 s,
logistic regression 42 s, the four small problems 12 s). `seconds_per_problem`
in the JSON has the compile+tune / rerun / timing split. Compilation
dominates the quick run: on XLA:CPU each vmapped threefry draw (parameter
init, the epoch permutations of `train_scan`) costs seconds to compile, so
every problem is one program for all optimizers, rates, schedules and seeds.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import _suite_problems as sp
from benchmarks import _suite_protocol as protocol
from benchmarks import _suite_report as report
from benchmarks._common import print_table, write_result
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


def _factories(extra: Sequence[str | Callable]) -> dict[str, Callable]:
    """Built-ins (raveled, see `_suite_problems.flattened`) then the user's, by name."""
    factories = {n: sp.flattened(f) for n, f in BUILTIN.items()}
    for spec in extra:
        name, factory = protocol.load_optimizer(spec)
        factories[name if name not in factories else str(spec)] = factory
    return factories


def _problem_info(problem: sp.Problem) -> dict[str, Any]:
    smoothed = f"minibatch loss, trailing mean of {sp.SMOOTH_WINDOW} steps"
    return {
        "kind": problem.kind,
        "description": problem.description,
        "num_steps": problem.num_steps,
        "target": problem.target,
        "min_value": problem.min_value,
        "curve": smoothed if problem.stochastic_curve else "exact objective f(theta_t)",
    }


def _profile(results: dict[str, Any], names: list[str], tau_max: float) -> dict[str, Any]:
    entries = protocol.entries(names)
    steps = np.array(
        [[results[p][n][s]["steps_to_target"]["median"] for _, n, s in entries] for p in results]
    )
    taus = np.geomspace(1.0, 64.0, 241)
    labels = [e for e, _, _ in entries]
    return {
        "entries": labels,
        "steps": steps,
        "taus": taus,
        "rho": report.performance_profile(steps, taus),
        "tau_max": tau_max,
        "score": dict(zip(labels, report.profile_score(steps, tau_max), strict=True)),
    }


def _print(results: dict, winners: dict, score: dict, quick: bool, tau_max: float) -> None:
    cols = ["problem", "optimizer", "lr", "steps to target", "final loss", "test acc"]
    cols += ["cos steps", "cos final loss", "ms/step"]
    print_table(report.table_rows(results), cols, f"{NAME} ({'quick' if quick else 'full'})")
    print_table(
        [{"problem": p, **w} for p, w in winners.items()],
        ["problem", "optimizer", "schedule", "median_steps", "final_loss_mean"],
        title="winners (fewest median steps to target)",
    )
    print_table(
        [{"entry": k, "score": v} for k, v in sorted(score.items(), key=lambda kv: -kv[1])],
        ["entry", "score"],
        title=f"performance-profile score (area on [1, {tau_max:g}])",
    )


def run(
    quick: bool,
    out_dir: str | Path,
    extra_optimizers: Sequence[str | Callable] = (),
    *,
    problems: Sequence[str] | None = None,
) -> dict:
    """Run the suite, write `out_dir/optimizer_suite.json` and `out_dir/optimizer_suite/`,
    print the tables, and return the result dict.

    Args:
      quick: the smoke-test variant (see the module docstring).
      out_dir: output folder.
      extra_optimizers: `"module:factory"` specs (or factories) benchmarked with the
        built-ins; a bad spec raises `ValueError` before anything runs.
      problems: run only these problems (default: all of the variant's).
    """
    wall0, cpu0 = time.perf_counter(), time.process_time()
    cfg = Config.make(quick)
    if problems is not None:
        unknown = sorted(set(problems) - set(sp.PROBLEMS))
        if unknown:
            raise ValueError(f"Unknown problems {unknown}; known problems: {list(sp.PROBLEMS)}.")
        cfg = dataclasses.replace(cfg, problems=tuple(problems))
    factories = _factories(extra_optimizers)
    names = list(factories)

    info, results, determinism, seconds = {}, {}, {}, {}
    for pname in cfg.problems:
        problem = sp.build(pname, quick)
        info[pname] = _problem_info(problem)
        results[pname], determinism[pname], seconds[pname] = protocol.benchmark_problem(
            problem, names, list(factories.values()), cfg
        )
        laps = ", ".join(f"{k} {v['wall']:.1f}/{v['cpu']:.1f}" for k, v in seconds[pname].items())
        print(f"[{NAME}] {pname} (wall/CPU s): {laps}", flush=True)

    profile = _profile(results, names, cfg.tau_max)
    winners = {p: protocol.winner(results[p]) for p in results}
    summary = {
        "problems": list(results),
        "optimizers": names,
        "winner_per_problem": {p: w["optimizer"] for p, w in winners.items()},
        "profile_score": profile["score"],
        "quick": quick,
    }
    gaps = {p: d["max_relative_difference"] for p, d in determinism.items()}
    result = {
        "summary": summary,
        "config": {
            **dataclasses.asdict(cfg),
            "schedules": protocol.SCHEDULES,
            "warmup_fraction": 0.05,
            "smooth_window": sp.SMOOTH_WINDOW,
            "keys": "jax.random.key(seed)",
        },
        "problem_info": info,
        "winners": winners,
        "profile": profile,
        "determinism": {
            "what": "seed-0 rerun vs the tuning run at the picked rate (same inputs); "
            "the difference is max |a - b| / max |b| over each curve",
            "seed0_rerun_equals_tuning_run": {p: d["identical"] for p, d in determinism.items()},
            "max_relative_curve_difference": gaps,
        },
        "seconds_per_problem": seconds,
        "rows": protocol.rows(results),
        "results": results,
    }
    folder = Path(out_dir) / NAME
    figures = report.plot_all(folder, result)
    summary["wall_seconds"] = time.perf_counter() - wall0
    summary["cpu_seconds"] = time.process_time() - cpu0
    note = (
        f"{'Quick' if quick else 'Full'} run: {len(cfg.grid)}-point lr grid, {cfg.seeds} seeds; "
        f"wall {summary['wall_seconds']:.0f} s, CPU {summary['cpu_seconds']:.0f} s."
    )
    text = report.markdown(info, results, winners, profile["score"], [note])
    write_text(folder / "table.md", text)
    result["files"] = [str(folder / f) for f in (*figures, "table.md")]
    write_result(out_dir, NAME, result)
    _print(results, winners, profile["score"], quick, cfg.tau_max)
    return result
