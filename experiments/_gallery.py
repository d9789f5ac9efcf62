"""`DIR/index.html`: every experiment's figures, claim, checks and verdict on one page."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from jaxnn.results import write_text

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
section { border-top: 1px solid #ccc; padding: 1em 0; }
.ok { color: #1a7f37; font-weight: bold; } .bad { color: #cf222e; font-weight: bold; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.3em 0; }
table { border-collapse: collapse; font-size: 0.9em; }
td, th { border: 1px solid #ddd; padding: 0.2em 0.6em; text-align: left; vertical-align: top; }
details pre { font-size: 0.8em; background: #f6f8fa; padding: 0.5em; overflow-x: auto; }
"""


def _section(m: dict[str, Any]) -> str:
    e = html.escape
    verdict = (
        '<span class="ok">claim holds</span>'
        if m["claim_holds"]
        else ('<span class="bad">claim does not hold</span>')
    )
    rows = "".join(
        f"<tr><td>{'✔' if c['holds'] else '✘'}</td><td>{e(c['name'])}</td>"
        f"<td>{e(json.dumps(c['value']))}</td><td>{e(c.get('detail', ''))}</td></tr>"
        for c in m["checks"]
    )
    figs = "".join(
        f'<img src="{e(m["name"])}/{e(f)}" alt="{e(m["name"])} {e(f)}">' for f in m["figures"]
    )
    numbers = e(json.dumps(m["numbers"], indent=1)[:20000])
    return (
        f'<section id="{e(m["name"])}"><h2>{e(m["name"])}</h2>'
        f"<p>{e(m['claim'])} — {verdict} ({m['seconds']:.1f} s)</p>{figs}"
        f"<table><tr><th></th><th>check</th><th>value</th><th>detail</th></tr>{rows}</table>"
        f"<details><summary>all numbers</summary><pre>{numbers}</pre></details></section>"
    )


def write_gallery(out_dir: str | Path, results: list[dict[str, Any]]) -> Path:
    """Write `out_dir/index.html` for `results` (metrics dicts) and return its path."""
    held = sum(m["claim_holds"] for m in results)
    toc = " · ".join(
        f'<a href="#{html.escape(m["name"])}">{html.escape(m["name"])}</a>' for m in results
    )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>jaxnn experiments</title>"
        f"<style>{_STYLE}</style></head><body><h1>jaxnn experiments</h1>"
        f"<p>{held} of {len(results)} claims hold.</p><p>{toc}</p>"
        + "".join(_section(m) for m in results)
        + "</body></html>\n"
    )
    return write_text(Path(out_dir) / "index.html", page)
