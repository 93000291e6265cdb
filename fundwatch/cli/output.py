"""Rows out as a table, JSON or CSV (JSON and CSV carry every key; the table a chosen few), and the
small pieces the command declarations share. Light on purpose: every command's --help imports it."""

from __future__ import annotations

import csv
import importlib
import io
import json
import shutil
from typing import Any, Iterable, Sequence

import click

FORMATS = ("table", "json", "csv")


def plain(value: Any) -> str:
    """A value as a person reads it: yes/no, a list as 'a, b', nothing as ''."""
    if isinstance(value, list):
        return ", ".join(map(plain, value))
    return _cell(value)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


GAP = 2
MIN_SHRUNK = 8  # a shortened column keeps at least this many characters


def terminal_width() -> int:
    """COLUMNS, else the terminal's width, else 100 (output to a file or a pipe)."""
    return shutil.get_terminal_size((100, 24)).columns


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str], widths: dict[str, int] | None = None,
          shrink: Sequence[str] = (), width: int | None = None) -> str:
    """Rows as aligned columns, a line each. When the lines are wider than WIDTH (default: the
    terminal's), the SHRINK columns are shortened in that order (with …), never wrapped."""
    widths = widths or {}
    cells = [[" ".join(_cell(row.get(c)).split()) for c in columns] for row in rows]
    sizes = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    for i, c in enumerate(columns):
        if widths.get(c):
            sizes[i] = min(sizes[i], max(widths[c], len(c)))
    over = sum(sizes) + GAP * (len(columns) - 1) - (width or terminal_width())
    for name in shrink:
        if over <= 0:
            break
        i = columns.index(name)
        cut = min(over, sizes[i] - max(MIN_SHRUNK, len(name)))
        if cut > 0:
            sizes[i] -= cut
            over -= cut
    for row in cells:
        for i in range(len(columns)):
            if len(row[i]) > sizes[i]:
                row[i] = row[i][: sizes[i] - 1] + "…"
    lines = [(" " * GAP).join(c.upper().ljust(sizes[i]) for i, c in enumerate(columns)).rstrip()]
    lines += [(" " * GAP).join(r[i].ljust(sizes[i]) for i in range(len(columns))).rstrip() for r in cells]
    return "\n".join(lines)


def emit(rows: Iterable[dict[str, Any]], fmt: str, columns: Sequence[str], keys: Sequence[str] | None = None,
         widths: dict[str, int] | None = None, shrink: Sequence[str] = ()) -> None:
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
        click.echo(table(rows, columns, widths, shrink))


def format_option(choices: Sequence[str] = FORMATS, default: str = "table"):
    return click.option("--format", "fmt", type=click.Choice(list(choices)), default=default, show_default=True,
                        help="Output format.")


sources_option = click.option("--sources", "sources_file", type=click.Path(dir_okay=False),
                              help="Sources file (default: $FUNDWATCH_SOURCES or the shipped sources.toml).")


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def shorten(value, limit: int = 30) -> str:
    text = "∅" if value is None else str(value).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def implemented_in(target: str, **options):
    """Run the body of a command ("module:function") with its options. A command module declares
    options and help only, and its body's module (with SQLAlchemy under it) is imported here, when
    the command runs: `COMMAND --help` then answers without it. Like the command table in
    fundwatch.cli, a lazy import on purpose."""
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)(**options)
