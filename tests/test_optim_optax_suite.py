"""optax 0.2.8's own tests, run against `jaxnn.optim` (slow; `pytest -m slow` runs them).

Each optax test module below is loaded from the installed optax package with
its ``from optax... import <module>`` lines replaced by a proxy of that
module: every name that `jaxnn.optim` exports (``adam``, ``chain``,
``masked``, ``inject_hyperparams``, ``apply_updates``, ...) resolves to
jaxnn's, the rest to optax's. The test classes are then collected here as
ordinary unittest classes, so optax's assertions check jaxnn's optimizers.

Tests that fail because jaxnn differs *on purpose* are listed in
``DIFFERENCES`` with the reason and run as expected failures (so a change
that makes them pass is reported too); every other test must pass.
"""

from __future__ import annotations

import importlib.util
import re
import types
import unittest
from pathlib import Path

import optax
import pytest

import jaxnn.optim as jo

pytestmark = pytest.mark.slow

OPTAX_DIR = Path(optax.__file__).parent
MODULES = [
    "_src/update_test.py",
    "_src/combine_test.py",
    "_src/transform_test.py",
    "_src/alias_test.py",
    "transforms/_combining_test.py",
    "transforms/_masking_test.py",
    "transforms/_adding_test.py",
    "schedules/_inject_test.py",
]
ROUTED = {"alias", "combine", "transform", "update", "wrappers", "schedules", "transforms"}
ROUTED |= {"_combining", "_masking", "_adding", "_inject", "_accumulation"}

# test id (Class.method, plus any parameter index) -> why jaxnn differs from optax there on purpose.
_INT_PARAMS = (
    "uses integer parameters ({'a': 1, 'b': 2}) with adam: jaxnn raises a TypeError naming "
    "the leaf (adam's state and the update would be truncated to integers)"
)
DIFFERENCES: dict[str, str] = {
    "ExtraArgsTest.test_extra_args": _INT_PARAMS,
}


class _Routed(types.ModuleType):
    """A module proxy: jaxnn.optim's public names first, the original module's otherwise."""

    def __init__(self, original: types.ModuleType) -> None:
        super().__init__(original.__name__)
        self._original = original

    def __getattr__(self, name: str):
        if name in jo.__all__:
            return getattr(jo, name)
        return getattr(self._original, name)


_IMPORT = re.compile(r"^from (optax[\w.]*) import (\w+)$", re.M)


def _route(match: re.Match) -> str:
    package, name = match.group(1), match.group(2)
    if name not in ROUTED:
        return match.group(0)
    return f"{name} = _ROUTE({package!r}, {name!r})"


def _make_proxy(package: str, name: str) -> _Routed:
    return _Routed(importlib.import_module(f"{package}.{name}"))


def _load(relative: str) -> types.ModuleType:
    path = OPTAX_DIR / relative
    source = _IMPORT.sub(_route, path.read_text())
    name = "routed_" + relative.replace("/", "_").removesuffix(".py")
    spec = importlib.util.spec_from_loader(name, loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__dict__["_ROUTE"] = _make_proxy
    exec(compile(source, str(path), "exec"), module.__dict__)
    return module


# Classes that test optax code jaxnn has no counterpart for (routing changes nothing there).
SKIP_CLASSES = {"LBFGSTest"}
_OPT_NAME = re.compile(r"opt_name='(\w+)'")


def _drop_foreign_optimizers(cls: type) -> None:
    """Drop parametrized tests of an optimizer jaxnn does not have (e.g. `opt_name='lion'`)."""
    for attr in [a for a in vars(cls) if a.startswith("test")]:
        match = _OPT_NAME.search(getattr(getattr(cls, attr), "__x_params_repr__", ""))
        if match and match.group(1) not in {*jo.__all__, "sgd_mom"}:
            delattr(cls, attr)


def _mark_differences(cls: type) -> None:
    for attr in dir(cls):
        if not attr.startswith("test"):
            continue
        test_id = f"{cls.__name__}.{attr}"
        if any(re.fullmatch(re.escape(k) + r"\d*", test_id) for k in DIFFERENCES):
            setattr(cls, attr, unittest.expectedFailure(getattr(cls, attr)))


def _collect() -> dict[str, type]:
    classes = {}
    for relative in MODULES:
        module = _load(relative)
        for name, obj in vars(module).items():
            if isinstance(obj, type) and issubclass(obj, unittest.TestCase):
                if obj.__module__ == module.__name__ and name not in SKIP_CLASSES:
                    _drop_foreign_optimizers(obj)
                    _mark_differences(obj)
                    classes[f"Optax_{Path(relative).stem}_{name}"] = obj
    return classes


globals().update(_collect())
