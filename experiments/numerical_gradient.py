"""Numerical vs automatic gradients: the V-shaped error of finite differences, and their cost.

Command::

    python -m experiments run numerical_gradient [--quick]

Runtime: ~6 s quick, ~10 s full (2-core CPU).

Expected result.

1. Accuracy. The centered difference g_h = (f(w + h) − f(w − h)) / 2h has two
   errors: truncation, f'''(w)·h²/6 (falls as h shrinks), and round-off,
   ≈ ε_mach·|f| / h (grows as h shrinks). Their sum is V-shaped in log-log
   with slopes ≈ +2 (right branch) and ≈ −1 (left branch) and a minimum at
   h* ~ (3 ε_mach |f| / |f'''|)^{1/3}: near 1e-5 in float64 (ε = 2.2e-16) and
   near 1e-2–1e-3 in float32 (ε = 1.2e-7). This is shown on a small tanh MLP
   (smooth, non-zero third derivatives) against the float64 `jax.grad`
   gradient. On L(w) = w² there is **no V**: the centered difference of a
   quadratic is exact, (w + h)² − (w − h)² = 4wh, so its truncation error is
   zero and only the round-off branch (slope −1) remains — that is why the V
   must be demonstrated on a function with f''' ≠ 0. (It is evaluated at w = 0.7:
   at w = 1 the squares of 1 ± h are almost exactly representable in binary, so
   even the round-off nearly vanishes and the plot would show neither branch.)
2. Cost. `jaxnn.gradcheck.numerical_grad` evaluates f twice per weight, so
   its cost, measured in forward passes, is ≈ 2P (measured 0.75–0.9 × 2P): it
   grows linearly with the number of weights P (log-log slope ≈ 1; measured
   0.98–0.99). One backward pass (`jax.grad`) costs a small, fixed number of
   forward passes whatever P is (the "cheap gradient principle": measured
   1.9–3.0, slope ≈ 0.05). Costs are CPU seconds of the process (all threads;
   robust on a shared machine), medians over interleaved rounds of compiled,
   synchronized calls. In absolute seconds both slopes shift by the slope of
   the forward pass itself (≈ 1 once matmuls dominate, ≈ 0 while fixed
   overhead does), so the claim is checked in forward-pass units — numerical
   slope in [0.8, 1.2]; the absolute slopes are recorded too. The backward pass
   is decided on XLA's FLOP counts of the compiled forward and backward programs
   (`compiled.cost_analysis()`): deterministic and the same on every machine
   (2.13–2.14 forward passes, slope ≈ 0.002; a timing on a loaded 2-core
   machine measured 2.1–3.5 and slope −0.02–0.22 against the limit 0.3): backward
   ≤ 5 forward passes at every size and |slope| ≤ 0.3.

The h-sweep evaluates the same formula as `jaxnn.gradcheck.numerical_grad`
(including its denominator: the step as represented, (w_i + h) − (w_i − h)),
written once and vmapped over h and over coordinates so that every step size
compiles once; a call to `numerical_grad` itself at the best h of each dtype
confirms the two agree.
"""

from __future__ import annotations

import dataclasses
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from experiments._common import Checks, Timer, experiment_dir, finish
from jaxnn import gradcheck, layers, losses, plotting

ORDER = 60  # place in the gallery and in `list`
NAME = "numerical_gradient"
CLAIM = (
    "The centered-difference error against h is V-shaped (slopes ≈ +2 and −1) with its "
    "minimum near h ≈ 1e-5 in float64 and 1e-3–1e-2 in float32 (and no V for the quadratic "
    "w², whose centered difference is exact); its cost grows linearly with the number of "
    "weights, while one backward pass stays a constant number of forward passes."
)


