"""Strict test configuration shared by every test module.

* Rank promotion raises: `x + y` with silently broadcast ranks is a bug here.
* Deprecations raised from jaxnn itself are errors (see pyproject filterwarnings).
* Tests run in float32 unless they ask for the `x64` fixture, which turns on
  64-bit types for the duration of the test (gradient checks and optax parity
  in float64 use it).
* hypothesis gets a deterministic, CI-sized profile.
"""

import jax
import pytest
from hypothesis import HealthCheck, settings

jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "standard")
jax.config.update("jax_debug_nans", False)

settings.register_profile(
    "jaxnn",
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile("jaxnn")


@pytest.fixture
def x64():
    """Run the test with 64-bit floats enabled (restored afterwards)."""
    with jax.enable_x64(True):
        yield


@pytest.fixture
def key():
    return jax.random.key(0)
