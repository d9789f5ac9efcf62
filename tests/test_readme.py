"""The README's code runs: every ```python block of the sections listed here is executed.

The README opens with the two commands (install + gallery, install + tests), and its
self-contained examples are code a user copies; a renamed function or a changed
signature breaks this test before it breaks a reader. The first example (30 s of
MNIST-1D training) is covered by the index page's test in the slow run.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"

SECTIONS = [
    "Your own model",
    "Optimizers: every optax optimizer works in jaxnn, and vice versa",
    "Sweeps: a grid of runs is one program",
]


def _section(text: str, heading: str) -> str:
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, f"README has no section '## {heading}'"
    return match.group(1)


def test_readme_opens_with_the_two_commands():
    lines = README.read_text().splitlines()
    block = lines[lines.index("```bash") + 1 : lines.index("```bash") + 3]
    assert block[0].endswith("pip install -e . && python -m experiments all --quick")
    assert block[1].endswith('pip install -e ".[dev]" && pytest -q -n 2')


@pytest.mark.parametrize("heading", SECTIONS)
def test_readme_section_code_runs(heading):
    blocks = re.findall(r"```python\n(.*?)```", _section(README.read_text(), heading), re.S)
    assert blocks, f"section '{heading}' has no python block"
    namespace: dict = {}
    for code in blocks:
        exec(compile(code, f"README.md ({heading})", "exec"), namespace)
