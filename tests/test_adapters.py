"""jaxnn.adapters: flax.linen, nnx and equinox models trained with `fit`, sliced,
given Hessian eigenvalues (against a dense `eigvalsh`), and written back.

Every model is checked against its own framework: the slice centre against the
framework's own forward pass, round trips against the original outputs.
"""

import pathlib
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

from jaxnn import adapters, landscape, losses, train

eqx = pytest.importorskip("equinox")
nn = pytest.importorskip("flax.linen")
nnx = pytest.importorskip("flax.nnx")

CE = losses.softmax_cross_entropy
GUIDE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "guide" / "your_own_model.md"


def _data(shape, key=0):
    x = jax.random.normal(jax.random.key(key), shape)
    y = (x.reshape(len(x), -1)[:, :2].sum(axis=1) > 0).astype(jnp.int32)
    return x, y


def _dense_top_eigenvalue(loss_fn, params):
    flat, unravel = ravel_pytree(params)
    h = jax.hessian(lambda v: loss_fn(unravel(v)))(flat)
    return float(jnp.linalg.eigvalsh((h + h.T) / 2)[-1])


def _check_landscape(layer, params, state, data, own_loss):
    """slice_2d centre == the framework's own loss; Lanczos top eigenvalue == eigvalsh."""
    loss_fn = landscape.model_loss(layer, state, data, CE)
    dx = landscape.random_direction(jax.random.key(5), params, filter_axis=layer.filter_axis)
    dy = landscape.random_direction(jax.random.key(6), params, filter_axis=layer.filter_axis)
    xs, ys = jnp.array([-0.5, 0.0, 0.5]), jnp.array([0.0, 0.25])
    z = landscape.slice_2d(loss_fn, params, dx, dy, xs, ys)
    np.testing.assert_allclose(z[0, 1], own_loss, rtol=1e-6)  # float32, same ops
    assert abs(float(z[0, 0]) - float(own_loss)) > 1e-4  # the slice moves
    top = landscape.hessian_top_eigenvalues(loss_fn, params, jax.random.key(7), k=1, num_iters=40)
    # float32 Hessians: HVP rounding is ~1e-6 relative, Lanczos stops at tol=1e-6
    np.testing.assert_allclose(
        top.eigenvalues[0], _dense_top_eigenvalue(loss_fn, params), rtol=2e-4
    )


def _guide(index):
    """Run block `index` of the guide page; its namespace (the trained model is `res`)."""
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.S)
    assert len(blocks) == 4
    ns: dict = {}
    exec(compile(blocks[index], f"{GUIDE.name}[{index}]", "exec"), ns)
    if "res" in ns:
        assert not ns["res"].diverged
        loss = ns["res"].history["epoch_loss"]
        assert loss[-1] < loss[0]
    return ns


def _scan(layer, params, state, data):
    final, hist = train.train_scan(
        train.supervised_loss(layer, CE),
        optax.sgd(0.1),
        params,
        data,
        key=jax.random.key(2),
        num_steps=4,
        batch_size=8,
        model_state=state,
    )
    assert hist["loss"].shape == (4,) and np.all(np.isfinite(hist["loss"]))
    assert jax.tree.structure(final.model_state) == jax.tree.structure(state)
    return final


def _filter_norms(w, axis):
    w = np.moveaxis(np.asarray(w, np.float64), axis, 0)
    return np.linalg.norm(w.reshape(w.shape[0], -1), axis=1)


# ------------------------------------------------------------------ flax.linen


@pytest.mark.slow  # ~60 CPU-s; the equinox test keeps the same checks in the default run
def test_flax_linen_cnn_with_batchnorm_and_dropout():
    ns = _guide(0)  # docs/guide/your_own_model.md: a CNN with BatchNorm and Dropout, fit
    module, layer, res, x, y = ns["module"], ns["layer"], ns["res"], ns["x"], ns["y"]
    params, state = res.params, res.model_state
    assert set(state) == {"batch_stats"} and layer.framework == "flax.linen"
    variables = adapters.to_flax_linen(params, state)
    # train=True: batch statistics (state updated), dropout drawn from key
    y1, s1 = layer.apply(params, state, x, key=jax.random.key(0), train=True)
    y2, _ = layer.apply(params, state, x, key=jax.random.key(1), train=True)
    rngs = {"dropout": jax.random.fold_in(jax.random.key(0), 0)}
    want, upd = module.apply(variables, x, train=True, rngs=rngs, mutable=["batch_stats"])
    np.testing.assert_array_equal(y1, want)
    jax.tree.map(np.testing.assert_array_equal, s1["batch_stats"], upd["batch_stats"])
    assert not np.allclose(y1, y2)
    y0, s0 = layer.apply(params, state, x)
    np.testing.assert_array_equal(y0, module.apply(variables, x, train=False))
    assert s0 is state
    own = CE(module.apply(variables, x, train=False), y)
    metrics = train.evaluate(layer, params, state, x, y)
    np.testing.assert_allclose(metrics["loss"], own, rtol=1e-6)
    _check_landscape(layer, params, state, (x, y), own)
    kernel = params["Conv_0"]["kernel"]  # HWIO: filters along the last axis
    np.testing.assert_allclose(
        _filter_norms(ns["dx"]["Conv_0"]["kernel"], -1), _filter_norms(kernel, -1), rtol=1e-5
    )
    final = _scan(layer, params, state, (x, y))
    assert not np.allclose(
        final.model_state["batch_stats"]["BatchNorm_0"]["mean"],
        state["batch_stats"]["BatchNorm_0"]["mean"],
    )


