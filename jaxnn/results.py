"""Atomic, deterministic results files shared by experiments and benchmarks.

`write_bytes` is also what `jaxnn.plotting.save` and the `jaxnn.data` cache
write with.

A results file is either complete or absent: each writer writes to a
temporary file in the destination folder and renames it into place with
`os.replace`, which is atomic on POSIX and Windows. A run killed halfway
leaves the previous file intact.

JSON written here is strict (RFC 8259): non-finite floats, which a diverged
run legitimately produces, are written as the strings `"nan"`, `"inf"` and
`"-inf"` rather than the invalid bare tokens Python's `json` emits. JAX and
NumPy arrays become (nested) lists, NumPy scalars plain numbers, dataclasses
dicts. Keys are written in insertion order so a re-run with the same seed
gives a byte-identical file (timings excepted).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["to_jsonable", "write_bytes", "write_json", "write_text", "read_json"]


def to_jsonable(obj: Any) -> Any:
    """Convert `obj` to plain JSON types (see the module docstring for the rules)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return _float(float(obj))
    if obj is None or isinstance(obj, str):
        return obj
    if hasattr(obj, "__array__"):  # numpy / jax arrays
        arr = np.asarray(obj)
        if arr.ndim == 0:
            return to_jsonable(arr.item())
        return [to_jsonable(v) for v in arr.tolist()]
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"Cannot write an object of type {type(obj).__name__} to JSON: {obj!r}.")


def _float(x: float) -> float | str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


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
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
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


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write `obj` as indented strict JSON to `path` atomically."""
    text = json.dumps(to_jsonable(obj), indent=2, allow_nan=False) + "\n"
    return write_text(path, text)


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file written by `write_json` (non-finite strings stay strings)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))
