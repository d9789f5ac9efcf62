"""jaxnn.tuning against a closed form, jaxnn.timing's noise-aware targets, jaxnn.results files."""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import optim, results, timing, train, tuning


def test_tune_learning_rate_picks_the_closed_form_rate():
    # GD on f(w) = h w^2 / 2 contracts w by |1 - eta h| per step: eta = 1/h is optimal,
    # eta > 2/h diverges.
    h = 4.0
    grid = np.array([0.05, 0.125, 0.25, 0.4, 2.0])  # 0.25 = 1/h; 2.0 > 2/h overflows

    def curve(lr):
        return train.optimize(lambda w: 0.5 * h * w**2, optim.sgd(lr), jnp.float32(1.0), 40)[1][
            "loss"
        ]

    result = tuning.tune_learning_rate(curve, grid)
    assert result.pick == 0.25 and result.index == 2
    assert result.diverged.tolist() == [False, False, False, False, True]
    assert np.isinf(result.scores[-1]) and result.scores[2] == 0.0
    # the scores equal the closed form (1 - eta h)^(2T) h / 2 where finite and not underflowed
    want = 0.5 * h * (1 - grid[:2] * h) ** 80
    np.testing.assert_allclose(result.scores[:2], want, rtol=1e-3)
    steps = tuning.tune_learning_rate(curve, grid, tuning.steps_to(1e-3))
    assert steps.pick == 0.25 and steps.scores[2] == 1.0  # one step lands on the minimum


def test_log_grid_matches_numpy():
    np.testing.assert_allclose(tuning.log_grid(1e-3, 1.0, 4), [1e-3, 1e-2, 1e-1, 1.0])


def _timing(samples):
    return {"all": list(samples), "median": float(np.median(samples)), "min": min(samples)}


def test_ratio_target_decided_within_the_noise():
    peer = _timing([1.0, 1.3, 0.9, 1.1, 1.0])
    same = _timing([1.1, 1.0, 1.0, 1.2, 1.05])  # the same program, jitter only
    slower = _timing([1.5, 1.9, 1.4, 1.7, 1.6])  # slower in every round
    met = timing.ratio_target("ours / peer <= 1", same, peer, at_most=1.0)
    assert met["value"] > 1.0 and met["met"]  # the median ratio alone would say "missed"
    assert met["interval"] == pytest.approx([1.0 / 1.3, 1.0 / 0.9])
    assert met["peer_spread"] == pytest.approx(0.4)
    assert not timing.ratio_target("x", slower, peer, at_most=1.0)["met"]
    assert timing.ratio_target("speedup >= 1.5", slower, peer, at_least=1.5)["met"]


def test_time_interleaved_returns_paired_samples():
    out = timing.time_interleaved({"a": lambda: jnp.ones(3), "b": lambda: jnp.zeros(3)}, 3)
    assert [len(out[k]["all"]) for k in "ab"] == [3, 3]
    assert all(out[k]["min"] <= out[k]["median"] for k in "ab")


def test_results_null_with_reason_npz_and_stale_temporaries(tmp_path):
    obj = {"loss": float("inf"), "curve": np.array([1.0, np.nan, 3.0]), "grid": np.ones((30, 40))}
    path = results.write_json(tmp_path / "m.json", obj, npz_min_size=1000)
    raw = json.loads(path.read_text())  # strict JSON: no bare NaN/Infinity tokens
    assert raw["loss"] is None and raw["loss_nonfinite"] == "inf"
    assert raw["curve"] == [1.0, None, 3.0] and raw["curve_nonfinite"] == "nan"
    assert raw["grid"] == {"npz": "m.npz", "key": "grid", "shape": [30, 40], "dtype": "float64"}
    back = results.read_json(path, arrays=True)
    np.testing.assert_array_equal(back["grid"], obj["grid"])
    stale = tmp_path / "sub" / ".m.json.x1y2.tmp"
    stale.parent.mkdir()
    stale.write_text("half")
    keep = tmp_path / "sub" / "notes.tmp"  # not a writer's temporary name
    keep.write_text("mine")
    assert results.remove_stale_temporaries(tmp_path) == [stale]
    assert keep.exists() and path.exists()
