"""Step-by-step parity of `jaxnn.optim` with optax, and interoperability both ways.

Every alias and building block runs 100 steps inside one jitted `lax.scan`
per library, on a tree of mixed shapes (scalar, vector, matrix, 3x3x2x4 conv
kernel), with a fresh random gradient at each step (`g_t = xi_t + 0.5 theta_t`,
so the gradients also feed back through the parameters). The updates of every
step and the final parameters must equal optax's to a relative error of 1e-6
(float32) / 1e-12 (float64), measured per step as `max|ours - optax| /
max|optax|` over each leaf. jaxnn repeats optax's floating-point operations in
the same order, so the measured error is 0 (bit-exact); the tolerances are the
contract, not the observation.

Hyperparameters are drawn by hypothesis and passed to the jitted runner as
traced arguments, so examples only recompile when a *static* option
(nesterov, centered, eps_in_sqrt, bias_correction, momentum None/float,
schedule or constant learning rate, dtype) changes.
"""

import contextlib
import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxnn.optim as jo

NUM_STEPS = 100
SHAPES = {"scalar": (), "vector": (7,), "matrix": (5, 3), "conv": (3, 3, 2, 4)}
RTOL = {np.float32: 1e-6, np.float64: 1e-12, np.complex64: 1e-6}
MAX_ERR: dict = {}  # (target, dtype) -> largest relative error seen, printed at the end (-s)
SEEN: dict = {}  # target -> set of (static options, dtype) run, printed at the end (-s)
MASK_TREE = {"scalar": False, "vector": False, "matrix": True, "conv": True}


def _mask_fn(params):
    return jax.tree.map(lambda p: p.ndim > 1, params)


# ---------------------------------------------------------------------------
# Builders: name -> (lib, flags, h) -> optimizer. `flags` are static options,
# `h` a dict of traced hyperparameters. optax has no `momentum`/`nesterov`
# aliases: their reference is `optax.sgd(lr, momentum=beta, nesterov=...)`.
# ---------------------------------------------------------------------------


def _lr(flags, h):
    if "schedule" in flags:
        return optax.schedules.cosine_decay_schedule(h["lr"], NUM_STEPS, alpha=0.1)
    return h["lr"]


def _wd(flags, h):
    if "wd_schedule" in flags:
        return optax.schedules.exponential_decay(h["wd"], 10, 0.9)
    return h["wd"]


def _mom(flags, h):
    return h["momentum"] if "momentum" in flags else None


def _rms_kwargs(flags, h):
    return dict(
        decay=h["decay"],
        eps=h["eps"],
        initial_scale=h["initial_scale"],
        eps_in_sqrt="eps_in_sqrt" in flags,
        bias_correction="bias_correction" in flags,
    )


def _adam_kwargs(flags, h):
    return dict(b1=h["b1"], b2=h["b2"], eps=h["eps"], eps_root=h["eps_root"])


ALIASES = {
    "sgd": lambda lib, f, h: lib.sgd(_lr(f, h), _mom(f, h), "nesterov" in f),
    "momentum": lambda lib, f, h: (
        optax.sgd(_lr(f, h), h["momentum"])
        if lib is optax
        else jo.momentum(_lr(f, h), h["momentum"])
    ),
    "nesterov": lambda lib, f, h: (
        optax.sgd(_lr(f, h), h["momentum"], nesterov=True)
        if lib is optax
        else jo.nesterov(_lr(f, h), h["momentum"])
    ),
    "adagrad": lambda lib, f, h: lib.adagrad(_lr(f, h), h["initial_scale"], h["eps"]),
    "rmsprop": lambda lib, f, h: lib.rmsprop(
        _lr(f, h),
        **_rms_kwargs(f, h),
        centered="centered" in f,
        momentum=_mom(f, h),
        nesterov="nesterov" in f,
    ),
    "adam": lambda lib, f, h: lib.adam(_lr(f, h), **_adam_kwargs(f, h), nesterov="nesterov" in f),
    "adamw": lambda lib, f, h: lib.adamw(
        _lr(f, h),
        **_adam_kwargs(f, h),
        weight_decay=_wd(f, h),
        mask=_mask_fn if "mask" in f else None,
        nesterov="nesterov" in f,
    ),
    "noisy_sgd": lambda lib, f, h: lib.noisy_sgd(_lr(f, h), h["eta"], h["gamma"], key=h["key"]),
}

