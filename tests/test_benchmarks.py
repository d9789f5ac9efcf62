"""Smoke tests of the benchmarks: each quick variant runs and writes a complete JSON.

Checked for every benchmark: `DIR/NAME.json` exists and parses; it has the
machine block with its keys, a config, rows, and a summary holding the
benchmark's named numbers, all finite; targets (where the benchmark has
them) carry a boolean `met`. Timing values are never asserted: the tests
must pass on a loaded 2-core machine.
"""

from __future__ import annotations

import importlib
import math
import re
from pathlib import Path

import pytest

from harness import bench_cli, registry
from jaxnn.results import read_json

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ["hessian", "landscape", "optimizer_step", "optimizer_suite", "sweep", "train_step"]


def get(name):
    return importlib.import_module(f"benchmarks.{name}")


MACHINE_KEYS = {
    "cpu",
    "cores",
    "platform",
    "python",
    "backend",
    "device_kind",
    "device_count",
    "process_count",
    "versions",
}

# benchmark -> summary keys it must report (more may follow).
SUMMARY_KEYS = {
    "optimizer_step": {"max_ratio", "median_ratio", "best_fraction_of_bandwidth"},
    "train_step": {"max_ratio_vs_flax", "samples_per_second", "scan_cnn_ratio_vs_flax"},
    "landscape": {
        "speedup_vs_loop",
        "fraction_of_matmul_peak",
        "points_per_second",
        "convexity_points_per_second",
        "resume_overhead",
    },
    "hessian": {"hvp_over_grad", "top_eigenvalue_seconds"},
    "sweep": {"speedup_vs_sequential"},
}


def _numbers(tree):
    """Every int/float in a nested JSON value (bools excluded)."""
    if isinstance(tree, dict):
        for v in tree.values():
            yield from _numbers(v)
    elif isinstance(tree, list):
        for v in tree:
            yield from _numbers(v)
    elif isinstance(tree, (int, float)) and not isinstance(tree, bool):
        yield tree


def check_result_file(path, name, summary_keys):
    """Assert the benchmark JSON at `path` is complete; return it."""
    assert path.exists(), f"{name} did not write {path}"
    result = read_json(path, arrays=True)
    assert result["benchmark"] == name
    machine = result["machine"]
    assert MACHINE_KEYS <= set(machine), f"machine block lacks {MACHINE_KEYS - set(machine)}"
    assert machine["cores"] >= 1 and machine["device_count"] >= 1
    assert {"jax", "jaxlib", "optax", "flax"} <= set(machine["versions"])
    assert machine["load"] is None or len(machine["load"]) == 3
    assert isinstance(result["config"], dict)
    assert isinstance(result["rows"], list) and result["rows"]
    summary = result["summary"]
    assert summary_keys <= set(summary), f"summary lacks {summary_keys - set(summary)}"
    for key in summary_keys:
        value = summary[key]
        assert isinstance(value, (int, float)) and not isinstance(value, bool), (key, value)
    bad = [v for v in _numbers(summary) if not math.isfinite(v)]
    assert not bad, f"non-finite summary values: {bad}"
    for entry in result.get("targets", {}).values():
        assert isinstance(entry["met"], bool) and math.isfinite(entry["value"])
        if "interval" in entry:  # a speed target decided within the run's noise
            low, high = entry["interval"]
            assert low <= high and entry["peer_spread"] >= 0
    return result


def test_registry_finds_exactly_these_benchmarks():
    entries = registry.discover(ROOT / "benchmarks", "benchmark")
    assert [e.name for e in entries] == BENCHMARKS
    assert set(SUMMARY_KEYS) <= set(BENCHMARKS)


# These quick variants take 40-150 CPU-s each (the sweep one trains 5 models x 2 programs x
# several chunk sizes); they run in the slow suite, and the functions they time are tested in
# tests/test_sweep.py, test_layers.py, test_landscape_*.py. optimizer_step stays in the default run.
_SLOW_QUICK = {"sweep", "train_step", "landscape", "hessian"}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.slow) if n in _SLOW_QUICK else n
        for n in sorted(SUMMARY_KEYS)
    ],
)
def test_quick_benchmark_writes_complete_json(name, tmp_path):
    returned = get(name).run(quick=True, out_dir=tmp_path)
    result = check_result_file(tmp_path / f"{name}.json", name, SUMMARY_KEYS[name])
    assert returned["summary"].keys() == result["summary"].keys()


# Other benchmarks (optimizer_suite, ...) append their own tests below; they can
# reuse `check_result_file(path, name, summary_keys)`.


# --------------------------------------------------------------------------------
# optimizer_suite: DeepOBS-style protocol (tests by the optimizer_suite author).
# --------------------------------------------------------------------------------