@dataclasses.dataclass(frozen=True)
class Config:
    mlp_sizes: tuple[int, ...] = (8, 1)  # tanh MLP of the accuracy sweep (input dim 3)
    in_dim: int = 3  # its input dimension
    num_examples: int = 16  # its batch of random data (MSE loss)
    w_square: float = 0.7  # point of the L(w) = w² sweep (not a power of 2, see the docstring)
    h64: tuple[float, float, int] = (1e-12, 1e-1, 45)  # float64 log grid of h: (low, high, num)
    # The float32 grid stops at 10^-0.5 because near h = 1 higher-order Taylor
    # terms bend the truncation branch away from h².
    h32: tuple[float, float, int] = (1e-7, 10**-0.5, 27)  # float32 log grid of h
    h64_min_range: tuple[float, float] = (1e-6, 1e-4)  # where the float64 minimum must fall
    h32_min_range: tuple[float, float] = (1e-3, 1e-1)  # where the float32 minimum must fall
    slope_right: tuple[float, float] = (1.5, 2.5)  # accepted truncation slope
    slope_left: tuple[float, float] = (-1.5, -0.5)  # accepted round-off slope
    cost_hidden: tuple[int, ...] = (4, 8, 16, 32, 64, 128)  # hidden widths of the cost nets
    cost_in_dim: int = 16  # their input dimension (P = (in + 2)·hidden + 1)
    cost_batch: int = 256  # their batch size
    loop: int = 64  # forward/backward passes per timed compiled loop
    repeats: int = 5  # timing: median over this many interleaved rounds
    min_seconds: float = 0.02  # each timing repeats its call until it spans this much CPU time
    numeric_slope: tuple[float, float] = (0.8, 1.2)  # accepted slope of numerical/forward
    backward_slope_max: float = 0.3  # accepted |slope| of backward/forward ("≪ 1")
    backward_ratio_max: float = 5.0  # a backward pass costs at most this many forward passes
    seed: int = 0  # numpy seed of the weights and data

    @classmethod
    def quick(cls) -> Config:
        return cls(h64=(1e-12, 1e-1, 23), h32=(1e-7, 10**-0.5, 14), cost_hidden=(4, 16, 64))


def _mlp_losses(sizes, in_dim, n, seed, dtypes=(jnp.float32,)):
    """MSE losses of one tanh MLP as functions of its flat weight vector, one per dtype.

    The point is arbitrary, so weights (LeCun-normal scale, small random biases)
    and data are drawn with numpy from `seed` — no PRNG kernels to compile —
    in float32, then cast: float32 values are exact in float64, so every
    dtype's loss is evaluated at the same point. Returns `[(loss, w), ...]`.
    """
    model = layers.mlp(list(sizes), activation=layers.Tanh)
    shapes = jax.eval_shape(lambda k: model.init(k, (-1, in_dim))[1], jax.random.key(0))
    rng = np.random.default_rng(seed)

    def draw(s):
        scale = 1.0 / np.sqrt(s.shape[0]) if len(s.shape) == 2 else 0.1
        return (scale * rng.standard_normal(s.shape)).astype(np.float32)

    params = jax.tree.map(draw, shapes)
    x = rng.standard_normal((n, in_dim)).astype(np.float32)
    y = rng.standard_normal((n, sizes[-1])).astype(np.float32)
    # All leaves share one dtype, so `unravel` keeps the dtype of the vector it gets.
    flat, unravel = ravel_pytree(params)
    state = tuple(() for _ in range(2 * len(sizes) - 1))

    def make(dtype):
        xd, yd = jnp.asarray(x, dtype), jnp.asarray(y, dtype)

        def loss(w):
            out, _ = model.apply(unravel(w), state, xd)
            return losses.mse(out, yd)

        return loss, flat.astype(dtype)

    return [make(d) for d in dtypes]


def _centered_sweep(f, w, hs):
    """g[h, i] = (f(w + h e_i) − f(w − h e_i)) / ((w_i + h) − (w_i − h)) for every h and i.

    The formula of `jaxnn.gradcheck.numerical_grad`, vmapped over h and i.
    """

    def one(h, i):
        up, down = w[i] + h, w[i] - h
        return (f(w.at[i].set(up)) - f(w.at[i].set(down))) / (up - down)

    idx = jnp.arange(w.shape[0])
    return jax.jit(jax.vmap(jax.vmap(one, in_axes=(None, 0)), in_axes=(0, None)))(hs, idx)


def _rel_err(g, ref):
    return np.linalg.norm(g - ref, axis=-1) / np.linalg.norm(ref)


def _slope(h, err, lo, hi):
    """Least-squares slope of log10 err against log10 h over lo <= h <= hi."""
    sel = (h >= lo) & (h <= hi) & (err > 0)
    if sel.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log10(h[sel]), np.log10(err[sel]), 1)[0])