BLOCKS = {
    "chain": lambda lib, f, h: lib.chain(
        lib.clip(h["clip"]),
        lib.trace(h["momentum"]),
        lib.scale_by_rms(h["decay"]),
        lib.scale(h["lr"]),
    ),
    "identity": lambda lib, f, h: lib.identity(),
    "scale": lambda lib, f, h: lib.scale(h["lr"]),
    "scale_by_learning_rate": lambda lib, f, h: lib.scale_by_learning_rate(
        _lr(f, h), flip_sign="flip_sign" in f
    ),
    "trace": lambda lib, f, h: lib.trace(h["momentum"], nesterov="nesterov" in f),
    "scale_by_rss": lambda lib, f, h: lib.scale_by_rss(h["initial_scale"], h["eps"]),
    "scale_by_rms": lambda lib, f, h: lib.scale_by_rms(**_rms_kwargs(f, h)),
    "scale_by_stddev": lambda lib, f, h: lib.scale_by_stddev(**_rms_kwargs(f, h)),
    "scale_by_adam": lambda lib, f, h: lib.scale_by_adam(
        **_adam_kwargs(f, h), nesterov="nesterov" in f
    ),
    "add_decayed_weights": lambda lib, f, h: lib.add_decayed_weights(
        _wd(f, h), MASK_TREE if "mask" in f else None
    ),
    "add_noise": lambda lib, f, h: lib.add_noise(h["eta"], h["gamma"], h["key"]),
    "clip": lambda lib, f, h: lib.clip(h["clip"]),
    "clip_by_global_norm": lambda lib, f, h: lib.clip_by_global_norm(h["clip"]),
    "masked": lambda lib, f, h: lib.masked(lib.trace(h["momentum"], "nesterov" in f), MASK_TREE),
}
BUILDERS = {**ALIASES, **BLOCKS}
BLOCK_STEP = 0.01  # building blocks: theta <- theta - 0.01 u (aliases: apply_updates)


def _run(lib, name, flags, h, params, noise):
    """Run 100 steps of one library; return (final params, updates stacked over steps)."""
    opt = BUILDERS[name](lib, frozenset(flags), h)

    def step(carry, xi):
        p, s = carry
        g = jax.tree.map(lambda x, q: x + 0.5 * q, xi, p)
        u, s = opt.update(g, s, p)
        if name in ALIASES:
            p = lib.apply_updates(p, u)
        else:
            p = jax.tree.map(lambda q, v: q - BLOCK_STEP * v, p, u)
        return (p, s), u

    (p, _), us = jax.lax.scan(step, (params, opt.init(params)), noise)
    return p, us


@functools.partial(jax.jit, static_argnums=(0, 1))
def _both(name, flags, h, params, noise):
    """One compilation per (target, static options, dtype): both libraries side by side."""
    return _run(jo, name, flags, h, params, noise), _run(optax, name, flags, h, params, noise)


def _rel_err(ours, ref, per_step):
    """max over leaves (and steps) of max|ours - ref| / max|ref|; non-finite must match."""
    errs = []
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(ref), strict=True):
        wide = np.complex128 if np.iscomplexobj(b) else np.float64
        a, b = np.asarray(a).astype(wide), np.asarray(b).astype(wide)
        bad = ~np.isfinite(b)
        np.testing.assert_array_equal(a[bad], b[bad])  # NaN == NaN here
        a, b = np.where(bad, 0.0, a), np.where(bad, 0.0, b)
        axes = tuple(range(1, a.ndim)) if per_step else None
        num = np.max(np.abs(a - b), axis=axes) if a.ndim else np.abs(a - b)
        den = np.max(np.abs(b), axis=axes) if b.ndim else np.abs(b)
        errs.append(np.max(num / np.maximum(den, np.finfo(np.float64).tiny)))
    return float(max(errs))


def _precision(dtype):
    return jax.enable_x64(True) if dtype == np.float64 else contextlib.nullcontext()


def _may_be_nan(name, flags):
    """Centered RMSProp with bias correction divides by sqrt(nu_hat - mu_hat^2), which is
    +-1 ulp at step 1 (nu_hat = g^2, mu_hat = g): optax itself returns NaN there when the
    rounding goes negative. jaxnn reproduces it; such runs are compared NaN for NaN."""
    return "bias_correction" in flags and (name == "scale_by_stddev" or "centered" in flags)


