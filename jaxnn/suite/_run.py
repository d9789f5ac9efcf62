"""`run_suite`: the DeepOBS / "Descending through a Crowded Valley" protocol, vmapped.

From Python, `jaxnn.suite.run_suite(optimizers=[my_factory], quick=True)`; from
the command line, `python -m benchmarks run optimizer_suite [--quick]
[--optimizer MODULE:FACTORY]` (which also writes the JSON with the machine block).

Problems (`jaxnn/suite/_problems.py`). Targets are on the training loss:
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
nets: ~36 CPU seconds; `run_suite(..., problems=[...])` picks any subset.)

Nets: batch 128, softmax cross-entropy, He-normal init drawn from the seed;
final train loss on the whole training set and test accuracy on the test set.

Optimizers: `jaxnn.optim` sgd, momentum (0.9), nesterov (0.9), adagrad,
rmsprop, adam, adamw (weight decay 1e-4), all at their defaults, plus each
user factory (`factory(learning_rate)` returning an optax-style `(init, update)`
pair; `learning_rate` is a schedule with traced values; checked first by
`jaxnn.suite.check_factory`).

Protocol, per problem:

1. *Tuning*: every optimizer x every rate of a log grid (full: 13 rates
   1e-5..10, half a decade apart; quick: 5 rates 1e-4..1) x {constant rate,
   warmup + cosine} runs on seed 0 -- one `jit(vmap(...))` call over all of
   them (`_problems.make_program`: under vmap every optimizer's update
   runs on every row and `lax.select_n` keeps the row's own). The cosine
   schedule is *retuned*:
   its peak rate is picked on the same grid, in the same call (linear warmup
   from 0 over the first 5% of the steps, cosine decay to 0 at the end).
   Criterion: final training loss (NaN/inf anywhere in the run: rank last;
   ties: the smaller rate), as `jaxnn.tuning.final_loss`.
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
the curve is <= the target, `inf` if never; `jaxnn.tuning.steps_to`;
median over seeds -- `inf` when the median seed never gets there -- and
min/max/mean/std over the seeds that do), and the loss curve's mean and
min/max band. Winner of a problem: the fewest median steps to target (ties
and the case where nobody reaches it: the lowest mean final loss).

Returns a dict: `summary` (`problems`, `optimizers`, `winner_per_problem`,
`profile_score`), `problem_info`, `results`, `winners`, `profile`,
`determinism`, `rows`, `config`; with `out_dir`, also in `out_dir`:
`table.md`, `profile.png` (Dolan-More performance profiles on steps to
target, constant and cosine entries, AlgoPerf-style scores, see
`jaxnn.suite.performance_profile`), `lr_sensitivity.png` (final loss vs rate) and
`convergence.png` (mean curve with min-max seed band).

Keys are `jax.random.key(seed)`; same seeds -> same numbers (timings aside)
on the same machine. Module layout: `_problems` (problems, the vmapped
program), `_protocol` (tuning, rerun, timing), `_plugin` (user optimizers),
`_report` (profiles, table, figures), `_run` (this driver).

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

from jaxnn import optim
from jaxnn.results import write_text
from jaxnn.suite import _problems as sp
from jaxnn.suite import _protocol as protocol
from jaxnn.suite import _report as report
from jaxnn.suite._plugin import load_optimizer

__all__ = ["BUILTIN", "QUICK_PROBLEMS", "SuiteConfig", "run_suite"]

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
class SuiteConfig:
    """The protocol's sizes (`SuiteConfig.make(quick)` gives the full or quick variant)."""

    problems: tuple[str, ...] = sp.PROBLEMS  # problems run, in order
    grid: tuple[float, ...] = tuple(10.0 ** np.arange(-5.0, 1.01, 0.5))  # learning rates tried
    seeds: int = 10  # seeds of the rerun at the picked rate
    timing_steps: int = 200  # steps of the timed single-run program
    timing_repeats: int = 5  # interleaved timing rounds
    curve_points: int = 120  # points kept of each loss-curve band
    tau_max: float = 4.0  # right end of the performance-profile score's integral

    @classmethod
    def make(cls, quick: bool) -> SuiteConfig:
        """The full protocol, or the quick one (5 problems, 5 rates, 3 seeds)."""
        if not quick:
            return cls()
        grid = tuple(10.0 ** np.arange(-4.0, 0.01, 1.0))
        return cls(QUICK_PROBLEMS, grid, seeds=3, timing_steps=50, timing_repeats=3)


