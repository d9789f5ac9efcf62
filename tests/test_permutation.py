"""`jaxnn._permutation.permutation` equals `jax.random.permutation` element for element."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jaxnn._permutation import MAX_FAST_N, MIN_FAST_N, _num_rounds, _stable_round, permutation


@pytest.mark.parametrize("n", [1, 7, MIN_FAST_N - 1, MIN_FAST_N, 4000, 70_000, MAX_FAST_N + 1])
def test_equals_jax_random_permutation(n):
    mine = jax.jit(lambda k: permutation(k, n))
    ref = jax.jit(lambda k: jax.random.permutation(k, n))
    for i in range(12 if n < 10_000 else 3):
        key = jax.random.fold_in(jax.random.key(0), i)
        np.testing.assert_array_equal(mine(key), ref(key))
    raw = jax.random.PRNGKey(3)  # old-style uint32 keys take the same path
    np.testing.assert_array_equal(mine(raw), ref(raw))


def test_the_fast_path_covers_one_and_two_rounds():
    assert _num_rounds(MIN_FAST_N) == 1 and _num_rounds(4000) == _num_rounds(MAX_FAST_N) == 2


def test_a_round_is_a_stable_sort_even_with_tied_keys():
    """Ties decide the order only through stability; force many of them."""
    rng = np.random.default_rng(0)
    round_ = jax.jit(_stable_round)
    for trial in range(30):
        n = 700
        k = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
        groups = rng.integers(0, n, (5, 6))  # 5 groups of up to 6 equal keys (<= 30 tied)
        for g in groups:
            k[g] = k[g[0]]
        x = jnp.arange(n) * 3 + 1
        want = lax.sort_key_val(jnp.asarray(k), x)[1]
        np.testing.assert_array_equal(round_(jnp.asarray(k), x), want, err_msg=f"trial {trial}")


def test_vmap_equals_one_by_one():
    keys = jax.random.split(jax.random.key(5), 4)
    got = jax.jit(jax.vmap(lambda k: permutation(k, 1000)))(keys)
    for g, k in zip(got, keys, strict=True):
        np.testing.assert_array_equal(g, jax.random.permutation(k, 1000))
