"""docs/guide/layers.md: its ```python blocks run, in order, in one namespace."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[1] / "docs" / "guide" / "layers.md"


def _blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


@pytest.mark.slow  # ~15 CPU-s of guide examples; like the other guides' tests, in the slow run
def test_layers_guide_code_runs():
    blocks = _blocks(PAGE.read_text())
    assert len(blocks) >= 5
    namespace: dict = {}
    for i, code in enumerate(blocks):
        exec(compile(code, f"{PAGE.name}[block {i}]", "exec"), namespace)
