"""The public pages (Swedish): the list of calls, one call with its history, the change log with
source coverage, and the 404 page. Filters live in the query string so a filtered page can be
bookmarked; the feeds (web.feeds) take the same query string.

  GET /utlysningar              open, upcoming and planned items, nearest deadline first
  GET /utlysningar/{id}         every field, the text, the link, each change with its diff
  GET /andringar                every change, newest first, and the last run of each source
"""

from __future__ import annotations

import datetime as dt
import math
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from fundwatch.digest.builder import KIND_SV, STATUS_SV, amount_sv, field_changes, safe_url
from fundwatch.eligibility import FORMS, clean_forms
from fundwatch.items import KINDS
from fundwatch.regions import REGIONS, clean_regions
from fundwatch.sources import Sources, load_sources
from fundwatch.storage.db import session_scope
from fundwatch.storage.models import Change, Item, Run
from fundwatch.storage.queries import call_json, change_fields_json, last_runs, list_changes, now_local, run_reason_sv
from fundwatch.swedish import format_date_sv
from fundwatch.web.caching import CallRow, Catalog, CatalogCache, Version, open_request
from fundwatch.web.templating import TEMPLATES

PAGE_SIZE = 50
STATUSES = ("open", "upcoming", "planned", "unknown", "closed", "removed")
ACTIVE_STATUSES = ("open", "upcoming", "planned", "unknown")
LIST_KINDS = ("funding_call", "procurement", "collaboration")  # the list's default: calls and offers, not news
CHANGE_SV = {"new": "Ny", "updated": "Ändrad", "removed": "Borttagen", "reappeared": "Tillbaka"}
RUN_SV = {"ok": "fullständig", "partial": "delvis", "failed": "misslyckades", "running": "pågår"}
MAX_KEYWORDS, MAX_QUERY = 10, 500


class BadFilter(ValueError):
    """A query string the pages cannot use; the message is Swedish, for the visitor."""


@dataclass(frozen=True)
class PublicFilter:
    """Agencies, kinds, statuses and keywords (any of them, in title or text, Swedish case folding),
    and who is asking: organisation forms and regions, with the subscribers' meaning (a call that
    does not say who may apply, or a national call, is for everyone)."""

    agencies: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    defaults: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False)
    forms: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()

    @classmethod
    def parse(cls, params: QueryParams, agencies_known: dict[str, str], *, kinds: tuple[str, ...] = (),
              statuses: tuple[str, ...] = ()) -> "PublicFilter":
        """The filter a query string asks for; a choice left empty means the page's default."""
        agencies = tuple(dict.fromkeys(params.getlist("agency")))
        chosen_kinds = tuple(dict.fromkeys(params.getlist("kind")))
        chosen_statuses = tuple(dict.fromkeys(params.getlist("status")))
        words = tuple(dict.fromkeys(w for part in params.getlist("q") for w in (p.strip() for p in part.split(",")) if w))
        if unknown := [a for a in agencies if a not in agencies_known]:
            raise BadFilter(f"Okänd myndighet: {unknown[0]}")
        if unknown := [k for k in chosen_kinds if k not in KINDS]:
            raise BadFilter(f"Okänt slag: {unknown[0]}")
        if unknown := [s for s in chosen_statuses if s not in STATUSES]:
            raise BadFilter(f"Okänd status: {unknown[0]}")
        if len(words) > MAX_KEYWORDS or sum(map(len, words)) > MAX_QUERY:
            raise BadFilter(f"Högst {MAX_KEYWORDS} sökord.")
        forms = _chosen(params, "form", clean_forms, "organisationsform")
        regions = _chosen(params, "region", clean_regions, "region")
        return cls(agencies, chosen_kinds or kinds, chosen_statuses or statuses, words,
                   {"kind": kinds, "status": statuses}, forms, regions)

    def pairs(self) -> list[tuple[str, str]]:
        """The query string's pairs, leaving out what equals the page's default (shorter links)."""
        out = [("agency", a) for a in self.agencies]
        if self.kinds != self.defaults.get("kind", ()):
            out += [("kind", k) for k in self.kinds]
        if self.statuses != self.defaults.get("status", ()):
            out += [("status", s) for s in self.statuses]
        if self.keywords:
            out.append(("q", ", ".join(self.keywords)))
        return out + self._audience()

    def _audience(self) -> list[tuple[str, str]]:
        return [("form", f) for f in self.forms] + [("region", r) for r in self.regions]

    def query(self, **extra: Any) -> str:
        pairs = self.pairs() + [(k, str(v)) for k, v in extra.items() if v is not None]
        return "?" + urllib.parse.urlencode(pairs) if pairs else ""

    def feed_query(self) -> str:
        """The same filter for the feeds, whose defaults are every kind and status."""
        pairs = [("agency", a) for a in self.agencies] + [("kind", k) for k in self.kinds]
        pairs += [("status", s) for s in self.statuses] + ([("q", ", ".join(self.keywords))] if self.keywords else [])
        pairs += self._audience()
        return "?" + urllib.parse.urlencode(pairs) if pairs else ""

    def catalog_filters(self) -> dict[str, tuple[str, ...]]:
        """These filters as Catalog.matching's arguments."""
        return {"agencies": self.agencies, "kinds": self.kinds, "statuses": self.statuses, "keywords": self.keywords,
                "forms": self.forms, "regions": self.regions}

    def rows(self, catalog: Catalog) -> tuple[CallRow, ...]:
        return catalog.matching(**self.catalog_filters())

    def item_ids(self, catalog: Catalog) -> frozenset[str]:
        return catalog.matching_ids(**self.catalog_filters())

    @property
    def narrows_items(self) -> bool:
        return bool(self.agencies or self.kinds or self.statuses or self.keywords or self.forms or self.regions)


