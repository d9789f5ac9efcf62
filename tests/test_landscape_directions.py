"""Directions (Li et al. filter/layer/model normalization) and trajectory PCA/projection."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from jaxnn import landscape as L


def _params(key=0):
    k = jax.random.split(jax.random.key(key), 5)
    return {
        "dense": {"w": jax.random.normal(k[0], (6, 4)), "b": jax.random.normal(k[1], (4,))},
        "conv": {"w": jax.random.normal(k[2], (3, 3, 2, 5)), "b": jnp.ones(5)},
        "bn": (jax.random.normal(k[3], (5,)), jax.random.normal(k[4], ())),
    }


def _norm(x):
    return np.linalg.norm(np.asarray(x, np.float64).ravel())


def _filter_norms(w):
    return np.linalg.norm(np.asarray(w, np.float64).reshape(-1, w.shape[-1]), axis=0)


def test_filter_norm_matches_every_filter_dense_and_conv():
    params = _params()
    d = L.random_direction(jax.random.key(1), params)
    for name in ("dense", "conv"):
        got, want = _filter_norms(d[name]["w"]), _filter_norms(params[name]["w"])
        np.testing.assert_allclose(got, want, rtol=1e-5)
        # a filter is a slice along the last axis: direction isn't just a scaled copy
        assert not np.allclose(d[name]["w"], params[name]["w"])
    for leaf in (d["dense"]["b"], d["conv"]["b"], *d["bn"]):
        assert np.all(np.asarray(leaf) == 0)


def test_ignore_none_rescales_each_1d_leaf_as_a_whole():
    params = _params()
    d = L.random_direction(jax.random.key(1), params, ignore=None)
    for dl, pl in [(d["dense"]["b"], params["dense"]["b"]), (d["bn"][0], params["bn"][0])]:
        np.testing.assert_allclose(_norm(dl), _norm(pl), rtol=1e-5)
    np.testing.assert_allclose(_norm(d["bn"][1]), _norm(params["bn"][1]), rtol=1e-5)
    np.testing.assert_allclose(
        _filter_norms(d["conv"]["w"]), _filter_norms(params["conv"]["w"]), rtol=1e-5
    )


def test_layer_and_model_norms():
    params = _params()
    d = L.random_direction(jax.random.key(2), params, norm="layer", ignore=None)
    for dl, pl in zip(jax.tree.leaves(d), jax.tree.leaves(params), strict=True):
        np.testing.assert_allclose(_norm(dl), _norm(pl), rtol=1e-5)

    def tree_norm(t):
        return np.sqrt(sum(_norm(x) ** 2 for x in jax.tree.leaves(t)))

    d = L.random_direction(jax.random.key(2), params, norm="model", ignore=None)
    np.testing.assert_allclose(tree_norm(d), tree_norm(params), rtol=1e-5)
    # with biasbn ignored, ||d|| is the norm of the parameters it covers (the >= 2-D leaves)
    d = L.random_direction(jax.random.key(2), params, norm="model")
    kernels = [params["dense"]["w"], params["conv"]["w"]]
    np.testing.assert_allclose(tree_norm(d), tree_norm(kernels), rtol=1e-5)
    raw = L.random_direction(jax.random.key(2), params, norm=None, ignore=None)
    assert abs(tree_norm(raw) - tree_norm(params)) > 1e-3


def test_same_key_same_direction_raw_and_typed_keys_and_dtypes():
    params = {
        "w": jnp.ones((3, 4), jnp.bfloat16),
        "b": jnp.ones(4, jnp.float16),
        "n": jnp.arange(3),
    }
    a = L.random_direction(jax.random.key(7), params, ignore=None)
    b = L.random_direction(jax.random.key(7), params, ignore=None)
    c = L.random_direction(jax.random.PRNGKey(7), params, ignore=None)
    jax.tree.map(lambda x, y: np.testing.assert_array_equal(x, y), a, b)
    assert jax.tree.map(lambda x: x.dtype, a) == jax.tree.map(lambda x: x.dtype, params)
    assert np.all(np.asarray(a["n"]) == 0)  # integer leaves are not perturbed
    assert c["w"].shape == (3, 4)
    assert not np.array_equal(a["w"], L.random_direction(jax.random.key(8), params)["w"])


def test_flax_dense_params():
    import flax
    import flax.linen as nn

    variables = nn.Dense(3).init(jax.random.key(0), jnp.ones((1, 5)))
    variables = jax.tree.map(lambda x: x + 0.1, variables)  # nonzero bias
    d = L.random_direction(jax.random.key(1), variables)
    kernel, pk = d["params"]["kernel"], variables["params"]["kernel"]
    np.testing.assert_allclose(_filter_norms(kernel), _filter_norms(pk), rtol=1e-5)
    assert np.all(np.asarray(d["params"]["bias"]) == 0)
    frozen = flax.core.freeze(variables)
    fd = L.random_direction(jax.random.key(1), frozen)
    assert isinstance(fd, flax.core.FrozenDict)
    np.testing.assert_array_equal(fd["params"]["kernel"], kernel)


def test_direction_bad_input():
    params = _params()
    with pytest.raises(ValueError, match="norm must be one of"):
        L.random_direction(jax.random.key(0), params, norm="weight")
    with pytest.raises(ValueError, match="ignore must be one of"):
        L.random_direction(jax.random.key(0), params, ignore="bias")
    with pytest.raises(ValueError, match="tree structure"):
        L.normalize_direction({"w": jnp.ones(2)}, params)
    bad = jax.tree.map(lambda x: x, params)
    bad["dense"]["w"] = jnp.ones((4, 6))
    with pytest.raises(ValueError, match=r"\['dense'\]\['w'\] has shape \(4, 6\)"):
        L.normalize_direction(bad, params)


# ---------------------------------------------------------------- trajectories


def _trajectory(n=9, key=3):
    k = jax.random.split(jax.random.key(key), 2)
    walk = jnp.cumsum(jax.random.normal(k[0], (n, 17), float), axis=0)
    walk = walk * jnp.linspace(1.0, 3.0, 17)[None, :]  # anisotropic
    return [{"a": w[:12].reshape(3, 4), "b": w[12:]} for w in walk]


def _flat(tree):
    return np.asarray(ravel_pytree(tree)[0])


def test_pca_matches_numpy_svd_and_sklearn(x64):
    traj = _trajectory()
    (dx, dy), ratio = L.pca_directions(traj)
    m = np.stack([_flat(p) for p in traj])
    diffs = m - m[-1]
    centred = diffs - diffs.mean(0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    for got, want in zip((_flat(dx), _flat(dy)), vt[:2], strict=True):
        np.testing.assert_allclose(abs(got @ want), 1.0, atol=1e-10)
    np.testing.assert_allclose(ratio, (s**2 / np.sum(s**2))[:2], rtol=1e-10)
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2).fit(diffs)
    np.testing.assert_allclose(ratio, pca.explained_variance_ratio_, rtol=1e-8)
    # stacked pytree gives the same as the list
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *traj)
    (sx, _), sratio = L.pca_directions(stacked)
    np.testing.assert_allclose(_flat(sx), _flat(dx), atol=1e-12)
    np.testing.assert_allclose(sratio, ratio, rtol=1e-12)


def test_plane_trajectory_recovered_exactly_by_project(x64):
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(17, 2)))
    center = rng.normal(size=17)
    coef = np.concatenate([rng.normal(size=(7, 2)) * [3.0, 1.0], np.zeros((1, 2))])
    pts = center + coef @ q.T

    def tree(v):
        return {"a": jnp.asarray(v[:12]).reshape(3, 4), "b": jnp.asarray(v[12:])}

    traj = [tree(p) for p in pts]
    (dx, dy), ratio = L.pca_directions(traj)
    np.testing.assert_allclose(np.sum(ratio), 1.0, rtol=1e-10)
    xy = np.asarray(L.project(traj, tree(center), dx, dy))
    recon = center + xy[:, :1] * _flat(dx) + xy[:, 1:] * _flat(dy)
    np.testing.assert_allclose(recon, pts, atol=1e-10)
    # non-orthogonal directions: least squares gives the exact plane coordinates
    u, v = q[:, 0], q[:, 0] + q[:, 1]
    xy = np.asarray(L.project(traj, tree(center), tree(u), tree(v)))
    np.testing.assert_allclose(xy, np.stack([coef[:, 0] - coef[:, 1], coef[:, 1]], 1), atol=1e-10)


def test_trajectory_bad_input():
    traj = _trajectory(4)
    with pytest.raises(ValueError, match="k=5"):
        L.pca_directions(traj, k=5)
    with pytest.raises(ValueError, match="empty list"):
        L.pca_directions([])
    with pytest.raises(ValueError, match="linearly dependent"):
        L.project(traj, traj[0], traj[1], traj[1])
    with pytest.raises(ValueError, match="tree structure"):
        L.project(traj, traj[0], {"a": jnp.ones((3, 4))}, traj[1])
    with pytest.raises(ValueError, match="leading axis"):
        L.pca_directions({"a": jnp.ones((3, 2)), "b": jnp.ones((4,))})