def _accuracy(config: Config) -> dict:
    out = {}
    with jax.enable_x64(True):
        args = (config.mlp_sizes, config.in_dim, config.num_examples, config.seed)
        problems = _mlp_losses(*args, dtypes=(jnp.float64, jnp.float32))
        loss64, w64 = problems[0]
        ref = np.asarray(jax.jit(jax.grad(loss64))(w64))  # exact, to float64 round-off
        for name, (f, w), (lo, hi, num) in zip(
            ("float64", "float32"), problems, (config.h64, config.h32), strict=True
        ):
            hs = np.logspace(np.log10(lo), np.log10(hi), num)
            dtype = w.dtype
            g = np.asarray(_centered_sweep(f, w, jnp.asarray(hs, dtype)), np.float64)
            err = _rel_err(g, ref)
            best = int(np.argmin(err))
            h_best = float(hs[best])
            # Branch fits start half a decade (right) and one decade (left) from the minimum.
            right = _slope(hs, err, h_best * 10**0.5 * 0.999, hi)
            left = _slope(hs, err, lo, h_best * 0.1 * 1.001)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # eps below sqrt(eps_mach)
                lib = np.asarray(gradcheck.numerical_grad(f, w, eps=h_best), np.float64)
            out[name] = {
                "h": hs,
                "rel_error": err,
                "h_best": h_best,
                "min_error": float(err[best]),
                "slope_right": right,
                "slope_left": left,
                "library_vs_sweep": float(np.max(np.abs(lib - g[best])) / np.max(np.abs(g[best]))),
                "library_rel_error": float(_rel_err(lib, ref)),
            }
        # L(w) = w²: exact for every h, round-off only.
        hs = np.logspace(np.log10(config.h64[0]), np.log10(config.h64[1]), config.h64[2])
        sq = lambda v: jnp.sum(v**2)  # noqa: E731
        w_sq = jnp.full((1,), config.w_square, jnp.float64)
        g = np.asarray(_centered_sweep(sq, w_sq, jnp.asarray(hs)))[:, 0]
        err = np.abs(g - 2.0 * config.w_square) / (2.0 * config.w_square)
        out["square"] = {"h": hs, "rel_error": err, "slope": _slope(hs, err, hs[0], hs[-1])}
    return out


def _flops(config: Config) -> dict:
    """XLA's FLOP count of one forward and one backward pass at each size of the cost nets.

    Deterministic and the same on every machine (it counts the compiled
    program's operations, it does not time them), so it decides the "constant
    number of forward passes" claim; the CPU times are measured alongside.
    """
    rows = []
    for hidden in config.cost_hidden:
        [(loss, w)] = _mlp_losses((hidden, 1), config.cost_in_dim, config.cost_batch, config.seed)
        count = lambda fn, w=w: float(_cost_dict(jax.jit(fn).lower(w).compile())["flops"])  # noqa: E731
        rows.append(
            {"params": int(w.shape[0]), "forward": count(loss), "backward": count(jax.grad(loss))}
        )
    p = np.array([r["params"] for r in rows], np.float64)
    ratio = np.array([r["backward"] / r["forward"] for r in rows])
    return {
        "rows": rows,
        "backward_per_forward": ratio,
        "slope": float(np.polyfit(np.log10(p), np.log10(ratio), 1)[0]),
    }


def _cost_dict(compiled) -> dict:
    analysis = compiled.cost_analysis()
    return analysis[0] if isinstance(analysis, list) else analysis


def _cpu_seconds(fn, arg, calls: int) -> float:
    """Mean CPU seconds of this process (all threads) per synchronized call of `fn(arg)`."""
    start = time.process_time()
    for _ in range(calls):
        jax.block_until_ready(fn(arg))
    return (time.process_time() - start) / calls


