"""Bad inputs to the tuning, timing, suite and results APIs (rows prefixed `harness_`)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import optim, results, suite, timing, tuning
from tests.bad_inputs._case import Case


def _curve(lr):
    return (1.0 - lr) ** (2.0 * jnp.arange(5.0))


def _no_init(learning_rate):
    return (lambda p: p, lambda g, s, p=None: (g, s))  # a tuple, no .init / .update


def _init_raises(learning_rate):
    def init(params):
        raise KeyError("missing slot")

    return optim.Optimizer(init, lambda g, s, p=None: (g, s))


def _bad_updates(learning_rate):
    return optim.Optimizer(lambda p: (), lambda g, s, p=None: ({"w": jnp.ones((4,))}, s))


def _single_value(learning_rate):
    return optim.Optimizer(lambda p: (), lambda g, s, p=None: g)


def _python_float(learning_rate):
    def update(grads, state, params=None):
        lr = float(learning_rate(0))  # a traced value cannot become a Python float
        return jax.tree.map(lambda g: -lr * g, grads), state

    return optim.Optimizer(lambda p: (), update)


def _timings(n):
    return {"all": [1.0] * n, "median": 1.0}


CASES = [
    Case("harness_tune_grid_2d", lambda: tuning.tune_learning_rate(_curve, np.ones((2, 2))),
         ValueError, ("grid", "1-d", "(2, 2)")),
    Case("harness_tune_grid_nan", lambda: tuning.tune_learning_rate(_curve, [0.1, np.nan]),
         ValueError, ("grid", "finite")),
    Case("harness_tune_curve_not_callable", lambda: tuning.tune_learning_rate(3.0, [0.1]),
         TypeError, ("make_curve", "lr -> losses")),
    Case("harness_tune_criterion_not_callable",
         lambda: tuning.tune_learning_rate(_curve, [0.1], "final"), TypeError, ("criterion",)),
    Case("harness_tune_curve_scalar", lambda: tuning.tune_learning_rate(jnp.sum, [0.1, 0.2]),
         ValueError, ("1-d loss curve", "shape (2,)")),
    Case("harness_tune_criterion_shape",
         lambda: tuning.tune_learning_rate(_curve, [0.1, 0.2], lambda c: c),
         ValueError, ("one score per rate", "(2, 5)")),
    Case("harness_log_grid_order", lambda: tuning.log_grid(1.0, 0.1, 3), ValueError,
         ("low <= high", "low=1.0")),
    Case("harness_log_grid_num", lambda: tuning.log_grid(0.1, 1.0, 2.5), ValueError,
         ("num", "2.5")),
    Case("harness_steps_to_threshold", lambda: tuning.steps_to(float("nan")), ValueError,
         ("threshold", "finite")),
    Case("harness_tail_mean_fraction", lambda: tuning.tail_mean(0.0), ValueError,
         ("fraction", "(0, 1]")),
    Case("harness_timing_repeats", lambda: timing.time_interleaved({"a": jnp.ones}, 0),
         ValueError, ("repeats", ">= 1")),
    Case("harness_timing_not_callable", lambda: timing.time_interleaved({"a": 1.0}, 1),
         TypeError, ("candidate 'a'", "callable")),
    Case("harness_ratio_target_both", lambda: timing.ratio_target("x", _timings(2), _timings(2)),
         ValueError, ("exactly one of at_most or at_least",)),
    Case("harness_ratio_target_unpaired",
         lambda: timing.ratio_target("x", _timings(2), _timings(3), at_most=1.0),
         ValueError, ("paired samples", "2 and 3")),
    Case("harness_suite_unknown_problem",
         lambda: suite.run_suite(problems=["rosenbrock", "nope"], quick=True),
         ValueError, ("unknown ['nope']", "known problems")),
    Case("harness_suite_problems_string", lambda: suite.run_suite(problems="rosenbrock"),
         TypeError, ("problems", "sequence of names")),
    Case("harness_factory_not_callable", lambda: suite.check_factory(0.1, "lr"), ValueError,
         ("lr", "callable as factory(learning_rate)", "float")),
    Case("harness_factory_rejects_schedule", lambda: suite.check_factory(len), ValueError,
         ("len(learning_rate) raised typeerror", "schedule")),
    Case("harness_factory_no_init_update", lambda: suite.check_factory(_no_init), ValueError,
         ("optax-style (init, update) pair", "tuple")),
    Case("harness_factory_init_raises", lambda: suite.check_factory(_init_raises), ValueError,
         ("init(params) raised keyerror", "missing slot")),
    Case("harness_factory_update_single", lambda: suite.check_factory(_single_value), ValueError,
         ("must return (updates, new_state)", "dict")),
    Case("harness_factory_update_shapes", lambda: suite.check_factory(_bad_updates), ValueError,
         ("parameters' structure and shapes", "(4,)")),
    Case("harness_factory_untraceable", lambda: suite.check_factory(_python_float), ValueError,
         ("traceable in its learning rate", "python number")),
    Case("harness_spec_format", lambda: suite.load_optimizer("no_colon"), ValueError,
         ("module:factory", "'no_colon'")),
    Case("harness_spec_import", lambda: suite.load_optimizer("jaxnn_no_such_module_xyz:f"),
         ValueError, ("could not import module", "pythonpath")),
    Case("harness_spec_missing", lambda: suite.load_optimizer("math:no_such_factory"),
         ValueError, ("has no 'no_such_factory'",)),
    Case("harness_results_type", lambda: results.to_jsonable({"x": object()}), TypeError,
         ("cannot write an object of type object",)),
]  # fmt: skip
