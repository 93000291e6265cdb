"""Feeds for any filter of the list (same query string): Atom 1.0, one entry per change, and
iCalendar, one event per deadline.

  GET /flode.atom     the newest changes matching the filter (every kind and status by default)
  GET /kalender.ics   deadlines of open and upcoming items (and of those closed lately, so a
                      passed deadline stays in a subscribed calendar); a removed item's event is
                      CANCELLED; SEQUENCE counts the deadline's moves; times in Europe/Stockholm
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import uuid
from collections import OrderedDict

from icalendar import Calendar, Event
from starlette.requests import Request
from starlette.responses import Response

from fundwatch.digest.builder import STATUS_SV, amount_sv
from fundwatch.storage.db import session_scope
from fundwatch.storage.queries import iso
from fundwatch.swedish import format_date_sv
from fundwatch.web.caching import CallRow, Version, open_request
from fundwatch.web.pages import PublicFilter, PublicPages, call_path, changes_page
from fundwatch.web.templating import TEMPLATES

FEED_ENTRIES = 50
CALENDARS_KEPT = 32
RECENT = dt.timedelta(days=90)  # how long a closed or removed item's event stays in the calendar
CALENDAR_STATUSES = ("open", "upcoming", "closed", "removed")
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def bad_filter_text(exc: ValueError) -> Response:
    """A feed reader shows a plain line best."""
    return Response(str(exc), 400, media_type="text/plain; charset=utf-8")


def xml_text(value: str | None) -> str:
    """Scraped text as XML 1.0 can carry it (control characters are not allowed even escaped)."""
    return _NOT_XML.sub("", " ".join((value or "").split()))


class Feeds:
    def __init__(self, pages: PublicPages, public_url: str):
        self.pages = pages
        self.public_url = public_url.rstrip("/")
        # Rendered calendars by (version, filter): the icalendar library takes milliseconds per
        # event, so a big calendar is rendered once per version, not once per request.
        self._calendars: OrderedDict[tuple, bytes] = OrderedDict()
        self._calendar_lock = threading.Lock()

    def entry_id(self, change_id: int) -> str:
        """Stable across runs and renders: derived from the site's address and the change id."""
        return uuid.uuid5(uuid.NAMESPACE_URL, f"{self.public_url}/andringar#andring-{change_id}").urn

    def parse(self, request: Request) -> PublicFilter:
        return PublicFilter.parse(request.query_params, self.pages.agency_names)

    def atom(self, request: Request) -> Response:
        with session_scope() as session:
            opened = open_request(session, request, catalogs=self.pages.catalogs, parse=self.parse, refuse=bad_filter_text)
            if isinstance(opened, Response):
                return opened
            version, catalog, filters = opened.version, opened.catalog, opened.parsed
            entries = []
            for change, item in changes_page(session, filters, catalog, limit=FEED_ENTRIES):
                view = self.pages.change_view(change, item)
                what = "; ".join(f"{label}: {old} → {new}" if old else f"{label}: {new}" for label, old, new in view["fields"])
                if change.change == "new":
                    what = "; ".join(p for p in (f"Status: {STATUS_SV.get(item.status, item.status)}",
                                                 f"Sista ansökningsdag: {format_date_sv(item.deadline)}" if item.deadline else "",
                                                 f"Belopp: {amount_sv(item.amount_text, item.amount_sek)}"
                                                 if item.amount_text or item.amount_sek is not None else "") if p)
                entries.append({
                    "id": self.entry_id(change.id), "updated": iso(change.detected_at), "change": change.change,
                    "change_sv": view["change_sv"], "title": xml_text(f"{view['change_sv']}: {view['title']}"),
                    "link": self.public_url + call_path(item.id), "agency": xml_text(view["agency"]),
                    "summary": xml_text(f"{view['agency']}. {what}".rstrip(". ") + "."),
                })
        query = filters.feed_query()
        body = TEMPLATES.get_template("feed.xml").render(
            feed_id=uuid.uuid5(uuid.NAMESPACE_URL, f"{self.public_url}/flode.atom{query}").urn,
            title=xml_text("fundwatch – ändringar" + (f" ({self.describe(filters)})" if query else "")),
            updated=iso(version.modified), self_url=f"{self.public_url}/flode.atom{query}",
            html_url=f"{self.public_url}/andringar{query}", entries=entries)
        return version.stamp(Response(body, media_type="application/atom+xml; charset=utf-8"))

    def describe(self, filters: PublicFilter) -> str:
        parts = [self.pages.agency_name(a) for a in filters.agencies] + list(filters.keywords)
        return ", ".join(parts) or "urval"

    def calendar(self, request: Request) -> Response:
        with session_scope() as session:
            opened = open_request(session, request, catalogs=self.pages.catalogs, parse=self.parse, refuse=bad_filter_text)
        if isinstance(opened, Response):
            return opened
        version, catalog, filters = opened.version, opened.catalog, opened.parsed
        key = (version, filters.feed_query())
        with self._calendar_lock:
            body = self._calendars.get(key)
            if body is None:
                wanted = set(filters.statuses or CALENDAR_STATUSES) & set(CALENDAR_STATUSES) | {"removed"}
                rows = catalog.matching(**{**filters.catalog_filters(), "statuses": wanted})
                body = self._calendars[key] = self.ics(rows, version)
                while len(self._calendars) > CALENDARS_KEPT:
                    self._calendars.popitem(last=False)
            self._calendars.move_to_end(key)
        return version.stamp(Response(body, media_type="text/calendar; charset=utf-8"))

    def ics(self, rows: list[CallRow], version: Version) -> bytes:
        cal = Calendar()
        cal.add("prodid", "-//fundwatch//fundwatch//SV")
        cal.add("version", "2.0")
        cal.add("calscale", "GREGORIAN")
        cal.add("x-wr-calname", "fundwatch – sista ansökningsdagar")
        cutoff = version.today - RECENT
        for row in rows:
            if row.closes_at is None or row.deadline < cutoff:
                continue
            if row.status == "removed" and row.stamp.date() < cutoff:
                continue
            event = Event()
            event.add("uid", f"{row.id}@fundwatch")
            event.add("summary", f"Sista ansökningsdag: {row.title}")
            event.add("dtstart", row.closes_at)  # no DTEND: a deadline is a moment (RFC 5545 3.6.1)
            event.add("dtstamp", version.modified.astimezone(dt.UTC))
            event.add("last-modified", row.stamp.astimezone(dt.UTC))
            event.add("sequence", row.deadline_moves + (1 if row.status == "removed" else 0))
            event.add("status", "CANCELLED" if row.status == "removed" else "CONFIRMED")
            event.add("transp", "TRANSPARENT")
            event.add("url", self.public_url + call_path(row.id))
            amount = amount_sv(row.amount_text, row.amount_sek)
            event.add("description", "\n".join(p for p in (
                f"{self.pages.agency_name(row.agency)} – {STATUS_SV.get(row.status, row.status)}",
                f"Sista ansökningsdag: {row.deadline_text}" if row.deadline_text else "",
                f"Belopp: {amount}" if amount else "", self.public_url + call_path(row.id)) if p))
            cal.add_component(event)
        if cal.walk("VEVENT"):
            dates = [e.decoded("dtstart").date() for e in cal.walk("VEVENT")]
            cal.add_missing_timezones(first_date=min(dates) - dt.timedelta(days=366),
                                      last_date=max(dates) + dt.timedelta(days=366))
        return cal.to_ical()