def _cost(config: Config) -> dict:
    """CPU seconds per forward pass, per backward pass and per numerical gradient, against P.

    Forward and backward passes are timed inside a compiled `lax.map` over
    `loop` copies of the weights and divided by `loop` — the regime in which
    `numerical_grad` runs its 2P evaluations — so the ~10 µs of Python dispatch
    per call does not dominate the small nets.

    Process CPU time rather than wall time: on a shared machine, time spent
    descheduled is not the computation's cost. Linux accounts the CPU time of
    XLA's worker threads at scheduler-tick granularity (a few ms), so one short
    call can be under- or over-counted; each measurement therefore repeats its
    call until it spans ≥ `min_seconds` and takes the mean, and the reported
    value is the median over `repeats` interleaved rounds (every program is
    compiled and run once first).
    """
    programs = []
    for hidden in config.cost_hidden:
        args = (config.cost_in_dim, config.cost_batch, config.seed)
        [(loss, w)] = _mlp_losses((hidden, 1), *args)
        copies = jnp.broadcast_to(w, (config.loop, *w.shape)) + 0.0  # materialized
        kinds = {
            "forward_s": (jax.jit(lambda ws, f=loss: jax.lax.map(f, ws)), copies, config.loop),
            "backward_s": (
                jax.jit(lambda ws, f=loss: jax.lax.map(jax.grad(f), ws)),
                copies,
                config.loop,
            ),
            "numerical_s": (
                jax.jit(lambda v, f=loss: gradcheck.numerical_grad(f, v, eps=1e-2)),
                w,
                1,
            ),
        }
        calls = {}
        for k, (fn, arg, _) in kinds.items():
            jax.block_until_ready(fn(arg))  # compile and warm up
            once = _cpu_seconds(fn, arg, 1)
            calls[k] = int(np.clip(np.ceil(config.min_seconds / max(once, 1e-6)), 1, 1000))
        programs.append((int(w.shape[0]), kinds, calls))
    samples = [{k: [] for k in kinds} for _, kinds, _ in programs]
    for _ in range(config.repeats):
        for row, (_, kinds, calls) in zip(samples, programs, strict=True):
            for k, (fn, arg, n) in kinds.items():
                row[k].append(_cpu_seconds(fn, arg, calls[k]) / n)
    best = [{k: float(np.median(v)) for k, v in row.items()} for row in samples]
    rows = [{"params": p, **row} for (p, _, _), row in zip(programs, best, strict=True)]
    p = np.array([r["params"] for r in rows], np.float64)
    t = {k: np.array([r[k] for r in rows]) for k in ("forward_s", "backward_s", "numerical_s")}
    fit = lambda y: float(np.polyfit(np.log10(p), np.log10(y), 1)[0])  # noqa: E731
    return {
        "rows": rows,
        "numerical_per_forward": t["numerical_s"] / t["forward_s"],
        "backward_per_forward": t["backward_s"] / t["forward_s"],
        "slope_numerical_per_forward": fit(t["numerical_s"] / t["forward_s"]),
        "slope_backward_per_forward": fit(t["backward_s"] / t["forward_s"]),
        "slope_numerical_seconds": fit(t["numerical_s"]),
        "slope_backward_seconds": fit(t["backward_s"]),
        "slope_forward_seconds": fit(t["forward_s"]),
    }


def run(config: Config, out_dir) -> dict:
    checks = Checks()
    with Timer() as timer:
        acc = _accuracy(config)
        for name, (lo, hi) in (
            ("float64", config.h64_min_range),
            ("float32", config.h32_min_range),
        ):
            a = acc[name]
            checks.add(
                f"{name}: best h",
                a["h_best"],
                lo <= a["h_best"] <= hi,
                f"in [{lo:g}, {hi:g}]; relative error there {a['min_error']:.2g}",
            )
            checks.add(
                f"{name}: slopes (right, left)",
                [a["slope_right"], a["slope_left"]],
                config.slope_right[0] <= a["slope_right"] <= config.slope_right[1]
                and config.slope_left[0] <= a["slope_left"] <= config.slope_left[1],
                f"truncation in {list(config.slope_right)}, round-off in "
                f"{list(config.slope_left)}: a V",
            )
            checks.add(
                f"{name}: gradcheck.numerical_grad = the sweep at best h",
                a["library_vs_sweep"],
                a["library_vs_sweep"] < 1e-3,
                "max relative difference",
            )
        sq = acc["square"]
        checks.add(
            "L(w) = w²: no truncation error",
            [float(sq["rel_error"][-1]), sq["slope"]],
            sq["rel_error"][-1] < 1e-12 and sq["slope"] < -0.5,
            "error at the largest h < 1e-12 (exact for quadratics) and it only falls with h",
        )
        cost = _cost(config)
        s_num, s_bwd = cost["slope_numerical_per_forward"], cost["slope_backward_per_forward"]
        checks.add(
            "slope of numerical-gradient cost (in forward passes) vs P",
            s_num,
            config.numeric_slope[0] <= s_num <= config.numeric_slope[1],
            f"in {list(config.numeric_slope)}: linear in the number of weights",
        )
        flops = _flops(config)
        ratio = float(np.max(flops["backward_per_forward"]))
        checks.add(
            "backward pass cost in forward passes (XLA FLOP counts): largest ratio and slope vs P",
            [ratio, flops["slope"]],
            ratio <= config.backward_ratio_max and abs(flops["slope"]) <= config.backward_slope_max,
            f"≤ {config.backward_ratio_max:g} forward passes at every size and |slope| ≤ "
            f"{config.backward_slope_max:g} (≪ 1): it does not grow with P. Counted, not timed, "
            "so the same on every machine; measured CPU time: largest ratio "
            f"{np.max(cost['backward_per_forward']):.2f}, slope {s_bwd:.2f}",
        )
        numbers = {"accuracy": acc, "cost": cost, "flops": flops}
        folder = experiment_dir(out_dir, NAME)
        figures = [_plot_accuracy(config, acc, folder), _plot_cost(cost, folder)]
    return finish(NAME, CLAIM, config, checks, numbers, figures, out_dir, timer.seconds)


