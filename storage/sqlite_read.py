"""`fundwatch calls` on SQLite without SQLAlchemy: the items read with the standard library's sqlite3
and shown by storage.shown, the functions every other reader uses. Importing SQLAlchemy (and the
models) is most of a read command's start-up (bench/README.md, "CLI start-up"); a person listing
calls at a terminal should not wait for it. Anything this path does not handle (PostgreSQL, a URL
with options, a missing file, a database behind the newest migration, a database error) answers
None, and the caller takes the usual path, which migrates or explains."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fundwatch.storage.schema import SCHEMA_HEAD, SQLITE_BUSY_SECONDS
from fundwatch.storage.shown import reaches

PREFIX = "sqlite:///"


@dataclass(frozen=True)
class ItemRow:
    """An item's columns as storage.shown reads them (the attributes of storage.models.Item)."""

    id: str
    agency: str
    kind: str
    title: str
    url: str
    opens: dt.date | None
    deadline: dt.date | None
    deadline_text: str | None
    deadline_rule: str | None
    published: dt.date | None
    amount_text: str | None
    amount_sek: int | None
    competitive: bool | None
    status: str
    details: dict[str, Any]
    first_seen: dt.datetime | None
    last_seen: dt.datetime | None
    deadline_time: str | None
    eligibility: list[str] | None
    region: str | None


COLUMNS = ", ".join(ItemRow.__dataclass_fields__)


def database_path(url: str) -> Path | None:
    """The file of a plain `sqlite:///PATH` URL that exists; None for anything else."""
    if not url.startswith(PREFIX) or "?" in url or "%" in url:
        return None
    path = Path(url[len(PREFIX):])
    return path if path.name and path.is_file() else None


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _utc(value: str | None) -> dt.datetime | None:
    # storage.models.UTCDateTime keeps UTC without an offset on SQLite
    return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC) if value else None


def _json(value: str | None) -> Any:
    return json.loads(value) if value else None


def _row(r: tuple) -> ItemRow:
    (id_, agency, kind, title, url, opens, deadline, deadline_text, deadline_rule, published, amount_text,
     amount_sek, competitive, status, details, first_seen, last_seen, deadline_time, eligibility, region) = r
    return ItemRow(id_, agency, kind, title, url, _date(opens), _date(deadline), deadline_text, deadline_rule,
                   _date(published), amount_text, amount_sek, None if competitive is None else bool(competitive),
                   status, _json(details) or {}, _utc(first_seen), _utc(last_seen), deadline_time,
                   _json(eligibility), region)


def list_items(url: str, *, agency: str | None = None, kind: str | None = None, include_removed: bool = False,
               region: str | None = None, form: str | None = None,
               with_ids: bool = True) -> tuple[list[ItemRow], list[str]] | None:
    """(the items storage.queries.list_items lists for these filters, in its order; every item id,
    or none without WITH_IDS), or None when this path cannot answer (see the module's docstring)."""
    path = database_path(url)
    if path is None:
        return None
    where, params = [], []
    if agency:
        where.append("agency = ?")
        params.append(agency)
    if kind:
        where.append("kind = ?")
        params.append(kind)
    if region:
        where.append("(region IS NULL OR region = ?)")
        params.append(region)
    if not include_removed:
        where.append("status <> 'removed'")
    query = f"SELECT {COLUMNS} FROM items {'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY agency, kind, id"
    try:
        conn = sqlite3.connect(path, timeout=SQLITE_BUSY_SECONDS)
        try:
            revision = conn.execute("SELECT version_num FROM alembic_version").fetchall()
            if revision != [(SCHEMA_HEAD,)]:
                return None
            rows = [_row(r) for r in conn.execute(query, params)]
            ids = [i for (i,) in conn.execute("SELECT id FROM items")] if with_ids else []
        finally:
            conn.close()
    except (sqlite3.Error, ValueError):  # not ours to explain: the usual path says it in one line
        return None
    if form:
        rows = [r for r in rows if reaches(r.eligibility, r.region, [form])]
    return rows, ids
