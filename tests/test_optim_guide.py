"""The code in docs/guide/optim.md runs as written (the README's optimizer section: test_readme)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["docs/guide/optim.md"]


def _blocks(page: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / page).read_text(), flags=re.S)


@pytest.mark.parametrize("page", PAGES)
def test_every_python_block_runs_in_order(page):
    blocks = _blocks(page)
    assert blocks, f"{page} has no python blocks"
    namespace: dict = {}
    for i, code in enumerate(blocks):
        exec(compile(code, f"{page}[block {i}]", "exec"), namespace)