def _chosen(params: QueryParams, name: str, clean, what: str) -> tuple[str, ...]:
    """The values of a repeated parameter as CLEAN spells them (an empty one, the form's "any",
    left out); an unknown one is a BadFilter naming it."""
    chosen: list[str] = []
    for value in params.getlist(name):
        if value.strip():
            try:
                chosen += clean([value])
            except ValueError:
                raise BadFilter(f"Okänd {what}: {value}") from None
    return tuple(dict.fromkeys(chosen))


def feed_query(filters) -> str:
    """The feeds' query string for a subscriber's digest filters (agencies, kinds, keywords, forms,
    regions)."""
    return PublicFilter(tuple(filters.agencies), tuple(filters.kinds), (), tuple(filters.keywords),
                        forms=tuple(filters.forms), regions=tuple(filters.regions)).feed_query()


def call_path(item_id: str) -> str:
    return "/utlysningar/" + urllib.parse.quote(item_id, safe="/")


def when_sv(ts: dt.datetime | None) -> str:
    if ts is None:
        return "–"
    local = ts.astimezone(now_local().tzinfo)
    return f"{format_date_sv(local.date())} kl. {local:%H.%M}"


def date_sv(d: dt.date | None) -> str:
    return format_date_sv(d) if d else "–"


def diff_lines(diff: str | None) -> list[tuple[str, str]]:
    """A unified diff as (css class, line) for the page: added, removed, hunk header or context."""
    out = []
    for line in (diff or "").splitlines():
        if line.startswith(("+++", "---")):
            continue
        kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "ctx")
        out.append((kind, line))
    return out


