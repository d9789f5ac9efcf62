"""The documentation matches the tree: the layout page, the API pages and the first example.

* every path `docs/where_things_live.md` names exists, and every top-level
  folder and every public jaxnn module or subpackage is named there;
* every public top-level module of jaxnn has an API page, every API page
  documents a module that exists, and every page in the mkdocs nav exists;
* the first example in `docs/index.md` runs (marked slow: `pytest -m slow`).

`mkdocs build --strict` itself runs in CI (`.ci/run`), not here.
"""

from __future__ import annotations

import importlib.util
import pkgutil
import re
from pathlib import Path

import jax.numpy as jnp
import pytest

import jaxnn

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
LAYOUT = (DOCS / "where_things_live.md").read_text()
_IGNORED = {"site", "results", "build", "dist"}  # build outputs (in .gitignore)


def _named_paths(text: str) -> set[str]:
    """Backticked tokens that look like repository paths (`a/b.py`, `dir/`)."""
    tokens = re.findall(r"`([^`\s]+)`", text)
    return {t for t in tokens if "/" in t and not t.startswith(("http", "python"))}


def _public_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(jaxnn.__path__, prefix="jaxnn."):
        if not any(p.startswith("_") for p in info.name.split(".")):
            names.append(info.name)
    return names


def _module_path(name: str) -> str:
    rel = Path(*name.split("."))
    return f"{rel}/" if (ROOT / rel).is_dir() else f"{rel}.py"


def test_every_named_path_exists() -> None:
    paths = _named_paths(LAYOUT)
    assert len(paths) > 20, f"expected the layout page to name the tree, found {sorted(paths)}"
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert not missing, f"docs/where_things_live.md names paths that do not exist: {missing}"


def test_every_folder_and_public_module_is_named() -> None:
    paths = _named_paths(LAYOUT)
    folders = [
        f"{d.name}/"
        for d in ROOT.iterdir()
        if d.is_dir()
        and not d.name.startswith(".")
        and d.name not in _IGNORED
        and not d.name.endswith(".egg-info")  # written by `pip install -e .`
        and not d.name.startswith("__")  # __pycache__
    ]
    modules = [_module_path(name) for name in _public_modules()]
    missing = sorted(p for p in folders + modules if p not in paths)
    assert not missing, f"docs/where_things_live.md does not name: {missing}"


def test_api_pages_cover_the_public_modules() -> None:
    pages = {p.stem: p.read_text() for p in (DOCS / "api").glob("*.md")}
    top = [n for n in _public_modules() if n.count(".") == 1]
    assert sorted(f"jaxnn.{stem}" for stem in pages) == sorted(top)
    for stem, text in pages.items():
        targets = re.findall(r"^::: (\S+)", text, flags=re.M)
        assert targets == [f"jaxnn.{stem}"], f"docs/api/{stem}.md documents {targets}"
        assert importlib.util.find_spec(targets[0]) is not None


def test_every_nav_page_exists() -> None:
    nav = (ROOT / "mkdocs.yml").read_text().split("\nnav:\n", 1)[1]
    pages = re.findall(r":\s*(\S+\.md)\s*$", nav, flags=re.M)
    assert "where_things_live.md" in pages and "design.md" in pages
    missing = [p for p in pages if not (DOCS / p).is_file()]
    assert not missing, f"mkdocs.yml's nav names missing pages: {missing}"
    guides = {f"guide/{p.name}" for p in (DOCS / "guide").glob("*.md")}
    assert guides <= set(pages), f"guide pages left out of the nav: {sorted(guides - set(pages))}"


@pytest.mark.slow  # compiles fit and a slice: ~10-25 s on 2 shared cores
def test_index_example_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", (DOCS / "index.md").read_text(), flags=re.S)
    assert len(blocks) == 1
    scope: dict = {}
    exec(compile(blocks[0], "docs/index.md", "exec"), scope)
    curve, alphas = scope["curve"], scope["alphas"]
    assert curve.shape == alphas.shape
    # The fitted parameters sit at alpha = 0: the loss there is the smallest on the line
    # (a random direction through a trained minimum of this 1-hidden-layer fit).
    centre = int(jnp.argmin(jnp.abs(alphas)))
    assert bool(jnp.all(jnp.isfinite(curve)))
    assert float(curve[centre]) <= float(jnp.min(curve)) + 1e-6
