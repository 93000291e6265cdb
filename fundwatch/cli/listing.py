"""What the read commands do (calls, history, runs, show, sources): query and print. Their
options and help are declared in fundwatch.cli.read, which imports this module only when a
command runs, so `COMMAND --help` needs neither SQLAlchemy nor the storage layer.

`calls` on SQLite reads through storage.sqlite_read without SQLAlchemy (its import is most of the
command's start-up: bench/README.md, "CLI start-up"); so this module imports SQLAlchemy and the
models inside the commands that use them, not at the top."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os

import click

from fundwatch import config
from fundwatch.cli.output import emit, plain, shorten
from fundwatch.config import timezone
from fundwatch.digest.filters import known_agencies
from fundwatch.eligibility import clean_forms
from fundwatch.errors import UserError
from fundwatch.items import next_meeting
from fundwatch.regions import clean_regions
from fundwatch.sources import load_sources
from fundwatch.storage import sqlite_read
from fundwatch.storage.shown import CALL_KEYS, call_json, iso, now_local

ID_WIDTH, ID_MAX = 20, 28  # printed ids: a unique prefix of the slug, at least ID_WIDTH long; past ID_MAX a tag


def _tag(full_id: str) -> str:
    return hashlib.sha1(full_id.encode()).hexdigest()[:6]


def short_ids(ids: list[str]) -> dict[str, str]:
    """{item id: what `calls` prints}: the id's last part (its slug) cut to the shortest prefix of
    at least ID_WIDTH characters that no other slug starts with; where that would be longer than
    ID_MAX (slugs alike for long), ID_WIDTH characters and '~' and a tag of the full id.
    `show` accepts what is printed."""
    slugs = sorted((i.rsplit("/", 1)[-1], i) for i in ids)
    out = {}
    for n, (slug, full) in enumerate(slugs):
        neighbours = [slugs[k][0] for k in (n - 1, n + 1) if 0 <= k < len(slugs)]
        need = max([len(os.path.commonprefix([slug, other])) + 1 for other in neighbours] + [ID_WIDTH])
        if slug in neighbours or need > ID_MAX and len(slug) > ID_MAX:
            out[full] = f"{slug[:ID_WIDTH]}~{_tag(full)}"
        else:
            out[full] = slug[:need]
    return out


def resolve_item(session, given: str):
    """The item GIVEN names: a full id, a slug, or a unique prefix of either, as `calls` prints it."""
    from sqlalchemy import select

    from fundwatch.storage.models import Item

    item = session.get(Item, given)
    if item is not None:
        return item
    ids = list(session.scalars(select(Item.id)))
    prefix, _, tag = given.partition("~")
    if tag:
        candidates = [[i for i in ids if i.rsplit("/", 1)[-1].startswith(prefix) and _tag(i).startswith(tag)]]
    else:
        candidates = [[i for i in ids if i.rsplit("/", 1)[-1] == given],
                      [i for i in ids if i.rsplit("/", 1)[-1].startswith(given) or i.startswith(given)]]
    for matches in candidates:
        if len(matches) == 1:
            return session.get(Item, matches[0])
        if len(matches) > 1:
            raise UserError(f"{given!r} names {len(matches)} items ({', '.join(sorted(matches)[:3])}, …): "
                            "give more of the id")
    raise UserError(f"no item {given!r} (see `fundwatch calls --all`)")


def agency_slug(given: str | None) -> str | None:
    """An agency as typed (slug or display name, any case) as its slug; unknown ones say which exist."""
    if not given:
        return None
    known = known_agencies()
    by_name = {name.casefold(): slug for slug, name in known.items()} | {slug.casefold(): slug for slug in known}
    slug = by_name.get(given.strip().casefold())
    if slug is None:
        raise UserError(f"unknown agency {given!r}; known agencies: {', '.join(known)}")
    return slug


def calls(agency, kind, region, form, only_open, include_removed, fmt):
    """List watched items: calls, procurements, news and pages, with their current state. The ID
    column is what `fundwatch show` takes."""
    agency = agency_slug(agency)
    try:
        region = clean_regions([region])[0] if region else None
        form = clean_forms([form])[0] if form else None
    except ValueError as exc:
        raise UserError(str(exc)) from None
    now = now_local()
    chosen = dict(agency=agency, kind=kind, include_removed=include_removed, region=region, form=form)
    quick = sqlite_read.list_items(config.database_url(), **chosen, with_ids=fmt == "table")
    if quick is not None:
        items, ids = quick
        rows = [call_json(i, now) for i in items]
    else:  # PostgreSQL, a database to migrate, or one the quick path cannot read: the usual path says why
        from sqlalchemy import select

        from fundwatch.storage.db import session_scope
        from fundwatch.storage.models import Item
        from fundwatch.storage.queries import list_items

        with session_scope() as session:
            rows = [call_json(i, now) for i in list_items(session, **chosen)]
            ids = list(session.scalars(select(Item.id))) if fmt == "table" else []
    printed = short_ids(ids) if fmt == "table" else {}
    if only_open:
        rows = [r for r in rows if r["status"] == "open"]
    if fmt == "table":
        rows = [{**r, "id": printed.get(r["id"], r["id"])} for r in rows]
    emit(rows, fmt, ["id", "status", "deadline", "agency", "kind", "title"], CALL_KEYS,
         shrink=["agency", "kind", "title"])


def history(since, agency, item_id, fmt):
    """The change history: new, updated (field by field), removed, reappeared."""
    from fundwatch.storage.db import session_scope
    from fundwatch.storage.queries import HISTORY_KEYS, history_json, list_changes

    since_at = since.replace(tzinfo=timezone()) if since else None
    agency = agency_slug(agency)
    with session_scope() as session:
        if item_id:
            item_id = resolve_item(session, item_id).id
        rows = [history_json(c, i) for c, i in list_changes(session, since=since_at, agency=agency, item_id=item_id)]
    if fmt == "table":
        for row in rows:
            row["detected_at"] = _local(row["detected_at"])
            row["fields"] = ", ".join(f"{k}: {shorten(v[0])} → {shorten(v[1])}" for k, v in row["fields"].items()) or None
    emit(rows, fmt, ["id", "detected_at", "change", "title", "fields"], HISTORY_KEYS,
         widths={"title": 50}, shrink=["fields", "title"])


def _local(stamp: str | None) -> str | None:
    """An ISO time as 'YYYY-MM-DD HH:MM' in FUNDWATCH_TIMEZONE, for a table."""
    if not stamp:
        return stamp
    return f"{dt.datetime.fromisoformat(stamp).astimezone(timezone()):%Y-%m-%d %H:%M}"


def runs(source, limit, fmt):
    """Crawl runs with their status and, when not ok, the reason."""
    from fundwatch.storage.db import session_scope
    from fundwatch.storage.queries import RUN_KEYS, list_runs, run_json
    from fundwatch.storage.reasons import reason_en

    with session_scope() as session:
        found = list_runs(session, source=source, limit=limit)
        if source and not found:
            configured = [s.id for s in load_sources()]
            if source not in configured:
                raise UserError(f"unknown source {source!r}; configured sources: {', '.join(configured)}")
        rows = [run_json(r, a) for r, a in found]
    if fmt == "table":  # warnings are stored on the run, not part of its status or JSON shape
        for row, (run, _agency) in zip(rows, found):
            notes = [reason_en(w["code"], w.get("params")) for w in run.warnings or []]
            row["reason"] = "; ".join([row["reason"] or ""][: bool(row["reason"])] + [f"warning: {n}" for n in notes]) or None
    if fmt == "table":
        for row in rows:
            row["started_at"] = _local(row["started_at"])
    emit(rows, fmt, ["id", "source", "started_at", "status", "pages", "items", "errors", "reason"], RUN_KEYS,
         shrink=["reason", "source"])


def accept_shape(source):
    from fundwatch.storage import drift
    from fundwatch.storage.db import session_scope

    load_sources().get(source)  # an unknown source id is a clear error
    with session_scope() as session:
        run = drift.accept(session, source)
        click.echo(f"accepted run {run.id} of {source} as the baseline; its next runs are compared with it")


def show(item_id, fmt):
    """One item: its current state, text, every version and the diffs between them."""
    from fundwatch.storage.db import session_scope
    from fundwatch.storage.queries import history_json, list_changes

    with session_scope() as session:
        item = resolve_item(session, item_id)
        item_id = item.id
        data = call_json(item)
        data["text"] = item.text
        data["versions"] = [{"version": v.version, "run_id": v.run_id, "recorded_at": iso(v.recorded_at),
                             "snapshot": v.snapshot} for v in item.versions]
        data["changes"] = [history_json(c, i) for c, i in list_changes(session, item_id=item_id)]
    if fmt == "json":
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for key in ("id", "title", "url", "status", "opens", "deadline", "deadline_text", "amount_text", "competitive",
                "first_seen", "last_seen"):
        if data.get(key) is not None:
            click.echo(f"{key + ':':15}{plain(data[key])}")
    meeting = next_meeting(data["details"], now_local().date())
    if meeting:  # worked out now from the listed dates: a meeting passing is no change of the item
        click.echo(f"{'next meeting:':15}{meeting.isoformat()}")
    for label, value in data["details"].items():
        click.echo(f"  {label}: {value}")
    click.echo(f"\n{data['text']}\n")
    for change in data["changes"]:
        click.echo(f"--- {change['detected_at']} {change['change']} (run {change['run_id']})")
        for name, (old, new) in change["fields"].items():
            if name != "text":
                click.echo(f"    {name}: {shorten(old, 60)} → {shorten(new, 60)}")
        if change["diff"]:
            click.echo(change["diff"])


def sources(sources_file, fmt):
    """Configured sources with their last run's status."""
    from fundwatch.storage.db import session_scope
    from fundwatch.storage.queries import last_runs
    from fundwatch.storage.reasons import reason_en

    configured = load_sources(sources_file)
    with session_scope() as session:
        latest = last_runs(session)
        rows = []
        for source in configured:
            run = latest.get(source.id)
            rows.append({**source.to_json(), "last_run": run.id if run else None,
                         "last_status": run.status if run else None,
                         "last_started_at": iso(run.started_at) if run else None,
                         "last_reason": reason_en(run.reason_code, run.reason_params) or None if run else None})
    if fmt == "table":
        for row in rows:
            row["last_started_at"] = _local(row["last_started_at"])
    emit(rows, fmt, ["id", "agency", "spider", "last_status", "last_started_at", "last_reason"],
         shrink=["last_reason", "agency"])
