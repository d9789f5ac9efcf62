"""Experiments and benchmarks found from the files that follow the contract, read with `ast`.

A module `DIR/NAME.py` (not starting with `_`) is an entry. Reading the
registry parses the files and imports nothing, so `list` answers without
importing JAX. The contract, checked for every file, and failing loudly
with the file and what is missing:

* experiments: a module docstring, `NAME = "NAME"` (the file's stem),
  `CLAIM = "..."` (a string literal, implicit concatenation allowed), a
  `Config` class with a `quick` classmethod, and `def run(config, out_dir)`;
* benchmarks: a module docstring and `def run(quick, out_dir)`;
* both: an optional `ORDER = <int>` (the gallery/list position; entries
  without one come last, by name; ties by name).

`load` imports an entry's module (JAX and all) when it is about to run.
"""

from __future__ import annotations

import ast
import fnmatch
import importlib
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

__all__ = ["Entry", "RegistryError", "discover", "load", "select"]

DEFAULT_ORDER = 10_000  # where an entry without ORDER goes


class RegistryError(ValueError):
    """A module breaks the contract, or a name or pattern matches no entry."""


class Entry(NamedTuple):
    """One experiment or benchmark, as read from its source file."""

    name: str  # the file's stem, e.g. "batchnorm"
    path: Path  # the source file
    summary: str  # the docstring's first line
    claim: str  # experiments: CLAIM; benchmarks: the summary
    order: int  # ORDER, or DEFAULT_ORDER


def _assigned(tree: ast.Module) -> dict[str, ast.expr]:
    values = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                values[target.id] = node.value
    return values


def _defs(tree: ast.Module) -> dict[str, ast.AST]:
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return {node.name: node for node in tree.body if isinstance(node, kinds)}


def _literal(node: ast.expr | None, kind: type) -> object:
    try:
        value = ast.literal_eval(node) if node is not None else None
    except ValueError:
        return None
    return value if isinstance(value, kind) and not isinstance(value, bool) else None


def _contract_problems(tree: ast.Module, stem: str, kind: str) -> list[str]:
    values, defs = _assigned(tree), _defs(tree)
    problems = []
    if not ast.get_docstring(tree):
        problems.append("a module docstring")
    if "run" not in defs or isinstance(defs["run"], ast.ClassDef):
        problems.append("a run function")
    if "ORDER" in values and _literal(values["ORDER"], int) is None:
        problems.append("ORDER as an integer literal")
    if kind == "experiment":
        if _literal(values.get("NAME"), str) != stem:
            problems.append(f'NAME = "{stem}" (the file name)')
        if not _literal(values.get("CLAIM"), str):
            problems.append("CLAIM as a non-empty string literal")
        config = defs.get("Config")
        if not isinstance(config, ast.ClassDef):
            problems.append("a Config class")
        elif not any(getattr(n, "name", None) == "quick" for n in config.body):
            problems.append("Config.quick()")
    return problems


def _read(path: Path, kind: str) -> Entry:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as err:
        raise RegistryError(f"{kind} module {path} does not parse: {err}.") from err
    problems = _contract_problems(tree, path.stem, kind)
    if problems:
        raise RegistryError(
            f"{kind} module {path} does not follow the {kind} contract: it lacks "
            f"{', '.join(problems)}. See harness/registry.py for the contract."
        )
    values = _assigned(tree)
    summary = (ast.get_docstring(tree) or "").strip().splitlines()[0]
    claim = str(_literal(values.get("CLAIM"), str) or summary)
    order = _literal(values.get("ORDER"), int)
    order = order if isinstance(order, int) else DEFAULT_ORDER
    return Entry(path.stem, path, summary, claim, order)


def discover(folder: str | Path, kind: str) -> list[Entry]:
    """Every entry of `folder`, sorted by `(ORDER, name)`.

    Args:
      folder: the experiments or benchmarks folder.
      kind: `"experiment"` or `"benchmark"` (which contract to check).

    Returns:
      The entries.

    Raises:
      RegistryError: a missing folder, or a module that breaks the contract
        (all such modules are named in one message).
    """
    if kind not in ("experiment", "benchmark"):
        raise ValueError(f"kind must be 'experiment' or 'benchmark', got {kind!r}.")
    folder = Path(folder)
    if not folder.is_dir():
        raise RegistryError(f"The {kind}s folder {folder} does not exist.")
    entries, errors = [], []
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        try:
            entries.append(_read(path, kind))
        except RegistryError as err:
            errors.append(str(err))
    if errors:
        raise RegistryError("\n".join(errors))
    return sorted(entries, key=lambda e: (e.order, e.name))


def select(
    entries: Sequence[Entry],
    names: Sequence[str] = (),
    only: Sequence[str] = (),
    skip: Sequence[str] = (),
    kind: str = "experiment",
) -> list[Entry]:
    """The entries named (all if none), kept by `only` and dropped by `skip` glob patterns.

    Raises:
      RegistryError: an unknown name, a pattern that matches no entry, or nothing left.
    """
    known = {e.name: e for e in entries}
    unknown = [n for n in names if n not in known]
    if unknown:
        what = kind if len(unknown) == 1 else f"{kind}s"
        raise RegistryError(
            f"Unknown {what} {', '.join(map(repr, unknown))}. Known {kind}s: {', '.join(known)}."
        )
    chosen = [known[n] for n in dict.fromkeys(names)] if names else list(entries)
    for pattern in (*only, *skip):
        if not fnmatch.filter(known, pattern):
            raise RegistryError(
                f"The pattern {pattern!r} matches no {kind}. Known {kind}s: {', '.join(known)}."
            )
    if only:
        chosen = [e for e in chosen if any(fnmatch.fnmatchcase(e.name, p) for p in only)]
    chosen = [e for e in chosen if not any(fnmatch.fnmatchcase(e.name, p) for p in skip)]
    if not chosen:
        raise RegistryError("Nothing left to run after --only/--skip.")
    return chosen


def load(entry: Entry) -> ModuleType:
    """Import `entry`'s module: `PACKAGE.NAME` when its folder is a package, else by path.

    The folder's parent goes on `sys.path` first, so `experiments/x.py` can
    `import experiments._common` from any working directory.
    """
    folder = entry.path.parent
    if (folder / "__init__.py").exists():
        root = str(folder.parent)
        if root not in sys.path:
            sys.path.insert(0, root)
        return importlib.import_module(f"{folder.name}.{entry.name}")
    spec = importlib.util.spec_from_file_location(f"_harness_{entry.name}", entry.path)
    if spec is None or spec.loader is None:
        raise RegistryError(f"Cannot load {entry.path} as a module.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
