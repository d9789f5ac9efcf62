"""The paper reproductions (issue: paper reproductions), in their quick variants, hold their claims.

Each quick variant runs once per module (a module-scoped fixture) and every
test reads its metrics: the claim, the checks' numbers, and the figures.
"""

from __future__ import annotations

import importlib
import json

import numpy as np
import pytest

# Every quick variant runs in the default test run (5-35 s each on an idle 2-core CPU).
from tests.test_experiments import PAPERS  # the list of experiments is written out there

# Sub-claims that do not survive the scaling (each module's docstring explains): they are
# recorded with holds=False, so the claim is reported as not holding, and nothing else fails.
KNOWN_FAILURES = {"hessian_outliers": ("separation",), "large_batch_sharpness": ("ε-sharpness",)}


@pytest.fixture(scope="module", params=PAPERS)
def result(request, tmp_path_factory):
    name = request.param
    module = importlib.import_module(f"experiments.{name}")
    out = tmp_path_factory.mktemp(name)
    return name, module, module.run(module.Config.quick(), out), out / name


def test_quick_claim_holds_and_files_written(result):
    name, module, metrics, folder = result
    on_disk = json.loads((folder / "metrics.json").read_text())
    assert on_disk["name"] == name and on_disk["claim"] == module.CLAIM
    assert len(on_disk["checks"]) >= 2, "a paper's claim rests on several numbers"
    for fig in metrics["figures"]:
        assert (folder / fig).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    failed = [c["name"] for c in metrics["checks"] if not c["holds"]]
    allowed = KNOWN_FAILURES.get(name, ())
    unexpected = [f for f in failed if not any(word in f for word in allowed)]
    assert not unexpected, f"{name}: failed checks {unexpected}"
    assert metrics["claim_holds"] == (not failed)


def test_outlier_count_finds_the_largest_gap():
    from experiments.hessian_outliers import outlier_count

    spectrum = np.array([50.0, 40, 35, 30, 3.0, 2.9, 2.8, 2.7, 2.6, 2.5])  # 4 outliers, 12x gap
    assert outlier_count(spectrum, 4) == (4, 10.0)
    flat = np.geomspace(10.0, 1.0, 10)  # no edge: equal ratios, first position wins
    count, ratio = outlier_count(flat, 4)
    assert count == 1 and abs(ratio - 10 ** (1 / 9)) < 1e-12


def test_confidence_interval_matches_student_t():
    from experiments.large_batch_sharpness import confidence_interval

    values = [0.01, 0.03, -0.02, 0.02]  # mean 0.01, sample std 0.021602, n = 4, t = 3.182
    mean, lo, hi = confidence_interval(values)
    half = 3.182 * np.std(values, ddof=1) / 2
    assert abs(mean - 0.01) < 1e-12 and abs(hi - lo - 2 * half) < 1e-12


def test_barrier_is_height_above_the_chord():
    from experiments.linear_interpolation import barrier

    alphas = np.linspace(-0.5, 1.5, 41)
    line = 1.0 + 2.0 * alphas  # a straight line has no barrier, whatever its slope
    assert abs(barrier(alphas, line)) < 1e-12
    bump = line + 3.0 * np.clip(1 - np.abs(alphas - 0.5) / 0.5, 0, None)
    assert abs(barrier(alphas, bump) - 3.0) < 1e-12


def test_off_plane_distance_is_zero_in_the_plane_and_the_normal_outside():
    from experiments.trajectory_pca import off_plane

    rng = np.random.default_rng(0)
    basis, _ = np.linalg.qr(rng.normal(size=(6, 2)))
    basis = basis.T  # (2, 6) orthonormal rows
    coords = rng.normal(size=(5, 2))
    normal = np.linalg.qr(np.concatenate([basis.T, rng.normal(size=(6, 1))], axis=1))[0][:, 2]
    path = coords @ basis + 0.7 * normal[None]
    np.testing.assert_allclose(off_plane(coords @ basis, coords, basis), 0.0, atol=1e-12)
    np.testing.assert_allclose(off_plane(path, coords, basis), 0.7, rtol=1e-12)


def test_skip_connections_nets_differ_only_by_the_skips():
    import jax
    import jax.numpy as jnp

    from experiments.skip_connections import cnn

    x = jax.random.normal(jax.random.key(0), (3, 40, 1))
    shapes = {}
    for skip in (False, True):
        out, params, state = cnn(8, 4, skip).init(jax.random.key(1), (-1, 40, 1))
        assert tuple(out) == (-1, 10)
        shapes[skip] = jax.tree.map(jnp.shape, params)
        kernels = [leaf for leaf in jax.tree.leaves(params) if leaf.ndim == 3]
        assert len(kernels) == 7, "depth 8 = 7 conv layers + the dense layer"
    assert shapes[False] == shapes[True]
    # same weights, different function: the skips add each block's input
    _, params, state = cnn(8, 4, False).init(jax.random.key(1), (-1, 40, 1))
    plain, _ = cnn(8, 4, False).apply(params, state, x)
    res, _ = cnn(8, 4, True).apply(params, state, x)
    assert plain.shape == res.shape == (3, 10)
    assert float(jnp.max(jnp.abs(plain - res))) > 1e-3
    with pytest.raises(ValueError, match="even number"):
        cnn(7, 4, True)
