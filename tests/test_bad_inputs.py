"""Bad input gets a clear error that names the problem: one row per case.

The rows live in ``tests/bad_inputs/<area>.py`` (layers, losses, data, optim,
train, landscape, ...), each a module with a ``CASES`` list; this file collects
them all into one parametrized table. A row fails if the call succeeds, raises
another exception type, or raises a message that lacks one of the row's words.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import tests.bad_inputs as _pkg
from tests.bad_inputs._case import Case


def _all_cases() -> list[Case]:
    cases: list[Case] = []
    for info in sorted(pkgutil.iter_modules(_pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"tests.bad_inputs.{info.name}")
        cases.extend(module.CASES)
    ids = [c.id for c in cases]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicated, f"bad-input rows with the same id: {duplicated}"
    return cases


CASES = _all_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_answered_clearly(case: Case) -> None:
    with pytest.raises(case.error) as info:
        case.call()
    message = str(info.value).lower()
    missing = [w for w in case.words if w.lower() not in message]
    assert not missing, f"message {str(info.value)!r} lacks {missing}"