import numpy as np  # noqa: E402

from benchmarks import optimizer_suite  # noqa: E402
from jaxnn import suite  # noqa: E402

GUIDE = ROOT / "docs" / "guide" / "experiments_and_benchmarks.md"
SUITE_SUBSET = ("rosenbrock",)  # the net branch runs in the slow full quick variant


def _sign_sgd_source() -> str:
    """The user guide's sign-SGD plug-in (its second python block)."""
    return re.findall(r"```python\n(.*?)```", GUIDE.read_text(), re.S)[1]


def _check_suite(out, problems, optimizers):
    result = check_result_file(out / "optimizer_suite.json", "optimizer_suite", {"wall_seconds"})
    summary = result["summary"]
    assert summary["problems"] == list(problems)
    assert summary["optimizers"] == list(optimizers)
    assert set(summary["winner_per_problem"]) == set(problems)
    assert set(summary["winner_per_problem"].values()) <= set(optimizers)
    assert result["determinism"]["seed0_rerun_equals_tuning_run"] == dict.fromkeys(problems, True)
    seeds, grid = result["config"]["seeds"], result["config"]["grid"]
    for p in problems:
        info = result["problem_info"][p]
        assert math.isfinite(info["target"]) and info["num_steps"] > 0
        assert set(result["results"][p]) == set(optimizers)
        for opt, r in result["results"][p].items():
            assert r["time_per_step_s"] > 0
            for sched in ("constant", "warmup_cosine"):
                e = r[sched]
                assert min(abs(e["lr"] - g) / g for g in grid) < 1e-6  # a grid point
                scores = [math.inf if v is None else v for v in e["tuning"]["scores"]]
                assert len(scores) == len(grid) and any(map(math.isfinite, scores)), (p, opt)
                steps = e["steps_to_target"]
                assert len(steps["per_seed"]) == steps["seeds"] == seeds
                assert 0 <= steps["reached"] <= seeds
                median = steps["median"]  # null (with the reason "inf") when never reached
                if median is None:
                    assert steps["median_nonfinite"] == "inf"
                else:
                    assert 0 <= median <= info["num_steps"]
                band = e["curve"]
                assert len(band["steps"]) == len(band["mean"]) == len(band["max"])
                if info["kind"] == "net":
                    acc = e["test_accuracy"]["mean"]
                    assert acc is None or 0.0 <= acc <= 1.0
                else:
                    assert e["test_accuracy"] is None
        w = result["winners"][p]
        assert w["final_loss_mean"] is not None and math.isfinite(w["final_loss_mean"]), (p, w)
    profile = np.asarray(result["profile"]["rho"], float)
    assert profile.shape == (2 * len(optimizers), len(result["profile"]["taus"]))
    assert np.all((0 <= profile) & (profile <= 1)) and np.all(np.diff(profile, axis=1) >= 0)
    folder = out / "optimizer_suite"
    table = (folder / "table.md").read_text()
    assert all(name in table for name in (*problems, *optimizers))
    for png in ("profile.png", "lr_sensitivity.png", "convergence.png"):
        assert (folder / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
    return result


def test_optimizer_suite_quick_with_the_guides_sign_sgd(tmp_path, monkeypatch, capsys):
    (tmp_path / "suite_user_optimizer.py").write_text(_sign_sgd_source())
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "out"
    result = optimizer_suite.run(
        quick=True, out_dir=out, extra_optimizers=["suite_user_optimizer:sign_sgd"],
        problems=SUITE_SUBSET,
    )  # fmt: skip
    optimizers = (*optimizer_suite.BUILTIN, "sign_sgd")
    _check_suite(out, SUITE_SUBSET, optimizers)
    assert result["summary"]["optimizers"] == list(optimizers)
    printed = capsys.readouterr().out
    assert "sign_sgd" in printed and "winners" in printed


def test_bench_cli_list_usage_errors_and_summary(tmp_path, monkeypatch, capsys):
    assert bench_cli.main(["list"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == BENCHMARKS
    assert bench_cli.main(["run", "nope", "--out", str(tmp_path)]) == 2
    assert bench_cli.main(["run", "sweep", "--optimizer", "a:b", "--out", str(tmp_path)]) == 2
    spec = ["--optimizer", "math:pi", "--out", str(tmp_path)]
    assert bench_cli.main(["run", "optimizer_suite", *spec]) == 2
    err = capsys.readouterr().err
    assert "Unknown benchmark 'nope'" in err and "optimizer_suite benchmark only" in err
    assert "not a callable" in err
    # A fake benchmark folder: one that misses its target, one that raises.
    folder = tmp_path / "fakebench"
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / "slow.py").write_text(
        '"""Misses its target."""\n\ndef run(quick, out_dir):\n'
        '    return {"targets": {"ratio": {"target": "r <= 1", "value": 2.0, "met": False}}}\n'
    )
    (folder / "crash.py").write_text('"""Raises."""\n\ndef run(quick, out_dir):\n    1 / 0\n')
    monkeypatch.setenv("JAXNN_BENCHMARKS_DIR", str(folder))
    assert bench_cli.main(["all", "--out", str(tmp_path / "b")]) == 1
    summary = read_json(tmp_path / "b" / "summary.json")
    assert summary["missed_targets"] == {"slow": {"ratio": {"target": "r <= 1", "value": 2.0,
                                                            "met": False}}}  # fmt: skip
    assert not summary["benchmarks"]["crash"]["ok"]
    assert bench_cli.main(["run", "slow", "--out", str(tmp_path / "b")]) == 0
    assert "Missed targets" in capsys.readouterr().out


@pytest.mark.slow  # the same-program-twice check `seed0_rerun_equals_tuning_run` runs by default
def test_optimizer_suite_same_seeds_same_numbers(tmp_path):
    def numbers(out):
        optimizer_suite.run(quick=True, out_dir=out, problems=["branin"])
        result = read_json(out / "optimizer_suite.json")
        for per_opt in result["results"].values():
            for r in per_opt.values():  # drop the timings, keep every other number
                r.pop("time_per_step_s")
                r["constant"].pop("seconds_to_target")
                r["warmup_cosine"].pop("seconds_to_target")
        return result["results"], result["summary"]["winner_per_problem"]

    assert numbers(tmp_path / "a") == numbers(tmp_path / "b")


def test_performance_profile_closed_form():
    inf = float("inf")
    # 3 problems x 3 solvers; problem 2 is solved by nobody.
    steps = np.array([[10.0, 20.0, inf], [30.0, 15.0, 60.0], [inf, inf, inf]])
    # ratios to the best: p0 (1, 2, inf), p1 (2, 1, 4), p2 all inf.
    taus = np.array([1.0, 1.5, 2.0, 3.9, 4.0, 100.0])
    rho = suite.performance_profile(steps, taus)
    expected = np.array([[1, 1, 2, 2, 2, 2], [1, 1, 2, 2, 2, 2], [0, 0, 0, 0, 1, 1]]) / 3.0
    np.testing.assert_allclose(rho, expected)
    # score = mean_p max(0, 4 - r) / 3: (3 + 2 + 0) / 9, (2 + 3 + 0) / 9, (0 + 0 + 0) / 9.
    np.testing.assert_allclose(suite.profile_score(steps), [5 / 9, 5 / 9, 0.0])
    # Steps below 1 count as 1 (a target met at the start); NaN counts as never.
    np.testing.assert_allclose(
        suite.profile_score(np.array([[0.0, 2.0, np.nan]]), tau_max=3.0), [1.0, 0.5, 0.0]
    )


@pytest.mark.slow
def test_optimizer_suite_full_quick_variant(tmp_path):
    result = optimizer_suite.run(quick=True, out_dir=tmp_path)
    _check_suite(tmp_path, optimizer_suite.QUICK_PROBLEMS, tuple(optimizer_suite.BUILTIN))
    assert result["summary"]["problems"] == list(optimizer_suite.QUICK_PROBLEMS)


def test_optimizer_suite_patch_conv_and_flattened_match_the_library():
    import jax
    import jax.numpy as jnp

    from jaxnn import layers, optim
    from jaxnn.suite import _problems as sp  # testing the suite's private helpers

    x = jax.random.normal(jax.random.key(1), (3, 11, 2))
    for stride in (1, 2):
        ours, ref = sp._patch_conv(4, 5, stride), layers.Conv(4, 5, strides=stride)
        _, params, state = ref.init(jax.random.key(0), (-1, 11, 2))
        want, _ = ref.apply(params, state, x)
        got, _ = ours.apply(params, state, x)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    params = {"w": jnp.arange(6.0).reshape(2, 3), "b": jnp.ones(3)}
    grads = jax.tree.map(lambda p: jnp.cos(p) + 0.5, params)
    tree, flat = optim.adamw(0.1), sp.flattened(optim.adamw)(0.1)
    s_tree, s_flat = tree.init(params), flat.init(params)
    for _ in range(3):
        u_tree, s_tree = tree.update(grads, s_tree, params)
        u_flat, s_flat = flat.update(grads, s_flat, params)
        # same rule; XLA may fuse the raveled vector differently (an ulp or so)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), u_flat, u_tree)