def _plot_accuracy(config, acc, folder) -> str:
    fig, ax = plotting.new_figure(
        size=(7.0, 5.0),
        title=(
            "the centered-difference error is V-shaped in h: "
            "truncation (slope +2) vs round-off (slope −1)"
        ),
    )
    for name, c in (("float64", "C0"), ("float32", "C3")):
        a = acc[name]
        ax.loglog(a["h"], a["rel_error"], "o-", ms=3, color=c, label=f"tanh MLP, {name}")
        ax.plot([a["h_best"]], [a["min_error"]], "*", ms=14, color=c)
    sq = acc["square"]
    ax.loglog(
        sq["h"],
        np.maximum(sq["rel_error"], 1e-17),
        "s--",
        ms=3,
        color="gray",
        label="L(w) = w², float64 (exact: no V)",
    )
    # Guides through the float64 minimum, offset by 10× so they do not hide the data.
    a = acc["float64"]
    h = np.asarray(a["h"])
    hb, eb = a["h_best"], 0.1 * a["min_error"]
    right, left = h >= hb, h <= hb
    ax.loglog(h[right], eb * (h[right] / hb) ** 2, ":", color="k", lw=1, label="∝ h² (truncation)")
    ax.loglog(h[left], eb * hb / h[left], "-.", color="k", lw=1, label="∝ 1/h (round-off)")
    ax.set_ylim(1e-17, 10)
    ax.set_xlabel("step h")
    ax.set_ylabel("relative error vs float64 jax.grad")
    ax.set_title("centered differences: truncation vs round-off")
    plotting.legend(ax)
    name = "error_vs_h.png"
    plotting.save(fig, folder / name)
    return name


def _plot_cost(cost, folder) -> str:
    fig, axes = plotting.new_figure(
        ncols=2,
        size=(6.0, 4.5),
        title=(
            "a numerical gradient costs ~2P forward passes; one "
            "backward pass costs a few, whatever P"
        ),
    )
    ax1, ax2 = axes.flat
    rows = cost["rows"]
    p = [r["params"] for r in rows]
    for k, label in (
        ("numerical_s", "numerical (gradcheck)"),
        ("backward_s", "jax.grad"),
        ("forward_s", "forward pass"),
    ):
        ax1.loglog(p, [r[k] for r in rows], "o-", label=label)
    ax1.set_xlabel("number of weights P")
    ax1.set_ylabel("CPU seconds per call (median)")
    ax1.set_title("cost of one call")
    plotting.legend(ax1)
    ax2.loglog(
        p,
        [r["numerical_s"] / r["forward_s"] for r in rows],
        "o-",
        label=f"numerical: slope {cost['slope_numerical_per_forward']:.2f}",
    )
    ax2.loglog(
        p,
        [r["backward_s"] / r["forward_s"] for r in rows],
        "s-",
        label=f"backward: slope {cost['slope_backward_per_forward']:.2f}",
    )
    ax2.loglog(p, [2 * x for x in p], ":", color="gray", label="2P")
    ax2.set_xlabel("number of weights P")
    ax2.set_ylabel("cost in forward passes")
    ax2.set_title("numerical gradient ∝ P, backward pass ∝ 1")
    plotting.legend(ax2)
    name = "cost_vs_weights.png"
    plotting.save(fig, folder / name)
    return name
