"""jaxnn.gradcheck: centered differences, closed forms, and catching wrong gradients."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import gradcheck
from jaxnn.gradcheck import GradCheckResult, check_grads, numerical_grad


def circuit(p):
    """f(x, y, z) = (x + y) z, the CS231n example circuit."""
    x, y, z = p
    return (x + y) * z


def _circuit_params(dtype):
    return tuple(jnp.asarray(v, dtype) for v in (-2.0, 5.0, -4.0))


def _nested_params(dtype=jnp.float32):
    rng = np.random.default_rng(0)
    return {
        "dense": [jnp.asarray(rng.standard_normal((3, 2)), dtype), jnp.zeros(2, dtype)],
        "scale": (jnp.asarray(1.5, dtype), {"inner": jnp.asarray(rng.standard_normal(4), dtype)}),
    }


def _nested_loss(p):
    x = jnp.linspace(-1.0, 1.0, 6, dtype=p["dense"][0].dtype).reshape(2, 3)
    w, b = p["dense"]
    h = jnp.tanh(x @ w + b[None, :])
    scale, rest = p["scale"]
    return scale * jnp.sum(h**2) + jnp.sum(jnp.sin(rest["inner"]) * rest["inner"])


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_circuit_values_and_gradients(dtype, request):
    if dtype == jnp.float64:
        request.getfixturevalue("x64")
    params = _circuit_params(dtype)
    assert float(circuit(params)) == -12.0
    analytic = jax.grad(circuit)(params)
    numeric = numerical_grad(circuit, params)
    expected = (-4.0, -4.0, 3.0)
    np.testing.assert_allclose(analytic, expected, rtol=0)
    tol = 1e-3 if dtype == jnp.float32 else 1e-9
    np.testing.assert_allclose(numeric, expected, rtol=tol)
    assert all(g.dtype == dtype for g in numeric)
    result = check_grads(circuit, params)
    assert isinstance(result, GradCheckResult)
    assert result.max_rel_error < tol


def test_wrong_gradient_is_caught_and_located():
    params = _nested_params()
    true_grad = jax.grad(_nested_loss)

    def wrong_grad(p):
        g = true_grad(p)
        g["scale"][1]["inner"] = g["scale"][1]["inner"].at[2].multiply(-1.0)
        return g

    ok = check_grads(_nested_loss, params)
    assert ok.max_rel_error < 1e-2, ok
    bad = check_grads(_nested_loss, params, grad_fn=wrong_grad)
    assert bad.max_rel_error > 0.5
    assert bad.path == "['scale'][1]['inner']"
    assert bad.index == (2,)
    np.testing.assert_allclose(bad.analytic, -bad.numeric, rtol=1e-2)
    assert "['scale'][1]['inner'][2]" in str(bad)


def test_wrong_custom_vjp_is_caught_in_a_matrix_leaf(x64):
    @jax.custom_vjp
    def square_sum(w):
        return jnp.sum(w**2)

    def fwd(w):
        return square_sum(w), w

    def bwd(w, g):  # forgets the factor 2 in row 1 only
        return (g * 2 * w * jnp.array([[1.0], [0.5], [1.0]]),)

    square_sum.defvjp(fwd, bwd)
    params = {"w": jnp.arange(1.0, 7.0).reshape(3, 2)}
    result = check_grads(lambda p: square_sum(p["w"]), params)
    assert result.path == "['w']"
    assert result.index in {(1, 0), (1, 1)}
    np.testing.assert_allclose(result.max_rel_error, 0.5, rtol=1e-6)
    np.testing.assert_allclose(result.numeric, 2 * params["w"][result.index], rtol=1e-8)


def test_nested_pytree_float64_is_accurate(x64):
    params = _nested_params(jnp.float64)
    numeric = numerical_grad(_nested_loss, params)
    analytic = jax.grad(_nested_loss)(params)
    assert jax.tree.structure(numeric) == jax.tree.structure(params)
    for n, a in zip(jax.tree.leaves(numeric), jax.tree.leaves(analytic), strict=True):
        assert n.dtype == jnp.float64
        np.testing.assert_allclose(n, a, rtol=1e-7, atol=1e-9)
    assert check_grads(_nested_loss, params).max_rel_error < 1e-7


def test_numerical_grad_under_jit_and_vmap_over_eps(x64):
    w = jnp.array([1.0, 2.0])
    f = lambda v: jnp.sum(jnp.sin(v) * v)
    exact = jax.grad(f)(w)
    np.testing.assert_allclose(jax.jit(lambda v: numerical_grad(f, v))(w), exact, rtol=1e-8)
    swept = jax.vmap(lambda h: numerical_grad(f, w, eps=h))(jnp.array([1e-2, 1e-5]))
    np.testing.assert_allclose(swept[0], numerical_grad(f, w, eps=1e-2), rtol=1e-12)
    np.testing.assert_allclose(swept[1], exact, rtol=1e-8)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_vmap_over_three_steps_equals_three_calls(dtype, x64):
    """A traced eps (float64 here, whatever the leaf dtype) gives what the same step
    passed as a Python float gives, up to the round-off of the centered difference
    (batched and unbatched f may round differently), leaf dtypes and structure kept."""
    params = _nested_params(dtype)
    steps = jnp.array([1e-1, 1e-2, 1e-3])
    swept = jax.jit(jax.vmap(lambda h: numerical_grad(_nested_loss, params, eps=h)))(steps)
    round_off = 4 * float(jnp.finfo(dtype).eps) * max(1.0, abs(float(_nested_loss(params))))
    for i, h in enumerate(steps.tolist()):
        one = numerical_grad(_nested_loss, params, eps=h)
        column = jax.tree.map(lambda t, i=i: t[i], swept)
        chex.assert_trees_all_close(column, one, rtol=0, atol=round_off / h)
    chex.assert_trees_all_equal_dtypes(jax.tree.map(lambda t: t[0], swept), params)


def test_relative_error_definition():
    # f = 0 * x: both gradients are exactly zero -> error 0, not 0/0.
    result = check_grads(lambda p: jnp.sum(0.0 * p), jnp.ones(3))
    assert result.max_rel_error == 0.0
    # analytic 0 vs numeric 2: |0 - 2| / max(0, 2, tiny) = 1.
    result = check_grads(lambda p: jnp.sum(p**2), jnp.ones(3), grad_fn=jnp.zeros_like)
    np.testing.assert_allclose(result.max_rel_error, 1.0, rtol=1e-3)
    assert (result.path, result.index) == ("", (0,))
    # A NaN gradient is the worst possible entry.
    nan_grad = lambda p: {"a": p["a"], "b": p["b"].at[1].set(jnp.nan)}
    result = check_grads(lambda p: 0.5 * (jnp.sum(p["a"] ** 2) + jnp.sum(p["b"] ** 2)),
                         {"a": jnp.ones(2), "b": jnp.ones(2)}, grad_fn=nan_grad)  # fmt: skip
    assert result.max_rel_error == np.inf and (result.path, result.index) == ("['b']", (1,))
    # `tiny` floors the denominator: a 1e-6 discrepancy on a zero gradient is ignorable.
    off = lambda p: jnp.full_like(p, 1e-6)
    assert check_grads(lambda p: jnp.sum(0.0 * p), jnp.ones(2), grad_fn=off).max_rel_error == 1.0
    small = check_grads(lambda p: jnp.sum(0.0 * p), jnp.ones(2), grad_fn=off, tiny=1e-3)
    np.testing.assert_allclose(small.max_rel_error, 1e-3, rtol=1e-3)


def test_eps_warnings_and_errors():
    with pytest.warns(UserWarning, match="below sqrt"):
        numerical_grad(circuit, _circuit_params(jnp.float32), eps=1e-6)
    with pytest.warns(UserWarning, match="unreliable"):
        numerical_grad(circuit, _circuit_params(jnp.bfloat16))
    with pytest.raises(ValueError, match="positive"):
        numerical_grad(circuit, _circuit_params(jnp.float32), eps=0.0)
    with pytest.raises(ValueError, match=r"scalar; got an array of shape \(2,\)"):
        numerical_grad(circuit, _circuit_params(jnp.float32), eps=jnp.array([1e-3, 1e-2]))
    with pytest.raises(TypeError, match=r"leaf \['n'\] has dtype int32"):
        numerical_grad(lambda p: jnp.sum(p["w"]), {"w": jnp.ones(2), "n": jnp.array(3)})
    with pytest.raises(ValueError, match=r"scalar; got \(3,\) float32"):
        check_grads(lambda p: p * 2, jnp.ones(3))
    with pytest.raises(ValueError, match="structure of params"):
        check_grads(lambda p: jnp.sum(p["w"]), {"w": jnp.ones(2)}, grad_fn=lambda p: [p["w"]])


def test_python_scalars_and_empty_trees():
    result = check_grads(lambda p: p["a"] ** 3, {"a": 2.0})
    assert result.path == "['a']" and result.index == ()
    np.testing.assert_allclose(result.analytic, 12.0)
    assert check_grads(lambda p: jnp.float32(1.0), {}).max_rel_error == 0.0
    empty_leaf = {"e": jnp.zeros((0, 3)), "w": jnp.ones(2)}
    numeric = numerical_grad(lambda p: jnp.sum(p["e"]) + jnp.sum(p["w"] ** 2), empty_leaf)
    assert numeric["e"].shape == (0, 3)
    np.testing.assert_allclose(numeric["w"], [2.0, 2.0], rtol=1e-3)
    assert gradcheck.__all__ == ["GradCheckResult", "check_grads", "numerical_grad"]