def check_parity(name, flags, h, seed, dtype, grad_scale=1.0):
    with _precision(dtype):
        rng = np.random.default_rng(seed)
        draw = lambda shape: (
            rng.standard_normal(shape)
            + (1j * rng.standard_normal(shape) if np.issubdtype(dtype, np.complexfloating) else 0)
        )
        params = {k: jnp.asarray(draw(s), dtype) for k, s in SHAPES.items()}
        noise = {
            k: jnp.asarray(grad_scale * draw((NUM_STEPS, *s)), dtype) for k, s in SHAPES.items()
        }
        h = {**h, "key": jax.random.key(h["key"])}
        flags = tuple(sorted(flags))
        ours, ref = _both(name, flags, h, params, noise)
        chex.assert_trees_all_equal_shapes_and_dtypes(ours, ref)
        for leaf in jax.tree.leaves(ours):
            assert leaf.dtype == dtype
            if not _may_be_nan(name, flags):
                assert np.all(np.isfinite(leaf)), f"{name} {flags} diverged: test bug"
        err = max(_rel_err(ours[1], ref[1], per_step=True), _rel_err(ours[0], ref[0], False))
        key = (name, np.dtype(dtype).name)
        SEEN.setdefault(name, set()).add((flags, key[1]))
        MAX_ERR[key] = max(MAX_ERR.get(key, 0.0), err)
        assert err <= RTOL[dtype], f"{name} {flags}: relative error {err:.3g} > {RTOL[dtype]:g}"


@pytest.fixture(scope="module", autouse=True)
def _report_errors():
    yield
    for (name, dtype), err in sorted(MAX_ERR.items()):
        print(f"parity {name:24s} {dtype:8s} max relative error {err:.3g}")
    print(f"parity: {_both._cache_size()} compilations of the two-library runner")
    for name, seen in sorted(SEEN.items()):
        on = {o for flags, _ in seen for o in flags}
        off = {o for flags, _ in seen for o in OPTIONS[name] if o not in flags}
        print(
            f"options {name:24s} never on: {set(OPTIONS[name]) - on or '-'}, "
            f"never off: {set(OPTIONS[name]) - off or '-'}, runs: {len(seen)}"
        )


# ---------------------------------------------------------------------------
# Hypothesis strategies. Traced hyperparameters are Python floats passed to jit.
# ---------------------------------------------------------------------------

dtypes = st.sampled_from([np.float32, np.float64])
seeds = st.integers(0, 2**31 - 1)


def _log_uniform(lo, hi):
    return st.floats(np.log10(lo), np.log10(hi)).map(lambda e: float(10.0**e))


hyper = st.fixed_dictionaries(
    {
        "lr": _log_uniform(1e-4, 1e-1),
        "momentum": st.floats(0.0, 0.99),
        "b1": st.floats(0.0, 0.99),
        "b2": st.floats(0.5, 0.9999),
        "decay": st.floats(0.5, 0.999),
        "eps": _log_uniform(1e-10, 1e-1),
        "eps_root": st.sampled_from([0.0, 1e-8, 1e-3]),
        "initial_scale": st.sampled_from([0.0, 0.1, 1.0]),
        "wd": _log_uniform(1e-5, 1e-1),
        "eta": _log_uniform(1e-4, 1.0),
        "gamma": st.floats(0.0, 1.0),
        "clip": _log_uniform(1e-2, 10.0),
        "key": st.integers(0, 2**31 - 1),
    }
)

