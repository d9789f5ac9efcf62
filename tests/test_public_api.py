"""The public API is explicit, typed and documented (docs/design.md).

* every public module lists its names in `__all__`, and each name exists;
* every public function has a docstring and type hints on each parameter and
  on its return value (mypy checks their consistency in CI);
* the package ships `py.typed`, and the version is defined once.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import pkgutil
from pathlib import Path

import pytest

import jaxnn


def _public_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(jaxnn.__path__, prefix="jaxnn."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts) or parts[-1] == "plotting":
            continue  # private modules; plotting is checked without importing matplotlib here
        names.append(info.name)
    return sorted(names)


MODULES = _public_modules()


@pytest.mark.parametrize("name", MODULES)
def test_module_declares_its_public_names(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__doc__, f"{name} has no module docstring"
    assert hasattr(module, "__all__"), f"{name} has no __all__"
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names missing attributes: {missing}"


def _untyped(fn) -> list[str]:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return []
    bad = [p.name for p in sig.parameters.values() if p.annotation is inspect.Parameter.empty]
    if sig.return_annotation is inspect.Signature.empty:
        bad.append("return")
    return bad


@pytest.mark.parametrize("name", MODULES)
def test_public_functions_are_typed_and_documented(name: str) -> None:
    module = importlib.import_module(name)
    problems = {}
    for attr in module.__all__:
        obj = getattr(module, attr)
        if not inspect.isfunction(obj) or not obj.__module__.startswith("jaxnn"):
            continue
        bad = _untyped(obj)
        if not obj.__doc__:
            bad.append("docstring")
        if bad:
            problems[attr] = bad
    assert not problems, f"{name}: public functions lacking type hints/docstrings: {problems}"


def test_package_is_typed_and_versioned_once() -> None:
    root = Path(jaxnn.__file__).parent
    assert (root / "py.typed").is_file()
    assert jaxnn.__version__ == importlib.metadata.version("jaxnn")
