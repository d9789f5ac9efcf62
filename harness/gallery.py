"""`DIR/index.html`: failures first, then every experiment's figures, claim, checks and numbers.

The page, top to bottom: how many claims hold; the failed checks, each with
its experiment, value and threshold; a summary table (experiment, ✔/✘,
runtime, claim); then one section per experiment with its figures, its checks
(failed first) and its numbers as a short rounded table, and a link to the
raw `metrics.json`. The navigation bar marks every experiment ✔ or ✘. An
experiment that raised instead of finishing is shown as ✘ with the error.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.render import numbers_table, value_html
from jaxnn.results import read_json, write_text

__all__ = ["collect", "write_gallery"]

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 0 auto; padding: 0 1em;
       color: #222; line-height: 1.4; }
nav { position: sticky; top: 0; background: #fff; border-bottom: 1px solid #ccc; padding: .4em 0;
      display: flex; flex-wrap: wrap; gap: .2em .8em; font-size: .85em; z-index: 1; }
nav a { text-decoration: none; white-space: nowrap; }
section { border-top: 1px solid #ccc; padding: 1em 0; scroll-margin-top: 5em; }
.ok { color: #1a7f37; font-weight: bold; } .bad { color: #cf222e; font-weight: bold; }
.failed { background: #fff5f5; border: 1px solid #f5c2c2; padding: .5em 1em; border-radius: 6px; }
img { max-width: 100%; height: auto; border: 1px solid #eee; margin: .3em 0; }
table { border-collapse: collapse; font-size: .9em; margin: .4em 0; }
td, th { border: 1px solid #ddd; padding: .2em .6em; text-align: left; vertical-align: top; }
table.inner td { border: none; padding: 0 .4em 0 0; }
tr.fail td { background: #fff0f0; }
.scroll { overflow-x: auto; max-width: 100%; }
td.claim { max-width: 40em; }
pre.error { background: #fff0f0; padding: .5em; overflow-x: auto; font-size: .8em; }
@media (max-width: 640px) {  /* phones: one block per row, the long text on its own line */
  table.stack, table.stack > tbody, table.stack > tbody > tr { display: block; }
  table.stack > tbody > tr:first-child { display: none; }
  table.stack > tbody > tr { border-bottom: 1px solid #ddd; padding: .3em 0; }
  table.stack > tbody > tr > td { display: inline-block; border: none; padding: .1em .3em; }
  table.stack > tbody > tr > td.claim, table.stack > tbody > tr > td.wide {
    display: block; font-size: .9em; color: #444; }
}
"""


def _mark(ok: bool) -> str:
    return '<span class="ok">✔</span>' if ok else '<span class="bad">✘</span>'


