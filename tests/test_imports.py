"""Imports run one way, read from the source with `ast` (nothing is imported).

Checked over the packages `jaxnn`, `harness`, `experiments` and `benchmarks`
(every import statement, at module level or inside a function):

* no cycle among their modules;
* `jaxnn` imports none of `experiments`, `benchmarks`, `harness`;
* no package imports another package's private module (`x._name`);
* matplotlib is imported at module level only in `jaxnn/plotting.py`.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("jaxnn", "harness", "experiments", "benchmarks")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(path: Path) -> list[tuple[str, bool]]:
    """`(imported module, at module level)` for every import in `path`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    module, is_package = _module_name(path), path.name == "__init__.py"
    top = {id(n) for n in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node, module, is_package)
            found.append((base, id(node) in top))
            found += [(f"{base}.{a.name}", id(node) in top) for a in node.names]
    return found


@functools.cache
def _graph() -> dict[str, dict[str, bool]]:
    """module -> {imported module -> at module level} over the four packages."""
    files = [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]
    modules = {_module_name(p): p for p in files}
    graph = {}
    for name, path in modules.items():
        edges: dict[str, bool] = {}
        for target, top in _imports(path):
            edges[target] = edges.get(target, False) or top
        graph[name] = edges
    return graph


def _internal_edges(graph):
    """Edges between the packages' own modules (a `from a import b` of a module counts)."""
    return {m: sorted(t for t in edges if t in graph and t != m) for m, edges in graph.items()}


def _cycle(edges: dict[str, list[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in edges.get(node, []):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = "done"
        stack.pop()
        return None

    for node in edges:
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle():
    edges = _internal_edges(_graph())
    # A package's __init__ re-exports its submodules, and a submodule importing a
    # sibling by `from pkg import sibling` goes through that face: keep those edges
    # one way (face -> part) so the check sees module cycles, not package faces.
    edges = {m: [t for t in ts if not m.startswith(t + ".")] for m, ts in edges.items()}
    assert _cycle(edges) is None, f"import cycle: {' -> '.join(_cycle(edges))}"


def test_the_library_imports_no_harness():
    bad = [
        (m, t)
        for m, edges in _graph().items()
        if m.split(".")[0] == "jaxnn"
        for t in edges
        if t.split(".")[0] in ("experiments", "benchmarks", "harness")
    ]
    assert not bad, f"jaxnn imports the harness: {bad}"


def test_no_private_import_across_packages():
    bad = []
    for m, edges in _graph().items():
        for t in edges:
            parts = t.split(".")
            private = any(p.startswith("_") and not p.startswith("__") for p in parts[1:])
            if parts[0] in PACKAGES and parts[0] != m.split(".")[0] and private:
                bad.append((m, t))
    assert not bad, f"private modules imported from another package: {bad}"


def test_matplotlib_only_in_plotting_at_module_level():
    bad = [
        m
        for m, edges in _graph().items()
        if m != "jaxnn.plotting"
        and any(t.split(".")[0] == "matplotlib" and top for t, top in edges.items())
    ]
    assert not bad, f"matplotlib imported at module level outside jaxnn/plotting.py: {bad}"


def test_the_checks_catch_what_they_claim_to():
    assert _cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert _cycle({"a": ["b"], "b": []}) is None
