"""Cheap to serve: every public page, feed and API answer depends only on the data version (newest
change id, newest run id, newest finished run id) and today's date. That pair is the ETag and the
Last-Modified of every answer, a conditional request is answered 304 before anything is rendered,
and the list of calls (statuses and next deadlines computed when read, keyword haystacks folded)
is built once per version instead of once per request."""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import threading
from dataclasses import dataclass, field
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any, Callable

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from fundwatch import __version__
from fundwatch.storage.models import Item
from fundwatch.storage.queries import (
    change_index,
    data_version,
    deadline_moves,
    effective_status,
    item_closes_at,
    now_local,
    reaches,
    shown_deadline,
)
from fundwatch.swedish import fold_case

MATCHES_KEPT = 256
# Columns the list needs; the full rows (every field, versions) are read only for one call's page.
_COLUMNS = (Item.id, Item.agency, Item.kind, Item.title, Item.status, Item.opens, Item.deadline, Item.deadline_text,
            Item.deadline_rule, Item.amount_text, Item.amount_sek, Item.competitive, Item.text, Item.removed_at,
            Item.last_seen, Item.deadline_time, Item.eligibility, Item.region)


@dataclass(frozen=True)
class Version:
    change_id: int
    run_id: int
    finished_run_id: int
    today: dt.date
    modified: dt.datetime  # newest event, or the start of today when the date is newer

    @property
    def etag(self) -> str:
        return f'"{__version__}-{self.change_id}-{self.run_id}-{self.finished_run_id}-{self.today.isoformat()}"'

    @property
    def last_modified(self) -> str:
        return format_datetime(self.modified.astimezone(dt.UTC).replace(microsecond=0), usegmt=True)

    def not_modified(self, request: Request) -> bool:
        """RFC 9110: If-None-Match wins; If-Modified-Since only without it."""
        tags = request.headers.get("if-none-match")
        if tags is not None:
            wanted = {t.strip().removeprefix("W/") for t in tags.split(",")}
            return "*" in wanted or self.etag in wanted
        since = request.headers.get("if-modified-since")
        if since:
            try:
                return self.modified.replace(microsecond=0) <= parsedate_to_datetime(since)
            except (TypeError, ValueError):
                return False
        return False

    def headers(self) -> dict[str, str]:
        # no-cache: a cache may keep the answer but asks again each time (a 304 is cheap).
        return {"ETag": self.etag, "Last-Modified": self.last_modified, "Cache-Control": "no-cache"}

    def stamp(self, response: Response) -> Response:
        response.headers.update(self.headers())
        return response


def current_version(session: Session, now: dt.datetime | None = None) -> Version:
    now = now or now_local()
    change_id, run_id, finished_id, newest = data_version(session)
    midnight = dt.datetime.combine(now.date(), dt.time(), now.tzinfo)
    return Version(change_id, run_id, finished_id, now.date(), max(newest, midnight) if newest else midnight)


@dataclass(frozen=True)
class CallRow:
    """One item as the list, the calendar and the API filters see it."""

    id: str
    agency: str
    kind: str
    title: str
    status: str
    opens: dt.date | None
    deadline: dt.date | None  # as shown: a standing grant's next date by its rule
    closes_at: dt.datetime | None
    deadline_text: str | None
    amount_text: str | None
    amount_sek: int | None
    competitive: bool | None
    haystack: str  # title and text, Swedish case folded: the digest filters' keyword matching
    deadline_moves: int
    stamp: dt.datetime  # when the item was last seen or removed (the calendar's LAST-MODIFIED)
    eligibility: tuple[str, ...] = ()  # organisation forms that may apply; empty: the page does not say
    region: str | None = None  # a county's or ESF+ region's call; None: national

    def sort_key(self) -> tuple:
        return (self.deadline is None, self.deadline or dt.date.min, fold_case(self.title), self.id)