# Static options per target: each name in the set is drawn as a boolean.
OPTIONS = {
    "sgd": ("momentum", "nesterov", "schedule"),
    "momentum": ("schedule",),
    "nesterov": ("schedule",),
    "adagrad": ("schedule",),
    "rmsprop": ("eps_in_sqrt", "bias_correction", "centered", "momentum", "nesterov", "schedule"),
    "adam": ("nesterov", "schedule"),
    "adamw": ("nesterov", "schedule", "wd_schedule", "mask"),
    "noisy_sgd": (),  # its learning-rate path is sgd's; threefry makes each compile costly
    "chain": (),
    "identity": (),
    "scale": (),
    "scale_by_learning_rate": ("schedule", "flip_sign"),
    "trace": ("nesterov",),
    "scale_by_rss": (),
    "scale_by_rms": ("eps_in_sqrt", "bias_correction"),
    "scale_by_stddev": ("eps_in_sqrt", "bias_correction"),
    "scale_by_adam": ("nesterov",),
    "add_decayed_weights": ("wd_schedule", "mask"),
    "add_noise": (),
    "clip": (),
    "clip_by_global_norm": (),
    "masked": ("nesterov",),
}
# Each new (static options, dtype) combination costs one compilation (~0.5 s CPU);
# targets with many options get fewer examples. Targets without options compile
# twice (float32, float64) however many examples run.
EXAMPLES = {
    "rmsprop": 7,
    "adamw": 6,
    "sgd": 5,
    "adam": 4,
    "momentum": 3,
    "nesterov": 3,
    "adagrad": 3,
    # Blocks whose options are also drawn through an alias above.
    "scale_by_learning_rate": 3,
    "trace": 3,
    "scale_by_rms": 3,
    "scale_by_stddev": 3,
    "scale_by_adam": 3,
    "add_decayed_weights": 4,
    "masked": 3,
}


def _flags(options):
    return st.tuples(*(st.booleans() for _ in options)).map(
        lambda bits: tuple(o for o, b in zip(options, bits, strict=True) if b)
    )


def _parity_test(name):
    options = OPTIONS[name]

    @settings(max_examples=EXAMPLES.get(name, 15))
    @given(flags=_flags(options), h=hyper, seed=seeds, dtype=dtypes)
    def test(flags, h, seed, dtype):
        check_parity(name, flags, h, seed, dtype)

    return test


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_parity_with_optax(name):
    _parity_test(name)()


@pytest.mark.parametrize("name", sorted(ALIASES))
def test_every_boolean_option_on_and_off(name):
    """Deterministic complement to hypothesis: all options off (float32), all on (float64)."""
    h = dict(lr=0.05, momentum=0.9, b1=0.9, b2=0.999, decay=0.9, eps=1e-3, eps_root=1e-8)
    h.update(initial_scale=0.1, wd=1e-2, eta=0.01, gamma=0.55, clip=1.0, key=3)
    check_parity(name, (), h, seed=1, dtype=np.float32)
    check_parity(name, OPTIONS[name], h, seed=1, dtype=np.float64)


@pytest.mark.parametrize("grad_scale", [1e-6, 1e4])
def test_parity_at_extreme_gradient_scales(grad_scale):
    """Tiny gradients (eps dominates) and huge ones (clipping, rsqrt range)."""
    h = dict(lr=1e-3, momentum=0.9, b1=0.9, b2=0.999, decay=0.9, eps=1e-8, eps_root=0.0)
    h.update(initial_scale=0.0, wd=1e-4, eta=0.01, gamma=0.55, clip=1.0, key=0)
    for name in ("adam", "rmsprop", "adagrad", "clip_by_global_norm"):
        check_parity(name, ("centered",) if name == "rmsprop" else (), h, 7, np.float32, grad_scale)


@pytest.mark.parametrize("name", ["adam", "rmsprop", "adagrad", "sgd", "clip_by_global_norm"])
def test_parity_with_complex_parameters(name):
    """optax squares complex gradients as |g|^2 = conj(g) g; so does jaxnn."""
    h = dict(lr=0.01, momentum=0.9, b1=0.9, b2=0.999, decay=0.9, eps=1e-8, eps_root=0.0)
    h.update(initial_scale=0.1, wd=1e-4, eta=0.01, gamma=0.55, clip=1.0, key=0)
    flags = {"rmsprop": ("centered", "momentum"), "sgd": ("momentum", "nesterov")}
    check_parity(name, flags.get(name, ()), h, 5, np.complex64)


# ---------------------------------------------------------------------------
# Python-number hyperparameters (the common spelling) and optax defaults.
# ---------------------------------------------------------------------------

