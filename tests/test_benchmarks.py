"""Smoke tests of the benchmarks: each quick variant runs and writes a complete JSON.

Checked for every benchmark: `DIR/NAME.json` exists and parses; it has the
machine block with its keys, a config, rows, and a summary holding the
benchmark's named numbers, all finite; targets (where the benchmark has
them) carry a boolean `met`. Timing values are never asserted: the tests
must pass on a loaded 2-core machine.
"""

from __future__ import annotations

import json
import math

import pytest

from benchmarks import get, names

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
    "train_step": {"max_ratio_vs_flax", "samples_per_second"},
    "landscape": {"speedup_vs_loop", "fraction_of_matmul_peak", "points_per_second"},
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
    result = json.loads(path.read_text())
    assert result["benchmark"] == name
    machine = result["machine"]
    assert MACHINE_KEYS <= set(machine), f"machine block lacks {MACHINE_KEYS - set(machine)}"
    assert machine["cores"] >= 1 and machine["device_count"] >= 1
    assert {"jax", "jaxlib", "optax", "flax"} <= set(machine["versions"])
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
    return result


def test_registry_lists_these_benchmarks():
    assert set(SUMMARY_KEYS) <= set(names())


@pytest.mark.parametrize("name", sorted(SUMMARY_KEYS))
def test_quick_benchmark_writes_complete_json(name, tmp_path):
    returned = get(name).run(quick=True, out_dir=tmp_path)
    result = check_result_file(tmp_path / f"{name}.json", name, SUMMARY_KEYS[name])
    assert returned["summary"].keys() == result["summary"].keys()


# Other benchmarks (optimizer_suite, ...) append their own tests below; they can
# reuse `check_result_file(path, name, summary_keys)`.
