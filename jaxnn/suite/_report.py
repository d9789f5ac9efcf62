"""Performance profiles, the markdown table and the figures of the optimizer suite.

Performance profile (Dolan & More 2002), as AlgoPerf scores submissions: with
`t[p, s]` the steps solver `s` needs to reach problem `p`'s target (`inf` if
it never does), the ratio to the fastest solver is
`r[p, s] = t[p, s] / min_s' t[p, s']` and

    rho_s(tau) = |{p : r[p, s] <= tau}| / |P|,

the fraction of problems `s` solves within `tau` times the best steps. A
problem no solver reaches counts as unsolved for all. Step counts are
clipped below at 1 (a target met at the start costs one step), so ratios are
defined. The score is the normalised area under the profile,

    score_s = 1 / (tau_max - 1) * integral_1^tau_max rho_s(tau) dtau
            = mean_p max(0, tau_max - r[p, s]) / (tau_max - 1)

(exact: rho is a step function), in [0, 1]; 1 means fastest on every
problem. AlgoPerf uses tau_max = 4.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["performance_profile", "profile_score", "markdown", "plot_all", "table_rows"]


def _ratios(steps: Any) -> np.ndarray:
    steps = np.asarray(steps, np.float64)
    if steps.ndim != 2:
        raise ValueError(f"steps must be a (problems, solvers) table, got shape {steps.shape}.")
    steps = np.where(np.isnan(steps), np.inf, np.maximum(steps, 1.0))
    best = steps.min(axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        ratio = steps / best
    return np.where(np.isfinite(steps) & np.isfinite(best), ratio, np.inf)


def performance_profile(steps: Any, taus: Any) -> np.ndarray:
    """`rho[s, j]`: fraction of problems solver `s` solves within `taus[j]` x the best steps.

    Args:
      steps: `(problems, solvers)` steps to target, `inf` (or NaN) for never.
      taus: 1-D array of ratios, >= 1.

    Returns:
      `(solvers, len(taus))` array in [0, 1].
    """
    r = _ratios(steps)
    taus = np.asarray(taus, np.float64)
    return np.mean(r[:, :, None] <= taus[None, None, :], axis=0)


def profile_score(steps: Any, tau_max: float = 4.0) -> np.ndarray:
    """Normalised area under each solver's profile on [1, tau_max] (module docstring)."""
    r = _ratios(steps)
    return np.mean(np.maximum(0.0, tau_max - r), axis=0) / (tau_max - 1.0)


# ------------------------------------------------------------------------------ table


def _fmt(x: Any, spec: str = ".3g") -> str:
    if x is None:
        return "-"
    x = float(x)
    if np.isnan(x):
        return "nan"
    if np.isinf(x):
        return "never" if x > 0 else "-inf"
    return format(x, spec)


def _steps_cell(m: Mapping[str, Any]) -> str:
    s = m["steps_to_target"]
    if s["reached"] == 0:
        return f"never (0/{s['seeds']})"
    spread = f"[{_fmt(s['min'], '.0f')}-{_fmt(s['max'], '.0f')}]"
    return f"{_fmt(s['median'], '.0f')} {spread} ({s['reached']}/{s['seeds']})"


def _loss_cell(m: Mapping[str, Any]) -> str:
    f = m["final_loss"]
    return f"{_fmt(f['mean'])} ± {_fmt(f['std'], '.2g')}"


def _acc_cell(m: Mapping[str, Any]) -> str:
    a = m["test_accuracy"]
    return "-" if a is None else f"{_fmt(a['mean'], '.3f')} ± {_fmt(a['std'], '.2g')}"


def table_rows(results: Mapping[str, Any]) -> list[dict[str, str]]:
    """One row per (problem, optimizer): both schedules side by side."""
    rows = []
    for problem, per_opt in results.items():
        for opt, r in per_opt.items():
            c, w = r["constant"], r["warmup_cosine"]
            rows.append(
                {
                    "problem": problem,
                    "optimizer": opt,
                    "lr": _fmt(c["lr"], ".1e"),
                    "steps to target": _steps_cell(c),
                    "final loss": _loss_cell(c),
                    "test acc": _acc_cell(c),
                    "cos peak lr": _fmt(w["lr"], ".1e"),
                    "cos steps": _steps_cell(w),
                    "cos final loss": _loss_cell(w),
                    "cos test acc": _acc_cell(w),
                    "ms/step": _fmt(1e3 * r["time_per_step_s"], ".3g"),
                    "s to target (const / cos)": f"{_fmt(c['seconds_to_target'])} / "
                    f"{_fmt(w['seconds_to_target'])}",
                }
            )
    return rows