DEFAULTS = {
    "sgd": (lambda lib: lib.sgd(0.1), lambda: optax.sgd(0.1)),
    "momentum": (lambda lib: jo.momentum(0.1), lambda: optax.sgd(0.1, 0.9)),
    "nesterov": (lambda lib: jo.nesterov(0.1), lambda: optax.sgd(0.1, 0.9, nesterov=True)),
    "adagrad": (lambda lib: lib.adagrad(0.1), lambda: optax.adagrad(0.1)),
    "rmsprop": (lambda lib: lib.rmsprop(0.01), lambda: optax.rmsprop(0.01)),
    "adam": (lambda lib: lib.adam(0.01), lambda: optax.adam(0.01)),
    "adamw": (lambda lib: lib.adamw(0.01), lambda: optax.adamw(0.01)),
    "adamw_wd0": (
        lambda lib: lib.adamw(0.01, weight_decay=0.0),
        lambda: optax.adamw(0.01, weight_decay=0.0),
    ),
    "noisy_sgd": (lambda lib: lib.noisy_sgd(0.01, key=5), lambda: optax.noisy_sgd(0.01, key=5)),
}


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_defaults_with_python_numbers_match_optax_eagerly(name):
    """Unjitted, Python-float hyperparameters, optax defaults: bit-exact for 20 steps."""
    ours, ref = DEFAULTS[name][0](jo), DEFAULTS[name][1]()
    rng = np.random.default_rng(0)
    shapes = {"vector": SHAPES["vector"], "conv": SHAPES["conv"]}  # eager: few shapes to compile
    params = {k: jnp.asarray(rng.standard_normal(s), jnp.float32) for k, s in shapes.items()}
    p1, p2, s1, s2 = params, params, ours.init(params), ref.init(params)
    for _ in range(20):
        g = jax.tree.map(lambda p: p + jnp.asarray(rng.standard_normal(p.shape), p.dtype), p1)
        u1, s1 = ours.update(g, s1, p1)
        u2, s2 = ref.update(g, s2, p2)
        chex.assert_trees_all_equal(u1, u2)
        p1, p2 = jo.apply_updates(p1, u1), optax.apply_updates(p2, u2)
    chex.assert_trees_all_equal(p1, p2)


def test_noisy_sgd_key_spellings_agree():
    """An int seed, the typed key and the raw uint32 key give the same draws as optax."""
    params = {k: jnp.zeros(s) for k, s in SHAPES.items()}
    grads = jax.tree.map(jnp.ones_like, params)
    ref = optax.noisy_sgd(0.1, key=jax.random.key(11))
    want = ref.update(grads, ref.init(params))[0]
    for key in (11, jax.random.key(11), jax.random.PRNGKey(11)):
        opt = jo.noisy_sgd(0.1, key=key)
        chex.assert_trees_all_equal(opt.update(grads, opt.init(params))[0], want)


# ---------------------------------------------------------------------------
# Interoperability: jaxnn inside optax.chain and optax inside jaxnn.chain.
# ---------------------------------------------------------------------------


def _run_pair(ours, ref, steps=50):
    """`steps` jitted steps of two optimizers on the same gradients; params must agree."""
    rng = np.random.default_rng(3)
    params = {k: jnp.asarray(rng.standard_normal(s), jnp.float32) for k, s in SHAPES.items()}
    noise = {
        k: jnp.asarray(5 * rng.standard_normal((steps, *s)), jnp.float32) for k, s in SHAPES.items()
    }

    def run(opt):
        def step(carry, xi):
            p, s = carry
            u, s = opt.update(jax.tree.map(lambda x, q: x + q, xi, p), s, p)
            return (optax.apply_updates(p, u), s), None

        return jax.lax.scan(step, (params, opt.init(params)), noise)[0][0]

    got, want = jax.jit(lambda: (run(ours), run(ref)))()
    chex.assert_trees_all_close(got, want, rtol=1e-6, atol=0)


def test_jaxnn_optimizer_inside_optax_chain():
    _run_pair(
        optax.chain(optax.clip_by_global_norm(1.0), jo.adam(1e-3)),
        optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-3)),
    )


def test_optax_transform_inside_jaxnn_chain():
    _run_pair(
        jo.chain(optax.add_decayed_weights(1e-4), jo.sgd(0.1)),
        optax.chain(optax.add_decayed_weights(1e-4), optax.sgd(0.1)),
    )


def test_optax_masked_wraps_jaxnn_transform():
    _run_pair(
        optax.chain(optax.masked(jo.trace(0.9), MASK_TREE), jo.scale(-0.01)),
        optax.chain(optax.masked(optax.trace(0.9), MASK_TREE), optax.scale(-0.01)),
    )