def _checks(m: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(m.get("checks", []), key=lambda c: bool(c["holds"]))


def _check_rows(m: dict[str, Any], with_name: bool) -> str:
    rows = []
    for c in _checks(m):
        cls = "" if c["holds"] else " class='fail'"
        who = f"<td><a href='#{html.escape(m['name'])}'>{html.escape(m['name'])}</a></td>"
        value = value_html(c["value"], c["name"], c.get("value_nonfinite"))
        rows.append(
            f"<tr{cls}>{who if with_name else ''}<td>{_mark(c['holds'])}</td>"
            f"<td>{html.escape(c['name'])}</td><td class='wide'>{value}</td>"
            f"<td class='wide'>{html.escape(c.get('detail', ''))}</td></tr>"
        )
    return "".join(rows)


def _failed_block(results: Sequence[dict[str, Any]]) -> str:
    failing = [m for m in results if not m["claim_holds"]]
    if not failing:
        return ""
    rows = "".join(
        _check_rows({**m, "checks": [c for c in m.get("checks", []) if not c["holds"]]}, True)
        for m in failing
    )
    errors = "".join(
        f"<p>{_mark(False)} <a href='#{html.escape(m['name'])}'>{html.escape(m['name'])}</a> "
        f"raised: <code>{html.escape(m['error'].splitlines()[-1])}</code></p>"
        for m in failing
        if m.get("error")
    )
    table = (
        "<div class='scroll'><table class='stack'><tr><th>experiment</th><th></th><th>check</th>"
        f"<th>value</th><th>threshold / detail</th></tr>{rows}</table></div>"
        if rows
        else ""
    )
    return f"<div class='failed' id='failed'><h2>Failed checks</h2>{errors}{table}</div>"


def _summary_table(results: Sequence[dict[str, Any]]) -> str:
    rows = "".join(
        f"<tr{'' if m['claim_holds'] else ' class=fail'}><td><a href='#{html.escape(m['name'])}'>"
        f"{html.escape(m['name'])}</a></td><td>{_mark(m['claim_holds'])}</td>"
        f"<td>{m.get('seconds', 0):.1f} s</td><td class='claim'>{html.escape(m['claim'])}</td></tr>"
        for m in results
    )
    return (
        "<div class='scroll'><table class='stack'><tr><th>experiment</th><th>holds</th>"
        "<th>runtime</th>"
        f"<th>claim</th></tr>{rows}</table></div>"
    )


def _section(m: dict[str, Any]) -> str:
    e, name = html.escape, m["name"]
    verdict = "claim holds" if m["claim_holds"] else "claim does not hold"
    figs = "".join(
        f'<img src="{e(name)}/{e(f)}" alt="{e(name)}: {e(f)}" loading="lazy">'
        for f in m.get("figures", [])
    )
    error = f"<pre class='error'>{e(m['error'])}</pre>" if m.get("error") else ""
    checks = (
        "<div class='scroll'><table class='stack'><tr><th></th><th>check</th><th>value</th>"
        f"<th>threshold / detail</th></tr>{_check_rows(m, False)}</table></div>"
        if m.get("checks")
        else ""
    )
    numbers = numbers_table(m["numbers"]) if m.get("numbers") else ""
    return (
        f'<section id="{e(name)}"><h2>{_mark(m["claim_holds"])} {e(name)}</h2>'
        f"<p>{e(m['claim'])}</p><p>{_mark(m['claim_holds'])} {verdict} "
        f"({m.get('seconds', 0):.1f} s) · <a href='{e(name)}/metrics.json'>raw JSON</a></p>"
        f"{error}{figs}{checks}<details><summary>numbers</summary>{numbers}</details></section>"
    )


def write_gallery(
    out_dir: str | Path, results: Sequence[dict[str, Any]], *, title: str = "jaxnn experiments"
) -> Path:
    """Write `out_dir/index.html` for `results` (metrics dicts, in page order); return its path."""
    held = sum(bool(m["claim_holds"]) for m in results)
    failing = [m["name"] for m in results if not m["claim_holds"]]
    nav = "".join(
        f"<a href='#{html.escape(n)}'>{_mark(m['claim_holds'])} {html.escape(n)}</a>"
        for m in results
        for n in [m["name"]]
    )
    headline = f"{held} of {len(results)} claims hold."
    if failing:
        headline += " Failing: " + ", ".join(
            f"<a href='#{html.escape(n)}'>{html.escape(n)}</a>" for n in failing
        )
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><nav>{nav}</nav><p>{headline}</p>"
        f"{_failed_block(results)}{_summary_table(results)}"
        + "".join(_section(m) for m in results)
        + "</body></html>\n"
    )
    return write_text(Path(out_dir) / "index.html", page)


def collect(out_dir: str | Path, order: Sequence[str]) -> list[dict[str, Any]]:
    """The metrics files under `out_dir`, in `order` first, then any others by name."""
    out_dir = Path(out_dir)
    found = {p.parent.name: p for p in out_dir.glob("*/metrics.json")}
    names = [n for n in order if n in found] + sorted(set(found) - set(order))
    return [read_json(found[n]) for n in names]
