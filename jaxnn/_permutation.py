"""`permutation(key, n)`: `jax.random.permutation(key, n)`, bit for bit, without its slow sort.

`jax.random.permutation(key, n)` shuffles `arange(n)` in
`R = ceil(3 log n / log(2^32 - 1))` rounds (1 up to 1625 elements, 2 up to
~2.6 million): round r draws 32-bit keys `k = bits(subkey_r, (n,))` and applies a
*stable* `lax.sort_key_val(k, x)`. XLA:CPU runs that two-operand sort with a
generic comparator, ~0.47 ms per round for n = 4000 (a single-operand
`uint32` sort of the same keys: 0.08 ms), so drawing the batch order was 70 %
of a 100-step softmax-regression `train_scan` on MNIST-1D.

Each round here computes the same stable order from the single-operand sort:
with `s = sort(k)`, element i goes to position

    rank_i = #{j : k_j < k_i} + #{j < i : k_j = k_i}
           = searchsorted(s, k_i, "left") + c_i,

which is exactly where a stable sort puts it. `c_i` is nonzero only for
elements whose key is shared (tied); these are gathered, at most
`MAX_TIED` of them, and counted pairwise. The expected number of tied
elements is about `n^2 / 2^32` (0.004 for n = 4000, 4 for n = 2^17, i.e.
a Poisson number of tied pairs with mean 2), so the bound (32 pairs) is
exceeded with probability below 1e-26 for `n <= MAX_FAST_N`;
above it, and for `n < MIN_FAST_N` where the plain sort is as fast, this
calls `jax.random.permutation` itself. The split of the key per round is
jax's, so the result equals `jax.random.permutation(key, n)` element for
element (tested for many keys and sizes, and round by round against
`lax.sort_key_val` on keys with forced ties). Measured on a 2-core AMD EPYC,
n = 4000: 0.35 ms against 1.08 ms; n = 60,000: 6.7 ms against 19.8 ms.
Works under `jit` and `vmap`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

MIN_FAST_N = 512  # below this jax.random.permutation is as fast
MAX_FAST_N = 2**17  # above this ties among 32-bit keys become too many for MAX_TIED
MAX_TIED = 64  # tied elements resolved pairwise per round


def _num_rounds(n: int) -> int:
    """jax's static number of sort rounds for `n` elements."""
    return int(np.ceil(3 * np.log(max(1, n)) / np.log(np.iinfo(np.uint32).max)))


def _stable_round(k: jax.Array, x: jax.Array) -> jax.Array:
    """`lax.sort_key_val(k, x)[1]` (stable) for 1-D `k` (uint32) and `x` of the same length."""
    n = k.shape[0]
    s = jnp.sort(k)
    left = jnp.searchsorted(s, k, side="left")
    tied = (left + 1 < n) & (s[jnp.minimum(left + 1, n - 1)] == k)
    (cand,) = jnp.nonzero(tied, size=MAX_TIED, fill_value=n)
    valid = cand < n
    kc = k[jnp.minimum(cand, n - 1)]
    earlier = (kc[None, :] == kc[:, None]) & (cand[None, :] < cand[:, None]) & valid[None, :]
    counts = jnp.sum(earlier, axis=1, dtype=left.dtype)  # earlier equal keys per candidate
    c = jnp.zeros(n, left.dtype).at[cand].add(counts, mode="drop")
    return jnp.zeros_like(x).at[left + c].set(x, unique_indices=True)


def permutation(key: jax.Array, n: int) -> jax.Array:
    """A random permutation of `arange(n)`, equal to `jax.random.permutation(key, n)`."""
    if not MIN_FAST_N <= n <= MAX_FAST_N:
        return jax.random.permutation(key, n)
    x = jnp.arange(n)
    for _ in range(_num_rounds(n)):
        key, subkey = jax.random.split(key)
        x = _stable_round(jax.random.bits(subkey, (n,), jnp.uint32), x)
    return x
