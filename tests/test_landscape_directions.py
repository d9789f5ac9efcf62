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


# ---------------------------------------------------------------- filter axis


def _filter_norms_along(w, axis):
    w = np.moveaxis(np.asarray(w, np.float64), axis, 0)
    return np.linalg.norm(w.reshape(w.shape[0], -1), axis=1)


def test_filter_axis_on_equinox_linear_and_conv():
    eqx = pytest.importorskip("equinox")
    k = jax.random.split(jax.random.key(0), 2)
    model = (eqx.nn.Linear(5, 3, key=k[0]), eqx.nn.Conv2d(2, 4, 3, key=k[1]))
    params = eqx.filter(model, eqx.is_array)
    assert params[1].bias.shape == (4, 1, 1)
    axis = jax.tree.map(lambda _: 0, params)
    d = L.random_direction(jax.random.key(1), params, filter_axis=axis)
    for layer, pl in zip(d, params, strict=True):
        np.testing.assert_allclose(
            _filter_norms_along(layer.weight, 0), _filter_norms_along(pl.weight, 0), rtol=1e-5
        )
        assert np.all(np.asarray(layer.bias) == 0)  # (C, 1, 1) conv bias counts as a bias
    # the same with one int, and not what the default (last axis) gives
    d0 = L.random_direction(jax.random.key(1), params, filter_axis=0)
    jax.tree.map(np.testing.assert_array_equal, d0, d)
    dl = L.random_direction(jax.random.key(1), params)
    got = _filter_norms_along(dl[0].weight, 0)
    assert not np.allclose(got, _filter_norms_along(params[0].weight, 0), rtol=1e-3)
    # ignore=None: the (C, 1, 1) bias is normalized per channel, i.e. |d_c| = |b_c|
    dn = L.random_direction(jax.random.key(2), params, ignore=None, filter_axis=0)
    np.testing.assert_allclose(np.abs(dn[1].bias), np.abs(params[1].bias), rtol=1e-5)


def test_filter_axis_on_pytorch_layout_state_dict():
    rng = np.random.default_rng(0)
    torch_sd = {  # what torch.nn.Conv2d(3, 8, 3) / Linear(8, 10) .state_dict() holds
        "conv.weight": rng.normal(size=(8, 3, 3, 3)).astype(np.float32),
        "conv.bias": rng.normal(size=(8,)).astype(np.float32),
        "bn.weight": rng.normal(size=(8,)).astype(np.float32),
        "fc.weight": rng.normal(size=(10, 8)).astype(np.float32),
        "fc.bias": rng.normal(size=(10,)).astype(np.float32),
    }
    params = {k: jnp.asarray(v) for k, v in torch_sd.items()}
    d = L.normalize_direction(
        jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape), p.dtype), params),
        params,
        filter_axis=0,
    )
    for name in ("conv.weight", "fc.weight"):
        np.testing.assert_allclose(
            _filter_norms_along(d[name], 0), _filter_norms_along(params[name], 0), rtol=1e-5
        )
    for name in ("conv.bias", "bn.weight", "fc.bias"):
        assert np.all(np.asarray(d[name]) == 0)
    # converted to jaxnn's layout (HWIO / (in, out)) with the default axis: same norms
    hwio = {"conv": jnp.transpose(params["conv.weight"], (2, 3, 1, 0)), "fc": params["fc.weight"].T}
    dh = L.random_direction(jax.random.key(0), hwio)
    np.testing.assert_allclose(
        _filter_norms_along(dh["conv"], -1),
        _filter_norms_along(params["conv.weight"], 0),
        rtol=1e-5,
    )


def test_filter_axis_pytree_mixed_and_default_unchanged_for_one_input_kernels():
    params = {"k": jax.random.normal(jax.random.key(0), (1, 4)), "w": jnp.ones((3, 2))}
    d = L.random_direction(jax.random.key(1), params, filter_axis={"k": -1, "w": 0})
    # (1, out) in the (in, out) layout is a one-input kernel: filter-normalized, not zeroed
    np.testing.assert_allclose(np.abs(d["k"]), np.abs(params["k"]), rtol=1e-5)
    np.testing.assert_allclose(_filter_norms_along(d["w"], 0), np.sqrt(2.0), rtol=1e-5)


def test_filter_axis_bad_input():
    params = {"w": jnp.ones((3, 2)), "b": jnp.ones(2)}
    with pytest.raises(ValueError, match=r"filter_axis\['w'\] is 2"):
        L.random_direction(jax.random.key(0), params, filter_axis=2)
    with pytest.raises(ValueError, match="tree structure of params"):
        L.random_direction(jax.random.key(0), params, filter_axis={"w": 0})
    with pytest.raises(TypeError, match=r"filter_axis\['b'\] must be a Python int"):
        L.normalize_direction(params, params, filter_axis={"w": 0, "b": 0.5})


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
    (dx, dy), ratio, off = L.pca_directions(traj)
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
    (sx, _), sratio, soff = L.pca_directions(stacked)
    np.testing.assert_allclose(_flat(sx), _flat(dx), atol=1e-12)
    np.testing.assert_allclose(sratio, ratio, rtol=1e-12)
    np.testing.assert_allclose(soff, off, atol=1e-12)


def test_off_plane_matches_numpy_projection(x64):
    traj = _trajectory(n=11, key=5)
    m = np.stack([_flat(p) for p in traj])
    center = m[4]  # an interior centre: one checkpoint sits on it (off_plane 0)
    result = L.pca_directions(traj, center=traj[4])
    diffs = m - center
    _, _, vt = np.linalg.svd(diffs - diffs.mean(0), full_matrices=False)
    basis = vt[:2]
    residual = diffs - diffs @ basis.T @ basis
    dist = np.linalg.norm(diffs, axis=1)
    want = np.divide(np.linalg.norm(residual, axis=1), dist, out=np.zeros(11), where=dist > 0)
    assert result.off_plane.shape == (11,)
    np.testing.assert_allclose(result.off_plane, want, atol=1e-12)
    assert result.off_plane[4] == 0 and np.all(want[dist > 0] > 1e-3)  # a real walk leaves it
    # k = 1: distance from the line; with k = min(n, d) the plane holds every point
    line = L.pca_directions(traj, k=1)
    v = np.asarray(_flat(line.directions[0]))
    d1 = m - m[-1]
    r1 = np.linalg.norm(d1 - np.outer(d1 @ v, v), axis=1)
    n1 = np.linalg.norm(d1, axis=1)
    np.testing.assert_allclose(line.off_plane, np.where(n1 > 0, r1 / np.maximum(n1, 1e-300), 0))
    full = L.pca_directions(traj[:5], k=5)
    np.testing.assert_allclose(full.off_plane, 0, atol=1e-10)


def test_plane_trajectory_recovered_exactly_by_project(x64):
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(17, 2)))
    center = rng.normal(size=17)
    coef = np.concatenate([rng.normal(size=(7, 2)) * [3.0, 1.0], np.zeros((1, 2))])
    pts = center + coef @ q.T

    def tree(v):
        return {"a": jnp.asarray(v[:12]).reshape(3, 4), "b": jnp.asarray(v[12:])}

    traj = [tree(p) for p in pts]
    (dx, dy), ratio, off = L.pca_directions(traj)
    np.testing.assert_allclose(np.sum(ratio), 1.0, rtol=1e-10)
    np.testing.assert_allclose(off, 0, atol=1e-10)  # a trajectory in a plane is all on it
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