def test_flax_linen_train_kwarg_conventions_and_round_trip():
    class Det(nn.Module):
        @nn.compact
        def __call__(self, x, deterministic: bool = True):
            return nn.Dropout(0.5, deterministic=deterministic)(nn.Dense(3)(x))

    x = jnp.ones((4, 2))
    module = Det()
    variables = module.init(jax.random.key(0), x)
    layer, params, state = adapters.from_flax_linen(module, variables)
    assert state == {}
    np.testing.assert_array_equal(layer.apply(params, state, x)[0], module.apply(variables, x))
    dropped = layer.apply(params, state, x, key=jax.random.key(1), train=True)[0]
    assert np.any(np.asarray(dropped) == 0)  # train=True -> deterministic=False
    own, _, _ = adapters.from_flax_linen(
        module, variables, train_kwarg=lambda train: {"deterministic": True}
    )
    np.testing.assert_array_equal(
        own.apply(params, state, x, train=True)[0], module.apply(variables, x)
    )
    back = adapters.to_flax_linen(params, state)
    np.testing.assert_array_equal(module.apply(back, x), module.apply(variables, x))


# ------------------------------------------------------------------ nnx


@pytest.mark.slow  # ~60 CPU-s; the equinox test keeps the same checks in the default run
def test_nnx_mlp_fit_slice_hessian_and_round_trip():
    ns = _guide(1)  # an nnx MLP with BatchNorm and Dropout, fit
    model, layer, res, x, y = ns["model"], ns["layer"], ns["res"], ns["x"], ns["y"]
    _, params, state = adapters.from_nnx(model)
    model.eval()
    before = model(x)
    np.testing.assert_array_equal(layer.apply(params, state, x)[0], before)
    np.testing.assert_array_equal(adapters.to_nnx(model, params, state)(x), before)
    a, s_a = layer.apply(params, state, x, key=jax.random.key(0), train=True)
    b, _ = layer.apply(params, state, x, key=jax.random.key(0), train=True)
    np.testing.assert_array_equal(a, b)  # same key, same dropout mask
    assert not np.allclose(a, layer.apply(params, state, x, key=jax.random.key(1), train=True)[0])
    assert not np.allclose(s_a["bn"]["mean"].get_value(), state["bn"]["mean"].get_value())

    trained = ns["trained"]
    trained.eval()
    own = CE(trained(x), y)
    got = train.evaluate(layer, res.params, res.model_state, x, y)["loss"]
    np.testing.assert_allclose(got, own, rtol=1e-6)
    _check_landscape(layer, res.params, res.model_state, (x, y), own)
    np.testing.assert_array_equal(model(x), before)  # the user's model is untouched
    _scan(layer, params, state, (x, y))


# ------------------------------------------------------------------ equinox


def test_equinox_mlp_fit_slice_hessian_and_round_trip():
    ns = _guide(2)  # an equinox MLP, fit
    model, layer, res, x, y = ns["model"], ns["layer"], ns["res"], ns["x"], ns["y"]
    _, params, state = adapters.from_equinox(model)
    assert state == () and layer.framework == "equinox"
    np.testing.assert_array_equal(layer.apply(params, state, x)[0], jax.vmap(model)(x))
    trained, none = adapters.to_equinox(model, res.params)
    assert none is None
    np.testing.assert_array_equal(jax.vmap(ns["trained"])(x), jax.vmap(trained)(x))
    own = CE(jax.vmap(trained)(x), y)
    _check_landscape(layer, res.params, state, (x, y), own)
    # (out, in) weights: each output row of the direction has the norm of the weight's row
    for got, w in zip(ns["d"].layers, res.params.layers, strict=True):
        np.testing.assert_allclose(
            _filter_norms(got.weight, 0), _filter_norms(w.weight, 0), rtol=1e-5
        )
        assert np.all(np.asarray(got.bias) == 0)


def test_equinox_batchnorm_dropout_state_and_train_scan():
    class Net(eqx.Module):
        lin: eqx.nn.Linear
        bn: eqx.nn.BatchNorm
        drop: eqx.nn.Dropout

        def __init__(self, key):
            self.lin = eqx.nn.Linear(3, 2, key=key)
            self.bn = eqx.nn.BatchNorm(2, axis_name="batch", mode="batch")
            self.drop = eqx.nn.Dropout(0.5)

        def __call__(self, x, state, *, key=None):
            h, state = self.bn(self.lin(x), state)
            return self.drop(h, key=key), state

    model, state = eqx.nn.make_with_state(Net)(jax.random.key(0))
    x, y = _data((16, 3), key=3)
    layer, params, state = adapters.from_equinox(model, state)
    inference = eqx.nn.inference_mode(model)
    want = jax.vmap(inference, in_axes=(0, None), out_axes=(0, None), axis_name="batch")
    np.testing.assert_array_equal(layer.apply(params, state, x)[0], want(x, state)[0])
    out, new_state = layer.apply(params, state, x, key=jax.random.key(1), train=True)
    assert np.any(np.asarray(out) == 0)  # dropout on
    leaves = lambda s: jax.tree.leaves(s)
    assert any(not np.allclose(a, b) for a, b in zip(leaves(new_state), leaves(state), strict=True))
    final = _scan(layer, params, state, (x, y))
    back, back_state = adapters.to_equinox(model, final.params, final.model_state)
    assert back_state is final.model_state and isinstance(back, type(model))


# ------------------------------------------------------------------ guide page


def test_guide_pytorch_layout_block():
    ns = _guide(3)
    for name in ("conv.weight", "fc.weight"):
        np.testing.assert_allclose(
            _filter_norms(ns["d"][name], 0), _filter_norms(ns["params"][name], 0), rtol=1e-5
        )
    assert np.all(np.asarray(ns["d"]["fc.bias"]) == 0)