def _factories(extra: Sequence[str | Callable]) -> dict[str, Callable]:
    """Built-ins (raveled, see `_problems.flattened`) then the user's, by name."""
    factories = {n: sp.flattened(f) for n, f in BUILTIN.items()}
    for spec in extra:
        name, factory = load_optimizer(spec)
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


def _config(quick: bool, problems: Sequence[str] | None) -> SuiteConfig:
    cfg = SuiteConfig.make(quick)
    if problems is None:
        return cfg
    if isinstance(problems, str):
        raise TypeError(f"problems must be a sequence of names, got the string {problems!r}.")
    unknown = sorted(set(problems) - set(sp.PROBLEMS))
    if unknown or not problems:
        raise ValueError(
            f"problems must name at least one known problem; unknown {unknown}, "
            f"known problems: {list(sp.PROBLEMS)}."
        )
    return dataclasses.replace(cfg, problems=tuple(problems))


def run_suite(
    optimizers: Sequence[str | Callable] = (),
    *,
    quick: bool = False,
    problems: Sequence[str] | None = None,
    out_dir: str | Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Benchmark the built-in optimizers and `optimizers` on the suite's problems.

    Args:
      optimizers: user optimizers, each a factory `learning_rate -> (init, update)`
        or a `"module:factory"` spec; each is checked (`check_factory`) before
        anything runs.
      quick: the smoke-test variant (module docstring).
      problems: run only these problems (default: all of the variant's).
      out_dir: if given, write `table.md` and the three figures there.
      progress: print one line per problem with its wall/CPU seconds.

    Returns:
      The result dict described in the module docstring.

    Example:
        ```python
        def sign_sgd(learning_rate):
            ...
        result = jaxnn.suite.run_suite([sign_sgd], quick=True, problems=["rosenbrock"])
        result["summary"]["winner_per_problem"]
        ```
    """
    wall0, cpu0 = time.perf_counter(), time.process_time()
    cfg = _config(quick, problems)
    factories = _factories(optimizers)
    names = list(factories)

    info, results, determinism, seconds = {}, {}, {}, {}
    for pname in cfg.problems:
        problem = sp.build(pname, quick)
        info[pname] = _problem_info(problem)
        results[pname], determinism[pname], seconds[pname] = protocol.benchmark_problem(
            problem, names, list(factories.values()), cfg
        )
        laps = ", ".join(f"{k} {v['wall']:.1f}/{v['cpu']:.1f}" for k, v in seconds[pname].items())
        if progress:
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
    if out_dir is not None:
        result["files"] = _write_files(Path(out_dir), result, cfg, quick, wall0, cpu0)
    summary["wall_seconds"] = time.perf_counter() - wall0
    summary["cpu_seconds"] = time.process_time() - cpu0
    return result


def _write_files(
    folder: Path, result: dict, cfg: SuiteConfig, quick: bool, wall0: float, cpu0: float
) -> list[str]:
    figures = report.plot_all(folder, result)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    note = (
        f"{'Quick' if quick else 'Full'} run: {len(cfg.grid)}-point lr grid, {cfg.seeds} seeds; "
        f"wall {wall:.0f} s, CPU {cpu:.0f} s."
    )
    text = report.markdown(
        result["problem_info"], result["results"], result["winners"],
        result["profile"]["score"], [note],
    )  # fmt: skip
    write_text(folder / "table.md", text)
    return [str(folder / f) for f in (*figures, "table.md")]