class PublicPages:
    def __init__(self, sources: Sources | None = None):
        self.sources = sources or load_sources()
        slugs = sorted({s.agency for s in self.sources} | set(self.sources.agencies))
        self.agency_names = {slug: self.sources.agency_name(slug) for slug in slugs}
        self.catalogs = CatalogCache()

    # -- helpers ----------------------------------------------------------------------------------
    def render(self, name: str, status: int = 200, version: Version | None = None, **context: Any) -> HTMLResponse:
        context.setdefault("agency_options", list(self.agency_names.items()))
        context.setdefault("kind_options", [(k, KIND_SV[k]) for k in KINDS])
        context.setdefault("status_options", [(s, STATUS_SV[s]) for s in STATUSES])
        context.setdefault("form_options", list(FORMS))
        context.setdefault("region_options", list(REGIONS))
        response = HTMLResponse(TEMPLATES.get_template(name).render(context), status_code=status)
        return version.stamp(response) if version else response

    def not_found(self, text: str = "Sidan finns inte. Den kan ha flyttats, eller så är adressen felstavad.") -> HTMLResponse:
        return self.render("not_found.html", 404, title="Sidan finns inte", text=text)

    def bad_filter(self, exc: ValueError) -> HTMLResponse:
        return self.render("not_found.html", 400, title="Felaktigt filter", text=str(exc))

    def agency_name(self, slug: str) -> str:
        return self.agency_names.get(slug, slug)

    def row_view(self, row: CallRow) -> dict[str, Any]:
        return {"id": row.id, "href": call_path(row.id), "title": row.title, "agency": self.agency_name(row.agency),
                "kind": KIND_SV.get(row.kind, row.kind), "status": row.status, "status_sv": STATUS_SV.get(row.status, row.status),
                "opens": date_sv(row.opens), "deadline": date_sv(row.deadline),
                "amount": amount_sv(row.amount_text, row.amount_sek) or "–"}

    def change_view(self, change: Change, item: Item) -> dict[str, Any]:
        return {"id": change.id, "when": when_sv(change.detected_at), "change": change.change,
                "change_sv": CHANGE_SV.get(change.change, change.change), "item_id": item.id, "href": call_path(item.id),
                "title": " ".join((item.title or "").split()), "agency": self.agency_name(item.agency),
                "fields": field_changes(change_fields_json(change)),
                "diff": diff_lines(change.diff)}

    def parse_list(self, request: Request) -> tuple[PublicFilter, int]:
        """The list's filter (its defaults: calls and offers that are not closed) and page number."""
        filters = PublicFilter.parse(request.query_params, self.agency_names, kinds=LIST_KINDS, statuses=ACTIVE_STATUSES)
        try:
            page = int(request.query_params.get("page", "1"))
        except ValueError:
            page = 0
        if page < 1:
            raise BadFilter("Sidnumret ska vara ett heltal från 1.")
        return filters, page

    def parse_changes(self, request: Request) -> tuple[PublicFilter, int | None]:
        """The change log's filter and its cursor (the id the page starts below)."""
        filters = PublicFilter.parse(request.query_params, self.agency_names)
        before = request.query_params.get("before")
        try:
            return filters, int(before) if before is not None else None
        except ValueError:
            raise BadFilter("Ogiltig sida i ändringsloggen.") from None

    # -- pages --------------------------------------------------------------------------------------
    def calls(self, request: Request) -> Response:
        with session_scope() as session:
            opened = open_request(session, request, catalogs=self.catalogs, parse=self.parse_list, refuse=self.bad_filter)
            if isinstance(opened, Response):
                return opened
            version, (filters, page) = opened.version, opened.parsed
            rows = filters.rows(opened.catalog)
        pages = max(1, math.ceil(len(rows) / PAGE_SIZE))
        shown = rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
        return self.render(
            "calls.html", version=version, title="Utlysningar och erbjudanden", section="calls", filters=filters,
            rows=[self.row_view(r) for r in shown], total=len(rows), first=(page - 1) * PAGE_SIZE + 1,
            last=(page - 1) * PAGE_SIZE + len(shown), page=page, pages=pages,
            prev_href=f"/utlysningar{filters.query(page=page - 1 if page > 2 else None)}" if page > 1 else None,
            next_href=f"/utlysningar{filters.query(page=page + 1)}" if page < pages else None,
            feeds=filters.feed_query(), wide=True)

    def call(self, request: Request) -> Response:
        item_id = request.path_params["item_id"]
        with session_scope() as session:
            opened = open_request(session, request)
            if isinstance(opened, Response):
                return opened
            version = opened.version
            item = session.get(Item, item_id)
            if item is None:
                return self.not_found("Det finns ingen utlysning med den adressen.")
            data = call_json(item)
            changes = [self.change_view(c, i) for c, i in reversed(list_changes(session, item_id=item_id))]
            text = item.text
        fields = [("Myndighet", self.agency_name(data["agency"])), ("Typ", KIND_SV.get(data["kind"], data["kind"])),
                  ("Status", STATUS_SV.get(data["status"], data["status"])), ("Öppnar", date_sv(item.opens)),
                  ("Sista ansökningsdag", date_sv(dt.date.fromisoformat(data["deadline"]) if data["deadline"] else None)),
                  ("Sista ansökningsdag (som myndigheten skriver den)", data["deadline_text"] or "–"),
                  ("Publicerad", date_sv(item.published)),
                  ("Belopp", amount_sv(data["amount_text"], data["amount_sek"]) or "–"),
                  ("Öppen för civilsamhället", {True: "ja (konkurrerande)", False: "nej (icke-konkurrerande)"}.get(
                      data["competitive"], "–")),
                  ("Först sedd", when_sv(item.first_seen)), ("Senast sedd", when_sv(item.last_seen))]
        fields += [(" ".join(str(k).split()), " ".join(str(v).split())) for k, v in data["details"].items()]
        return self.render("call.html", version=version, section="calls", title=" ".join(data["title"].split()), item_id=item_id,
                           url=safe_url(data["url"]), fields=fields, text=text, changes=changes)

    def changes(self, request: Request) -> Response:
        with session_scope() as session:
            opened = open_request(session, request, catalogs=self.catalogs, parse=self.parse_changes,
                                  refuse=self.bad_filter)
            if isinstance(opened, Response):
                return opened
            version, catalog, (filters, before_id) = opened.version, opened.catalog, opened.parsed
            found = changes_page(session, filters, catalog, before_id=before_id, limit=PAGE_SIZE + 1)
            rows = [self.change_view(c, i) for c, i in found[:PAGE_SIZE]]
            coverage = self.coverage(last_runs(session))
        more = len(found) > PAGE_SIZE
        return self.render("changes.html", version=version, title="Ändringar", section="changes", filters=filters, rows=rows,
                           next_href=f"/andringar{filters.query(before=rows[-1]['id'])}" if more else None,
                           first_href=f"/andringar{filters.query()}" if before_id is not None else None,
                           coverage=coverage, feeds=filters.feed_query(), wide=True)

    def coverage(self, latest: dict[str, Run]) -> list[dict[str, Any]]:
        """The last run of each configured source: ok, partial or failed, and why in Swedish."""
        rows = []
        for source in self.sources:
            run = latest.get(source.id)
            status = run.status if run else "never"
            reason = ""
            if run is None:
                reason = "har inte kontrollerats ännu"
            elif run.status != "ok":
                reason = run_reason_sv(run) or ("kontrollen pågår" if run.status == "running" else "kontrollen misslyckades")
            rows.append({"source": source.id, "agency": self.agency_name(source.agency), "status": status,
                         "status_sv": RUN_SV.get(status, "aldrig"), "reason": reason,
                         "when": when_sv((run.finished_at or run.started_at) if run else None)})
        return rows


def changes_page(session, filters: PublicFilter, catalog: Catalog, *, before_id: int | None = None,
                 limit: int) -> list[tuple[Change, Item]]:
    """Newest changes first matching the filter, picked from the catalog's index of changes by the
    ids of the matching items (statuses and keywords are not in SQL; an agency's changes in SQL
    meant sorting all of them for one page)."""
    if not filters.narrows_items:
        return list_changes(session, before_id=before_id, newest_first=True, limit=limit)
    ids = catalog.change_ids(filters.item_ids(catalog), before_id=before_id, limit=limit)
    return list_changes(session, ids=ids, newest_first=True) if ids else []
