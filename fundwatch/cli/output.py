"""Rows out as a table, JSON or CSV. JSON and CSV carry every key; the table a chosen few."""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Iterable, Sequence

import click

FORMATS = ("table", "json", "csv")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str], widths: dict[str, int] | None = None) -> str:
    widths = widths or {}
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    for row in cells:
        for i, c in enumerate(columns):
            limit = widths.get(c)
            if limit and len(row[i]) > limit:
                row[i] = row[i][: limit - 1] + "…"
    sizes = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(sizes[i]) for i, c in enumerate(columns)).rstrip()]
    lines += ["  ".join(r[i].ljust(sizes[i]) for i in range(len(columns))).rstrip() for r in cells]
    return "\n".join(lines)


def emit(rows: Iterable[dict[str, Any]], fmt: str, columns: Sequence[str], keys: Sequence[str] | None = None,
         widths: dict[str, int] | None = None) -> None:
    rows = list(rows)
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(keys or (rows[0].keys() if rows else columns)), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(v) for k, v in row.items()})
        click.echo(buf.getvalue(), nl=False)
    elif not rows:
        click.echo("(none)")
    else:
        click.echo(table(rows, columns, widths))


def format_option(choices: Sequence[str] = FORMATS, default: str = "table"):
    return click.option("--format", "fmt", type=click.Choice(list(choices)), default=default, show_default=True,
                        help="Output format.")
