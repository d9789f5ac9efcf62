"""Atomic, deterministic files: the one home for writing results, checkpoints and caches.

`write_bytes` is what `jaxnn.plotting.save`, the `jaxnn.data` cache and every
results file write with; `write_text` and `write_json` build on it.

A file is either complete or absent: each writer writes to a temporary file
(`.NAME.<random>.tmp`) in the destination folder and renames it into place with
`os.replace`, which is atomic on POSIX and Windows. A run killed halfway
leaves the previous file intact (and at worst a stale `.tmp` file, which
`remove_stale_temporaries` deletes).

JSON written here is strict (RFC 8259) and reads back as numbers: a
non-finite float, which a diverged run legitimately produces, is written as
`null`, and the reason is recorded next to it under `KEY_nonfinite` (`"nan"`,
`"inf"` or `"-inf"`; for a list, the kinds present, e.g. `"nan, inf"`), so
`pandas.read_json` keeps numeric columns numeric (null is NaN there) while
no information is lost. JAX and NumPy arrays become (nested) lists, NumPy
scalars plain numbers, dataclasses dicts. Keys are written in insertion
order so a re-run with the same seed gives a byte-identical file (timings
excepted).

Large arrays (loss grids, curves) need not bloat the JSON:
`write_json(path, obj, npz_min_size=N)` stores every NumPy/JAX array with at
least `N` elements in the sibling `path.with_suffix(".npz")` and writes a
reference in its place, `{"npz": "metrics.npz", "key": "numbers/grid",
"shape": [41, 41], "dtype": "float32"}`; `read_json(path, arrays=True)` puts
the arrays back.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "read_json",
    "remove_stale_temporaries",
    "to_jsonable",
    "write_bytes",
    "write_json",
    "write_text",
]

_TMP_SUFFIX = ".tmp"


def to_jsonable(obj: Any) -> Any:
    """Convert `obj` to plain JSON types (see the module docstring for the rules).

    Args:
      obj: dicts, lists, tuples, dataclasses, numbers, strings, paths and arrays.

    Returns:
      The same tree in JSON types; non-finite floats are `None`, with a
      `KEY_nonfinite` entry next to each in a mapping.
    """
    return _encode(obj, None, "", None)


def _kind(x: float) -> str | None:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return None


def _encode_mapping(obj: Mapping, arrays: dict | None, prefix: str, min_size: int | None) -> dict:
    out: dict[str, Any] = {}
    for k, v in obj.items():
        key = str(k)
        out[key] = _encode(v, arrays, f"{prefix}{key}/", min_size)
        reason = _nonfinite_reason(v)
        if reason and f"{key}_nonfinite" not in obj:
            out[f"{key}_nonfinite"] = reason
    return out


def _nonfinite_reason(v: Any) -> str | None:
    if isinstance(v, (bool, np.bool_, int, np.integer)):
        return None
    if isinstance(v, (float, np.floating)):
        return _kind(float(v))
    if isinstance(v, (list, tuple)) or hasattr(v, "__array__"):
        try:
            arr = np.asarray(v, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            return None
        found = [k for k, bad in (("nan", np.isnan(arr)), ("inf", arr == np.inf),
                                  ("-inf", arr == -np.inf)) if bad.any()]  # fmt: skip
        return ", ".join(found) or None
    return None


def _encode(obj: Any, arrays: dict | None, prefix: str, min_size: int | None) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _encode(dataclasses.asdict(obj), arrays, prefix, min_size)
    if isinstance(obj, Mapping):
        return _encode_mapping(obj, arrays, prefix, min_size)
    if isinstance(obj, (list, tuple)):
        return [_encode(v, arrays, f"{prefix}{i}/", min_size) for i, v in enumerate(obj)]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return None if _kind(float(obj)) else float(obj)
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "__array__"):  # numpy / jax arrays
        arr = np.asarray(obj)
        if arrays is not None and min_size is not None and arr.ndim and arr.size >= min_size:
            key = prefix.rstrip("/")
            arrays[key] = arr
            return {"npz": None, "key": key, "shape": list(arr.shape), "dtype": str(arr.dtype)}
        if arr.ndim == 0:
            return _encode(arr.item(), arrays, prefix, min_size)
        return [_encode(v, arrays, prefix, min_size) for v in arr.tolist()]
    raise TypeError(f"Cannot write an object of type {type(obj).__name__} to JSON: {obj!r}.")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically (temporary file + rename); returns the path.

    Missing folders are created. The file gets the mode a plain `open(path, "w")`
    would give it (`0o666` less the umask), not `mkstemp`'s private `0o600`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=_TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 `text` to `path` atomically."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any, *, npz_min_size: int | None = None) -> Path:
    """Write `obj` as indented strict JSON to `path` atomically.

    Args:
      path: the `.json` file.
      obj: anything `to_jsonable` takes.
      npz_min_size: if given, arrays with at least this many elements go to the
        sibling `.npz` file (written first, atomically) and are referenced from
        the JSON (module docstring).

    Returns:
      The path written.
    """
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(obj, arrays if npz_min_size is not None else None, "", npz_min_size)
    if arrays:
        npz = path.with_suffix(".npz")
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds badly
        write_bytes(npz, buffer.getvalue())
        _name_npz(tree, npz.name)
    text = json.dumps(tree, indent=2, allow_nan=False) + "\n"
    return write_text(path, text)


def _is_ref(node: Any) -> bool:
    return isinstance(node, dict) and set(node) == {"npz", "key", "shape", "dtype"}


def _name_npz(node: Any, name: str) -> None:
    if _is_ref(node):
        node["npz"] = name
    elif isinstance(node, dict):
        for v in node.values():
            _name_npz(v, name)
    elif isinstance(node, list):
        for v in node:
            _name_npz(v, name)


def _load_refs(node: Any, folder: Path, cache: dict) -> Any:
    if _is_ref(node) and node["npz"]:
        if node["npz"] not in cache:
            with np.load(folder / node["npz"]) as f:
                cache[node["npz"]] = dict(f)
        return cache[node["npz"]][node["key"]]
    if isinstance(node, dict):
        return {k: _load_refs(v, folder, cache) for k, v in node.items()}
    if isinstance(node, list):
        return [_load_refs(v, folder, cache) for v in node]
    return node


def read_json(path: str | os.PathLike, *, arrays: bool = False) -> Any:
    """Read a JSON file written by `write_json`.

    Args:
      path: the `.json` file.
      arrays: replace `.npz` references by the NumPy arrays they name.

    Returns:
      The JSON tree (non-finite values are `None`, their kind in `KEY_nonfinite`).
    """
    path = Path(path)
    tree = json.loads(path.read_text(encoding="utf-8"))
    return _load_refs(tree, path.parent, {}) if arrays else tree


def remove_stale_temporaries(folder: str | os.PathLike, *, recursive: bool = True) -> list[Path]:
    """Delete the `.NAME.<random>.tmp` files a killed writer left in `folder`.

    Only call it when no other writer is working in `folder`: a temporary
    file being written is indistinguishable from a stale one.

    Args:
      folder: where to look (a missing folder has none).
      recursive: also look in its sub-folders.

    Returns:
      The paths removed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    pattern = f".*{_TMP_SUFFIX}"
    found = folder.rglob(pattern) if recursive else folder.glob(pattern)
    removed = []
    for tmp in sorted(found):
        if tmp.is_file():
            tmp.unlink()
            removed.append(tmp)
    return removed
