"""The read side: items as shown (status and next deadline derived when read), history, runs.
Shared by the CLI and the digest so both say the same thing. JSON shapes here are a public
interface (README: "JSON output"): change them only with a version note."""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterable

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, defer

from fundwatch.storage.changes import text_value
from fundwatch.storage.models import Change, ChangeField, Item, Run, SourceRow
from fundwatch.storage.reasons import reason_en, reason_sv
from fundwatch.storage.shown import (  # noqa: F401 - re-exported: the read side's one module for callers
    CALL_KEYS,
    call_json,
    effective_status,
    iso,
    item_closes_at,
    now_local,
    parse_rule,
    reaches,
    shown_deadline,
)
from fundwatch.storage.spool import pending_apply

HISTORY_KEYS = ("id", "detected_at", "run_id", "item_id", "agency", "kind", "title", "change", "fields", "diff")
RUN_KEYS = ("id", "source", "agency", "started_at", "finished_at", "status", "pages", "items", "errors", "reason")

AWAITS_APPLY = "the crawl finished while the database did not answer; it is applied by the next crawl"


def list_items(session: Session, *, agency: str | None = None, kind: str | None = None,
               include_removed: bool = False, region: str | None = None, form: str | None = None) -> list[Item]:
    """Items as listed; REGION keeps that region's calls and the national ones (no region); FORM
    keeps the calls open to that organisation form and those that do not say who may apply."""
    query = select(Item).order_by(Item.agency, Item.kind, Item.id)
    if agency:
        query = query.where(Item.agency == agency)
    if kind:
        query = query.where(Item.kind == kind)
    if region:
        query = query.where(or_(Item.region.is_(None), Item.region == region))
    if not include_removed:
        query = query.where(Item.status != "removed")
    items = list(session.scalars(query))
    if form:  # a JSON list: filtered here the same way on SQLite and PostgreSQL
        items = [i for i in items if reaches(i.eligibility, i.region, [form])]
    return items


def change_fields_json(change: Change) -> dict[str, list[Any]]:
    return {f.field: [text_value(f.field, f.old_value), text_value(f.field, f.new_value)] for f in change.fields}


def history_json(change: Change, item: Item) -> dict[str, Any]:
    return {
        "id": change.id, "detected_at": iso(change.detected_at), "run_id": change.run_id,
        "item_id": change.item_id, "agency": item.agency, "kind": item.kind, "title": item.title,
        "change": change.change, "fields": change_fields_json(change), "diff": change.diff,
    }


def list_changes(session: Session, *, since: dt.datetime | None = None, agency: str | None = None,
                 item_id: str | None = None, after_id: int | None = None, before_id: int | None = None,
                 ids: Iterable[int] | None = None,
                 newest_first: bool = False, limit: int | None = None) -> list[tuple[Change, Item]]:
    """Changes with their items, oldest first (the CLI's order) or newest first (the web's change
    log); `after_id`/`before_id` are the cursors, `ids` the changes the web's filters chose."""
    # An item's text (a watched page's can be long) is not part of a change's JSON or the web's
    # change lists: loaded only if something asks for it.
    query = select(Change, Item).join(Item, Item.id == Change.item_id).options(defer(Item.text))
    query = query.order_by(Change.id.desc() if newest_first else Change.id)
    if since:
        query = query.where(Change.detected_at >= since)
    if agency:
        query = query.where(Item.agency == agency)
    if item_id:
        query = query.where(Change.item_id == item_id)
    if ids is not None:
        query = query.where(Change.id.in_(list(ids)))
    if after_id is not None:
        query = query.where(Change.id > after_id)
    if before_id is not None:
        query = query.where(Change.id < before_id)
    if limit:
        query = query.limit(limit)
    return [(c, i) for c, i in session.execute(query)]


def run_json(run: Run, agency: str) -> dict[str, Any]:
    reason = reason_en(run.reason_code, run.reason_params) or None
    if run.status == "running" and pending_apply(run.id) is not None:  # its crawl ended; the database was away
        reason = AWAITS_APPLY
    return {
        "id": run.id, "source": run.source_id, "agency": agency, "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at), "status": run.status, "pages": run.pages, "items": run.items,
        "errors": run.errors, "reason": reason,
    }


def list_runs(session: Session, *, source: str | None = None, limit: int | None = None,
              before_id: int | None = None) -> list[tuple[Run, str]]:
    query = select(Run, SourceRow.agency).join(SourceRow, SourceRow.id == Run.source_id).order_by(Run.id.desc())
    if source:
        query = query.where(Run.source_id == source)
    if before_id is not None:
        query = query.where(Run.id < before_id)
    if limit:
        query = query.limit(limit)
    return [(r, a) for r, a in session.execute(query)]


def last_runs(session: Session) -> dict[str, Run]:
    """The newest finished-or-running run of each source."""
    newest = select(func.max(Run.id)).group_by(Run.source_id)
    return {run.source_id: run for run in session.scalars(select(Run).where(Run.id.in_(newest)))}


def data_version(session: Session) -> tuple[int, int, int, dt.datetime | None]:
    """What everything shown depends on besides the date: the newest change id, the newest run id,
    the newest finished run id (a run's status and the items' last_seen change when it finishes)
    and the time of the newest of those events."""
    newest = lambda column: select(func.max(column)).scalar_subquery()  # noqa: E731
    row = session.execute(select(
        newest(Change.id), newest(Change.detected_at), newest(Run.id),
        select(func.max(Run.id)).where(Run.finished_at.is_not(None)).scalar_subquery(),
        newest(Run.started_at), newest(Run.finished_at),
    )).one()
    change_id, detected, run_id, finished_id, started, finished = row
    return change_id or 0, run_id or 0, finished_id or 0, max((s for s in (detected, started, finished) if s), default=None)


def change_index(session: Session) -> list[tuple[int, str]]:
    """(change id, item id) of every change, newest first."""
    return [(c, i) for c, i in session.execute(select(Change.id, Change.item_id).order_by(Change.id.desc()))]


def deadline_moves(session: Session) -> dict[str, int]:
    """How many times each item's deadline has changed (a calendar event's SEQUENCE)."""
    query = (select(Change.item_id, func.count()).join(ChangeField, ChangeField.change_id == Change.id)
             .where(ChangeField.field == "deadline").group_by(Change.item_id))
    return dict(session.execute(query).all())
def last_healthy_start(session: Session, source_id: str) -> dt.datetime | None:
    """When the source's newest ok run started (None: it never had one)."""
    return session.scalar(select(func.max(Run.started_at)).where(Run.source_id == source_id, Run.status == "ok"))


def run_reason_sv(run: Run) -> str:
    return reason_sv(run.reason_code, run.reason_params)


def stored_content(session: Session, item_id: str) -> tuple[str, str] | None:
    """The title and text an item had when last seen (a removed one's too), or None for a new one."""
    row = session.execute(select(Item.title, Item.text).where(Item.id == item_id)).first()
    return (row[0] or "", row[1] or "") if row else None
