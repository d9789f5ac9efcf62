"""Benchmark your optimizers the DeepOBS way: tuned, reseeded, profiled, in one vmapped program.

`run_suite` tunes every optimizer's learning rate on a log grid (constant and
warmup + cosine), reruns the picks on several seeds, times one step, and
ranks the optimizers by steps to each problem's target with Dolan-More
performance profiles (`performance_profile`, `profile_score`). The protocol,
the problems and the cost are in `jaxnn/suite/_run.py`'s docstring.

A user optimizer is a factory `learning_rate -> (init, update)` with optax's
protocol; `learning_rate` arrives as a schedule `step -> rate` whose values
are traced (the suite vmaps over rates), so build the update from it without
turning it into a Python number. A complete example, sign-SGD:

```python
import jax
import jax.numpy as jnp
from jaxnn import optim, suite

def sign_sgd(learning_rate):
    \"\"\"theta <- theta - lr(t) sign(g); the state is the step count t.\"\"\"
    def init(params):
        return jnp.zeros([], jnp.int32)
    def update(grads, count, params=None):
        lr = learning_rate(count) if callable(learning_rate) else learning_rate
        return jax.tree.map(lambda g: -lr * jnp.sign(g), grads), count + 1
    return optim.Optimizer(init, update)

result = suite.run_suite([sign_sgd], quick=True, problems=["rosenbrock"])
print(result["summary"]["winner_per_problem"], result["profile"]["score"])
```

`check_factory(factory)` runs the same checks `run_suite` does first and
raises a `ValueError` sentence for each way a factory can be wrong.
"""

from jaxnn.suite._plugin import check_factory, load_optimizer
from jaxnn.suite._problems import PROBLEMS, Problem
from jaxnn.suite._problems import build as build_problem
from jaxnn.suite._report import (
    markdown,
    performance_profile,
    plot_all,
    profile_score,
    table_rows,
)
from jaxnn.suite._run import BUILTIN, QUICK_PROBLEMS, SuiteConfig, run_suite

__all__ = [
    "BUILTIN",
    "PROBLEMS",
    "QUICK_PROBLEMS",
    "Problem",
    "SuiteConfig",
    "build_problem",
    "check_factory",
    "load_optimizer",
    "markdown",
    "performance_profile",
    "plot_all",
    "profile_score",
    "run_suite",
    "table_rows",
]