def markdown(
    problems: Mapping[str, Any],
    results: Mapping[str, Any],
    winners: Mapping[str, Any],
    scores: Mapping[str, float],
    notes: Sequence[str],
) -> str:
    """The whole `table.md`: problems, results, winners and profile scores."""

    def table(rows: list[dict[str, str]]) -> list[str]:
        cols = list(rows[0])
        out = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
        return out + ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]

    lines = ["# Optimizer suite", "", *notes, "", "## Problems", ""]
    lines += table(
        [
            {
                "problem": n,
                "kind": p["kind"],
                "steps": str(p["num_steps"]),
                "target (train loss)": _fmt(p["target"], ".4g"),
                "description": p["description"],
            }
            for n, p in problems.items()
        ]
    )
    lines += ["", "## Results (median steps [min-max] (seeds reaching) ; mean ± std)", ""]
    lines += table(table_rows(results))
    lines += ["", "## Winners (fewest median steps to target)", ""]
    lines += table(
        [
            {
                "problem": p,
                "optimizer": w["optimizer"],
                "schedule": w["schedule"],
                "median steps": _fmt(w["median_steps"], ".0f"),
                "final loss": _fmt(w["final_loss_mean"]),
            }
            for p, w in winners.items()
        ]
    )
    lines += ["", "## Performance-profile scores (area on [1, 4], AlgoPerf-style)", ""]
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    lines += table([{"entry": k, "score": _fmt(v, ".3f")} for k, v in ranked])
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ plots


def _above(values: Any, floor: float) -> np.ndarray:
    """`values - floor` for a log axis: non-finite -> NaN (a gap), clipped at 1e-12."""
    v = np.asarray(values, np.float64) - floor
    return np.where(np.isfinite(v), np.maximum(v, 1e-12), np.nan)


def _plot_profile(path: Path, profile: Mapping[str, Any], colors: dict[str, str]) -> None:
    from jaxnn import plotting

    fig, ax = plotting.new_figure(size=(7.0, 4.5))
    for entry, rho in zip(profile["entries"], profile["rho"], strict=True):
        opt, cos = entry.removesuffix("+cos"), entry.endswith("+cos")
        label = f"{entry} ({profile['score'][entry]:.2f})"
        ax.step(
            profile["taus"],
            rho,
            where="post",
            color=colors[opt],
            ls="--" if cos else "-",
            label=label,
        )
    ax.set(xscale="log", xlabel="tau (steps to target / best steps)", ylim=(-0.02, 1.02))
    ax.set(ylabel="fraction of problems solved", title="Performance profile (score on [1, 4])")
    ax.legend(fontsize=6, ncol=2)
    plotting.save(fig, path)


def _plot_lr(path: Path, problems: Mapping, results: Mapping, colors: dict[str, str]) -> None:
    from jaxnn import plotting

    names = list(results)
    cols = min(4, len(names))
    fig, axes = plotting.new_figure(-(-len(names) // cols), cols, size=(4.0, 3.2))
    axes = np.ravel(axes)
    for ax, p in zip(axes, names, strict=False):
        for o, color in colors.items():
            for sched, ls in (("constant", "-"), ("warmup_cosine", "--")):
                t = results[p][o][sched]["tuning"]
                y = _above(t["scores"], problems[p]["min_value"])
                ax.plot(
                    t["grid"], y, ls=ls, color=color, marker=".", label=o if ls == "-" else None
                )
        ax.set(xscale="log", yscale="log", title=p, xlabel="learning rate")
        ax.set_ylabel("final loss - min (dashed: cosine)")
    axes[0].legend(fontsize=6)
    for ax in axes[len(names) :]:
        ax.set_axis_off()
    plotting.save(fig, path)


def _plot_curves(path: Path, problems: Mapping, results: Mapping, colors: dict[str, str]) -> None:
    from jaxnn import plotting

    names = list(results)
    fig, axes = plotting.new_figure(len(names), 2, size=(4.5, 2.8))
    axes = np.asarray(axes).reshape(len(names), 2)
    for row, p in zip(axes, names, strict=True):
        floor = problems[p]["min_value"]
        for ax, sched in zip(row, ("constant", "warmup_cosine"), strict=True):
            for o, color in colors.items():
                c = results[p][o][sched]["curve"]
                ax.plot(c["steps"], _above(c["mean"], floor), color=color, lw=1, label=o)
                low, high = _above(c["min"], floor), _above(c["max"], floor)
                ax.fill_between(c["steps"], low, high, color=color, alpha=0.15)
            ax.axhline(problems[p]["target"] - floor, color="k", ls=":", lw=1)
            ax.set(yscale="log", title=f"{p} ({sched})", xlabel="step", ylabel="loss - min")
    axes[0, 0].legend(fontsize=6)
    plotting.save(fig, path)


def plot_all(out: Path, result: Mapping[str, Any]) -> list[str]:
    """Write `profile.png`, `lr_sensitivity.png` (final loss vs rate; diverged runs are
    gaps) and `convergence.png` (mean curve, min-max band over seeds, target dotted)."""
    problems, results = result["problem_info"], result["results"]
    opts = list(next(iter(results.values())))
    colors = {o: f"C{i % 10}" for i, o in enumerate(opts)}
    _plot_profile(out / "profile.png", result["profile"], colors)
    _plot_lr(out / "lr_sensitivity.png", problems, results, colors)
    _plot_curves(out / "convergence.png", problems, results, colors)
    return ["profile.png", "lr_sensitivity.png", "convergence.png"]
