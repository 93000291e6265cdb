"""JSON API, version 1: the shapes of `fundwatch calls|history|runs --format json` (README, "JSON
output"), the same filters, cursor pagination, ETag/304 and read-only CORS.

  GET /api/v1/calls[?agency=A&kind=K&form=F&region=R&open=1&all=1&after=ID&limit=N]   ordered by id
  GET /api/v1/calls/{id}                                              one call (404 when unknown)
  GET /api/v1/changes[?since=YYYY-MM-DD&agency=A&item=ID&after=ID&limit=N]  oldest first
  GET /api/v1/runs[?source=S&before=ID&limit=N]                       newest first

A body is exactly the CLI's JSON (a list, or one object); the next page is in the `Link` header
(rel="next"), so the shapes stay the CLI's. Errors: {"error": "..."} with 400 or 404.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import json
import urllib.parse

from sqlalchemy import select
from sqlalchemy.orm import defer
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from fundwatch.eligibility import clean_forms
from fundwatch.items import KINDS
from fundwatch.regions import clean_regions
from fundwatch.storage.db import session_scope
from fundwatch.storage.models import Item
from fundwatch.storage.queries import call_json, history_json, list_changes, list_runs, now_local, reaches, run_json
from fundwatch.web.caching import Version, open_request
from fundwatch.web.pages import PublicPages

DEFAULT_LIMIT, MAX_LIMIT = 100, 1000


class ApiError(ValueError):
    pass


def json_response(data, version: Version | None = None, status: int = 200, next_url: str | None = None) -> Response:
    # The CLI's shapes; compact, because indenting makes json use its pure-Python encoder.
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    response = Response(body, status, media_type="application/json")
    if next_url:
        response.headers["Link"] = f'<{next_url}>; rel="next"'
    return version.stamp(response) if version else response


def error(message: str, status: int = 400) -> Response:
    return json_response({"error": message}, status=status)


def int_param(request: Request, name: str, default: int | None = None, maximum: int | None = None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(f"{name} must be an integer, got {raw!r}") from None
    if value < (1 if name == "limit" else 0) or (maximum and value > maximum):
        raise ApiError(f"{name} must be between {1 if name == 'limit' else 0} and {maximum or 'any'}, got {value}")
    return value


def flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() in ("1", "true", "yes")


def next_link(request: Request, **cursor) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in cursor]
    return f"{request.url.path}?{urllib.parse.urlencode(params + list(cursor.items()))}"


class Api:
    def __init__(self, pages: PublicPages):
        self.pages = pages

    def guarded(self, handler):
        def endpoint(request: Request) -> Response:
            try:
                return handler(request)
            except ApiError as exc:
                return error(str(exc))
        return endpoint

    def calls(self, request: Request) -> Response:
        agency, kind = request.query_params.get("agency"), request.query_params.get("kind")
        if kind and kind not in KINDS:
            raise ApiError(f"unknown kind {kind!r} (one of {', '.join(KINDS)})")
        limit = int_param(request, "limit", DEFAULT_LIMIT, MAX_LIMIT)
        after = request.query_params.get("after")
        only_open, include_removed = flag(request, "open"), flag(request, "all")
        try:  # the CLI's --form and --region, the web list's filters: storage.shown.reaches
            forms = clean_forms(v for v in request.query_params.getlist("form") if v.strip())
            regions = clean_regions(v for v in request.query_params.getlist("region") if v.strip())
        except ValueError as exc:
            raise ApiError(str(exc)) from None
        with session_scope() as session:
            opened = open_request(session, request, catalogs=self.pages.catalogs)
            if isinstance(opened, Response):
                return opened
            version, catalog = opened.version, opened.catalog
            start = bisect.bisect_right(catalog.by_id, after, key=lambda r: r.id) if after is not None else 0
            wanted = (r.id for r in itertools.islice(catalog.by_id, start, None)
                      if (not agency or r.agency == agency) and (not kind or r.kind == kind)
                      and (include_removed or r.status != "removed") and (not only_open or r.status == "open")
                      and reaches(r.eligibility, r.region, forms, regions))
            ids = list(itertools.islice(wanted, limit + 1))  # one more: is there a next page
            page = ids[:limit]
            now = now_local()
            query = select(Item).where(Item.id.in_(page)).options(defer(Item.text))  # not in a call's JSON
            items = {i.id: i for i in session.scalars(query)} if page else {}
            rows = [call_json(items[i], now) for i in page if i in items]
        if only_open:  # the catalog is as of the version; a deadline may have passed since, today
            rows = [r for r in rows if r["status"] == "open"]
        more = len(ids) > limit
        return json_response(rows, version, next_url=next_link(request, after=page[-1]) if more else None)

    def call(self, request: Request) -> Response:
        with session_scope() as session:
            opened = open_request(session, request)
            if isinstance(opened, Response):
                return opened
            version = opened.version
            item = session.get(Item, request.path_params["item_id"])
            if item is None:
                return error(f"no item {request.path_params['item_id']!r}", 404)
            return json_response(call_json(item), version)

    def changes(self, request: Request) -> Response:
        since_raw = request.query_params.get("since")
        try:
            since = dt.datetime.fromisoformat(since_raw).replace(tzinfo=dt.UTC) if since_raw else None
        except ValueError:
            raise ApiError(f"since must be a date YYYY-MM-DD, got {since_raw!r}") from None
        limit = int_param(request, "limit", DEFAULT_LIMIT, MAX_LIMIT)
        after = int_param(request, "after")
        with session_scope() as session:
            opened = open_request(session, request)
            if isinstance(opened, Response):
                return opened
            version = opened.version
            found = list_changes(session, since=since, agency=request.query_params.get("agency") or None,
                                 item_id=request.query_params.get("item") or None, after_id=after, limit=limit + 1)
            rows = [history_json(c, i) for c, i in found[:limit]]
        more = len(found) > limit
        return json_response(rows, version, next_url=next_link(request, after=rows[-1]["id"]) if more else None)

    def runs(self, request: Request) -> Response:
        limit = int_param(request, "limit", 50, MAX_LIMIT)
        before = int_param(request, "before")
        with session_scope() as session:
            opened = open_request(session, request)
            if isinstance(opened, Response):
                return opened
            version = opened.version
            found = list_runs(session, source=request.query_params.get("source") or None, limit=limit + 1,
                              before_id=before)
            rows = [run_json(r, a) for r, a in found[:limit]]
        more = len(found) > limit
        return json_response(rows, version, next_url=next_link(request, before=rows[-1]["id"]) if more else None)

    def not_found(self, request: Request) -> Response:
        return error("no such endpoint (see /api/v1/calls, /api/v1/changes, /api/v1/runs)", 404)

    def mount(self) -> Mount:
        routes = [
            Route("/calls", self.guarded(self.calls), methods=["GET"]),
            Route("/calls/{item_id:path}", self.guarded(self.call), methods=["GET"]),
            Route("/changes", self.guarded(self.changes), methods=["GET"]),
            Route("/runs", self.guarded(self.runs), methods=["GET"]),
            Route("/{rest:path}", self.not_found, methods=["GET"]),
        ]
        # Read-only CORS: any site may read the public data; no credentials, no writes.
        cors = Middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "HEAD"],
                          expose_headers=["ETag", "Last-Modified", "Link"], max_age=86400)
        return Mount("/api/v1", routes=routes, middleware=[cors])