@dataclass(frozen=True)
class Catalog:
    version: Version
    rows: tuple[CallRow, ...]  # nearest deadline first, no deadline last
    # (change id, item id), newest first: the change log filtered by keyword or status picks its
    # page here instead of sending thousands of matching item ids to the database
    changes: tuple[tuple[int, str], ...]
    by_id: tuple[CallRow, ...] = ()  # the API's order
    # Matches per distinct filter, as the digest builder keeps them: a keyword scans every text once
    # per version, not once per request.
    _matches: dict = field(default_factory=dict, compare=False, repr=False)

    def change_ids(self, item_ids: frozenset[str], *, before_id: int | None, limit: int) -> list[int]:
        """The newest `limit` changes of these items below the cursor."""
        start = 0
        if before_id is not None:  # ids descend: skip those at or above the cursor
            start = bisect.bisect_left(self.changes, -before_id + 1, key=lambda c: -c[0])
        out = []
        for change_id, item_id in itertools.islice(self.changes, start, None):
            if item_id in item_ids:
                out.append(change_id)
                if len(out) == limit:
                    break
        return out

    def matching(self, *, agencies=(), kinds=(), statuses=(), keywords=(), forms=(), regions=()) -> tuple[CallRow, ...]:
        """Rows of any of these agencies, kinds and statuses, with any of the keywords, for an
        organisation of one of FORMS in one of REGIONS (storage.shown.reaches, as the CLI, the API
        and subscribers' filters); an empty choice is no condition."""
        words = tuple(sorted({fold_case(w) for w in keywords}))
        key = (frozenset(agencies), frozenset(kinds), frozenset(statuses), words, frozenset(forms), frozenset(regions))
        hit = self._matches.get(key)
        if hit is None:
            agencies, kinds, statuses, _, forms, regions = key
            hit = tuple(r for r in self.rows
                        if (not agencies or r.agency in agencies) and (not kinds or r.kind in kinds)
                        and (not statuses or r.status in statuses) and (not words or any(w in r.haystack for w in words))
                        and reaches(r.eligibility, r.region, forms, regions))
            if len(self._matches) >= MATCHES_KEPT:
                self._matches.clear()
            self._matches[key] = hit
        return hit

    def matching_ids(self, **filters) -> frozenset[str]:
        key = ("ids", tuple(sorted((k, tuple(sorted(v))) for k, v in filters.items())))
        hit = self._matches.get(key)
        if hit is None:
            hit = self._matches[key] = frozenset(r.id for r in self.matching(**filters))
        return hit


def build_catalog(session: Session, version: Version, now: dt.datetime) -> Catalog:
    moves = deadline_moves(session)
    rows = []
    for item in session.execute(select(*_COLUMNS)):
        deadline = shown_deadline(item, now.date())
        rows.append(CallRow(
            id=item.id, agency=item.agency, kind=item.kind, title=" ".join((item.title or "").split()),
            status=effective_status(item, now), opens=item.opens, deadline=deadline,
            closes_at=item_closes_at(item, deadline) if deadline else None, deadline_text=item.deadline_text,
            amount_text=item.amount_text, amount_sek=item.amount_sek, competitive=item.competitive,
            haystack=fold_case(f"{item.title}\n{item.text}"), deadline_moves=moves.get(item.id, 0),
            stamp=item.removed_at or item.last_seen, eligibility=tuple(item.eligibility or ()), region=item.region,
        ))
    rows.sort(key=CallRow.sort_key)
    return Catalog(version, tuple(rows), tuple(change_index(session)), tuple(sorted(rows, key=lambda r: r.id)))


class CatalogCache:
    """The catalog of the current version, rebuilt when the version moves (one builder at a time:
    under load the other requests wait for it rather than each building their own)."""

    def __init__(self):
        self._catalog: Catalog | None = None
        self._lock = threading.Lock()

    def get(self, session: Session, version: Version, now: dt.datetime) -> Catalog:
        catalog = self._catalog
        if catalog is not None and catalog.version == version:
            return catalog
        with self._lock:
            catalog = self._catalog
            if catalog is None or catalog.version != version:
                catalog = self._catalog = build_catalog(session, version, now)
        return catalog


@dataclass(frozen=True)
class Opened:
    """A request that goes on to be answered: the data version, the catalog (when asked for) and
    what the request's parser read from it (a filter, a page number)."""

    version: Version
    catalog: Catalog | None
    parsed: Any = None


def open_request(session: Session, request: Request, *, catalogs: CatalogCache | None = None,
                 parse: Callable[[Request], Any] | None = None,
                 refuse: Callable[[ValueError], Response] | None = None) -> Opened | Response:
    """How every public page, feed and API answer starts: the data version, and a 304 when the
    client's copy is current (before any catalog is built or anything parsed); else the catalog of
    CATALOGS, and PARSE's reading of the request, whose ValueError (a bad filter) becomes REFUSE's
    answer (a 400 in the module's own form: HTML, text or JSON). Returns an Opened, or the Response
    that ends the request."""
    now = now_local()
    version = current_version(session, now)
    if version.not_modified(request):
        return Response(status_code=304, headers=version.headers())
    catalog = catalogs.get(session, version, now) if catalogs is not None else None
    if parse is None:
        return Opened(version, catalog)
    try:
        return Opened(version, catalog, parse(request))
    except ValueError as exc:
        if refuse is None:
            raise
        return refuse(exc)
