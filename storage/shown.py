"""Items as shown: status, next deadline and JSON derived when read, from an item's columns
alone. No SQLAlchemy here: `fundwatch calls` on SQLite reads rows with sqlite3 and shows them with
these same functions (storage/sqlite_read.py), so the CLI's quick path and every other reader agree."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Iterable

from fundwatch import config
from fundwatch.swedish import closes_at, next_rule_date, parse_date

if TYPE_CHECKING:  # any object with an Item's columns as attributes will do (sqlite_read's rows)
    from fundwatch.storage.models import Item

CALL_KEYS = ("id", "agency", "kind", "title", "url", "opens", "deadline", "deadline_text", "published",
             "amount_text", "amount_sek", "competitive", "status", "details", "first_seen", "last_seen",
             "deadline_time", "eligibility", "region")


def now_local() -> dt.datetime:
    return dt.datetime.now(config.timezone())


def iso(ts: dt.datetime | None) -> str | None:
    """Timestamps in JSON: ISO 8601 in UTC."""
    return ts.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if ts else None


def day(d: dt.date | None) -> str | None:
    return d.isoformat() if d else None


def parse_rule(rule: str | None) -> list[tuple[int, int]]:
    """"04-01,10-01" -> [(4, 1), (10, 1)]."""
    if not rule:
        return []
    return [(int(m), int(d)) for m, d in (part.split("-") for part in rule.split(",") if part)]


def shown_deadline(item: Item, today: dt.date) -> dt.date | None:
    """The deadline as shown: a standing grant's next date by its rule, computed when read, so the
    calendar passing a date is never a change."""
    rule = parse_rule(item.deadline_rule)
    return next_rule_date(rule, today) if rule else item.deadline


def item_closes_at(item: Item, deadline: dt.date) -> dt.datetime:
    """DEADLINE at the item's deadline time, else the time its deadline text gives, if any."""
    if item.deadline_time:
        return closes_at(deadline, dt.time.fromisoformat(item.deadline_time))
    return closes_at(deadline, parse_date(item.deadline_text).time if item.deadline_text else None)


def effective_status(item: Item, now: dt.datetime | None = None) -> str:
    # "closed" stored means the source said so (a status word, an API's not-public mark): dates do not reopen it
    if item.status in ("removed", "planned", "closed"):
        return item.status
    now = now or now_local()
    today = now.date()
    deadline = shown_deadline(item, today)
    if deadline and item_closes_at(item, deadline) < now:
        return "closed"
    if item.opens and item.opens > today:
        return "upcoming"
    if deadline or item.opens or item.deadline_rule:
        return "open"
    return item.status


def call_json(item: Item, now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or now_local()
    return {
        "id": item.id, "agency": item.agency, "kind": item.kind, "title": item.title, "url": item.url,
        "opens": day(item.opens), "deadline": day(shown_deadline(item, now.date())),
        "deadline_text": item.deadline_text, "published": day(item.published),
        "amount_text": item.amount_text, "amount_sek": item.amount_sek, "competitive": item.competitive,
        "status": effective_status(item, now), "details": dict(item.details or {}),
        "first_seen": iso(item.first_seen), "last_seen": iso(item.last_seen),
        "deadline_time": item.deadline_time, "eligibility": list(item.eligibility or []), "region": item.region,
    }


def reaches(eligibility: Iterable[str] | None, region: str | None, forms: Iterable[str] = (),
            regions: Iterable[str] = ()) -> bool:
    """Whether a call with these ELIGIBILITY forms and REGION is for an organisation of one of
    FORMS in one of REGIONS (empty: any). A call that does not say who may apply reaches every
    form; a national call (no region) reaches every region. The CLI's --form/--region, the web's
    and the API's filters and subscribers' filters all ask this."""
    forms, regions = set(forms), set(regions)
    if forms and eligibility and not forms & set(eligibility):
        return False
    return not regions or region is None or region in regions
