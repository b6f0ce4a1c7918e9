"""HTML fragments every section is built from: escaped text, numbers as people read them, tables, JSON."""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from typing import Any


def esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def num(x: Any) -> str:
    """Thousands separators, whole floats without decimals, three significant digits otherwise."""
    if x is None:
        return "–"
    if isinstance(x, bool):
        return str(x).lower()
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        if not math.isfinite(x):
            return str(x)
        if x == int(x) and abs(x) < 1e15:
            return f"{int(x):,}"
        if abs(x) >= 1000:
            return f"{x:,.0f}"
        return f"{x:.3g}"
    return str(x)


def docs_label(n: int | None) -> str:
    return "? documents" if n is None else f"{num(n)} document{'' if n == 1 else 's'}"


def pct(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "–"


def html_table(headers: list[str], rows: list[list[Any]], cls: str = "", numeric_from: int = 1) -> str:
    """An HTML table; cells are escaped unless wrapped in `Raw`. Columns from `numeric_from` align right."""
    head = "".join(f'<th class="{"n" if i >= numeric_from else ""}">{esc(h)}</th>' for i, h in enumerate(headers))
    thead = f"<thead><tr>{head}</tr></thead>" if any(headers) else ""
    body = []
    for r in rows:
        cells = []
        for i, v in enumerate(r):
            content = v.html if isinstance(v, Raw) else esc(num(v) if isinstance(v, int | float) else v)
            cells.append(f'<td class="{"n" if i >= numeric_from else ""}">{content}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="{cls}">{thead}<tbody>{"".join(body)}</tbody></table>'


@dataclass(frozen=True)
class Raw:
    """Markup a table cell takes as is (everything else is escaped)."""

    html: str


def empty_note(msg: str) -> str:
    return f'<p class="empty">{esc(msg)}</p>'


@dataclass
class Section:
    """One `<section>` of the page; `id` is its anchor and the key tests and the browser check look for."""

    id: str
    title: str
    body: str


def _flatten(record: dict[str, Any]) -> dict[str, Any]:
    """One level of nested dicts of scalars becomes dotted columns (difficulty.min, by_source.real)."""
    out: dict[str, Any] = {}
    for k, v in record.items():
        if isinstance(v, dict) and v and not any(isinstance(x, dict | list) for x in v.values()):
            out.update({f"{k}.{sub}": x for sub, x in v.items()})
        else:
            out[k] = v
    return out


def records_table(records: list[dict[str, Any]]) -> str:
    records = [_flatten(r) for r in records]
    cols: list[str] = []
    for r in records:
        for k in r:
            if k not in cols:
                cols.append(k)
    first = [c for c in ("phase", "name", "id", "docs", "share", "chars") if c in cols]
    cols = first + [c for c in cols if c not in first]
    rows = [[Raw(_cell(r.get(c))) for c in cols] for r in records]
    return html_table(cols, rows, numeric_from=len(cols) + 1)


def _cell(v: Any) -> str:
    if isinstance(v, dict | list):
        return f"<code>{esc(json.dumps(v, ensure_ascii=False, sort_keys=True)[:300])}</code>"
    return esc(num(v) if isinstance(v, int | float) or v is None else v)


def render_json(value: Any, depth: int = 0) -> str:
    """Any JSON value as HTML: dicts as key/value tables, lists of dicts as tables, the rest inline."""
    if isinstance(value, dict):
        if not value:
            return empty_note("(empty)")
        rows = [
            [k, Raw(render_json(v, depth + 1) if isinstance(v, dict | list) and depth < 2 else _cell(v))]
            for k, v in value.items()
        ]
        return html_table(["key", "value"], rows, "kv", numeric_from=9)
    if isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
        return records_table(value)
    if value is None:
        return empty_note("(none)")
    return _cell(value)
