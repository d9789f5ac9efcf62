"""Numbers as a reader wants them: rounded, short, with units and ± over seeds, in HTML.

* a float is shown to 4 significant digits (`0.09999993318508066` -> `0.1`);
  `null` with a `KEY_nonfinite` reason next to it is shown as that reason
  (`inf`, `nan`), never as an empty cell;
* a short list of numbers is written out, a long one summarized as
  `n values: first … last (min … max)`, a nested list as its shape and range;
* `X_mean` next to `X_std` becomes one row `X: mean ± std`; a list under a
  key naming seeds (`per_seed`, `seeds`) becomes `mean ± std (n = k)`;
* a key ending in `_s`/`seconds` gets the unit `s`, `_ms` `ms`, `_pct`/`percent` `%`;
* text is shown as text: JSON escapes such as `\\u2212` are real characters.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["number", "value_html", "numbers_table"]

_SHORT = 8  # lists up to this length are written out
_ROWS = 60  # at most this many rows per numbers table (the raw JSON has the rest)


def number(x: Any, reason: str | None = None) -> str:
    """One number, rounded to 4 significant digits; `None` shows its non-finite reason."""
    if x is None:
        return reason or "—"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        if not math.isfinite(x):
            return str(x)
        return f"{x:.4g}".replace("e-0", "e-").replace("e+0", "e").replace("e+", "e")
    return str(x)


def _unit(key: str) -> str:
    k = key.lower()
    if k.endswith("_ms"):
        return " ms"
    if k.endswith("_s") or k.endswith("seconds"):
        return " s"
    if k.endswith("_pct") or "percent" in k:
        return " %"
    return ""


def _numeric(values: list) -> np.ndarray | None:
    try:
        arr = np.asarray([np.nan if v is None else v for v in values], np.float64)
    except (TypeError, ValueError):
        return None
    return arr


def _list_text(values: list, key: str) -> str:
    arr = _numeric(values)
    if arr is None or arr.ndim == 0:
        if all(isinstance(v, str) for v in values) and len(values) <= _SHORT:
            return ", ".join(values)
        return f"{len(values)} entries"
    unit = _unit(key)
    if arr.ndim > 1:
        shape = "×".join(map(str, arr.shape))
        return f"{shape} array, {number(float(np.nanmin(arr)))} … {number(float(np.nanmax(arr)))}"
    if "seed" in key.lower() and arr.size > 1 and np.isfinite(arr).all():
        return f"{number(float(arr.mean()))} ± {number(float(arr.std()))}{unit} (n = {arr.size})"
    cells = [number(v) for v in values]
    if len(values) <= _SHORT:
        return ", ".join(cells) + unit
    finite = arr[np.isfinite(arr)]
    span = (
        f" ({number(float(finite.min()))} … {number(float(finite.max()))})" if finite.size else ""
    )
    return f"{len(values)} values: {cells[0]}, {cells[1]} … {cells[-1]}{unit}{span}"


def value_html(value: Any, key: str = "", reason: str | None = None) -> str:
    """`value` (any JSON) as short, escaped HTML text."""
    if isinstance(value, Mapping):
        if set(value) == {"npz", "key", "shape", "dtype"}:
            return html.escape(f"array {value['shape']} in {value['npz']}")
        rows = _rows(value, "")
        inner = "".join(f"<tr><td>{html.escape(k)}</td><td>{v}</td></tr>" for k, v in rows)
        return f"<table class='inner'>{inner}</table>"
    if isinstance(value, list):
        return html.escape(_list_text(value, key))
    if isinstance(value, str):
        return html.escape(value)
    return html.escape(number(value, reason) + ("" if value is None else _unit(key)))


def _rows(tree: Mapping, prefix: str) -> list[tuple[str, str]]:
    """Flatten `tree` to `(dotted key, html)` rows, merging `X_mean`/`X_std` pairs."""
    rows: list[tuple[str, str]] = []
    keys = list(tree)
    for key in keys:
        value = tree[key]
        if key.endswith("_nonfinite") or (key.endswith("_std") and key[:-4] + "_mean" in tree):
            continue
        name = f"{prefix}{key}"
        if key.endswith("_mean") and key[:-5] + "_std" in tree:
            std = tree[key[:-5] + "_std"]
            text = f"{number(value)} ± {number(std)}{_unit(key[:-5])}"
            rows.append((name[:-5], html.escape(text)))
        elif isinstance(value, Mapping) and set(value) != {"npz", "key", "shape", "dtype"}:
            rows.extend(_rows(value, f"{name}."))
        else:
            rows.append((name, value_html(value, key, tree.get(f"{key}_nonfinite"))))
    return rows


def numbers_table(numbers: Mapping[str, Any]) -> str:
    """The `numbers` block of a metrics file as a two-column HTML table (first `_ROWS` rows)."""
    rows = _rows(numbers, "")
    more = len(rows) - _ROWS
    body = "".join(f"<tr><td>{html.escape(k)}</td><td>{v}</td></tr>" for k, v in rows[:_ROWS])
    if more > 0:
        body += f"<tr><td colspan='2'>… {more} more in the raw JSON</td></tr>"
    return f"<div class='scroll'><table class='numbers'>{body}</table></div>"
