"""The read commands: calls, history, runs, show, sources."""

from __future__ import annotations

import datetime as dt
import json

import click

from fundwatch.cli.common import shorten, sources_option
from fundwatch.cli.output import emit, format_option
from fundwatch.sources import load_sources
from fundwatch.storage import drift
from fundwatch.storage.db import session_scope
from fundwatch.storage.models import Item
from fundwatch.storage.queries import (
    CALL_KEYS,
    HISTORY_KEYS,
    RUN_KEYS,
    call_json,
    history_json,
    iso,
    last_runs,
    list_changes,
    list_items,
    list_runs,
    now_local,
    run_json,
)
from fundwatch.storage.reasons import reason_en


@click.command()
@click.option("--agency", help="Only this agency (slug, e.g. migrationsverket).")
@click.option("--kind", type=click.Choice(["funding_call", "procurement", "collaboration", "news", "page"]))
@click.option("--open", "only_open", is_flag=True, help="Only items whose status is open.")
@click.option("--all", "include_removed", is_flag=True, help="Include removed items.")
@format_option()
def calls(agency, kind, only_open, include_removed, fmt):
    """List watched items: calls, procurements, news and pages, with their current state."""
    now = now_local()
    with session_scope() as session:
        rows = [call_json(i, now) for i in list_items(session, agency=agency, kind=kind, include_removed=include_removed)]
    if only_open:
        rows = [r for r in rows if r["status"] == "open"]
    emit(rows, fmt, ["agency", "kind", "status", "deadline", "amount_text", "title"], CALL_KEYS,
         widths={"title": 60, "amount_text": 16})


@click.command()
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="Only changes detected on or after this date (YYYY-MM-DD, UTC).")
@click.option("--agency", help="Only this agency.")
@click.option("--item", "item_id", help="Only this item id (agency/kind/slug).")
@format_option()
def history(since, agency, item_id, fmt):
    """The change history: new, updated (field by field), removed, reappeared."""
    since_utc = since.replace(tzinfo=dt.UTC) if since else None
    with session_scope() as session:
        rows = [history_json(c, i) for c, i in list_changes(session, since=since_utc, agency=agency, item_id=item_id)]
    if fmt == "table":
        for row in rows:
            row["fields"] = ", ".join(f"{k}: {shorten(v[0])} → {shorten(v[1])}" for k, v in row["fields"].items()) or None
    emit(rows, fmt, ["id", "detected_at", "change", "item_id", "fields"], HISTORY_KEYS,
         widths={"item_id": 50, "fields": 70})


@click.group(invoke_without_command=True)
@click.option("--source", help="Only this source id.")
@click.option("--limit", type=int, default=50, show_default=True, help="Newest runs first, at most this many.")
@format_option()
@click.pass_context
def runs(ctx, source, limit, fmt):
    """Crawl runs with their status and, when not ok, the reason.

    `fundwatch runs accept SOURCE` accepts a source's new shape after the drift guard made its
    runs partial (fields_missing, items_dropped)."""
    if ctx.invoked_subcommand is not None:
        return
    with session_scope() as session:
        found = list_runs(session, source=source, limit=limit)
        rows = [run_json(r, a) for r, a in found]
    if fmt == "table":  # warnings are stored on the run, not part of its status or JSON shape
        for row, (run, _agency) in zip(rows, found):
            notes = [reason_en(w["code"], w.get("params")) for w in run.warnings or []]
            row["reason"] = "; ".join([row["reason"] or ""][: bool(row["reason"])] + [f"warning: {n}" for n in notes]) or None
    emit(rows, fmt, ["id", "source", "started_at", "status", "pages", "items", "errors", "reason"], RUN_KEYS,
         widths={"reason": 70})


@runs.command("accept")
@click.argument("source")
def accept_shape(source):
    """Make SOURCE's latest run the drift guard's baseline: its items' shape is the new normal."""
    load_sources().get(source)  # an unknown source id is a clear error
    with session_scope() as session:
        run = drift.accept(session, source)
        click.echo(f"accepted run {run.id} of {source} as the baseline; its next runs are compared with it")


@click.command()
@click.argument("item_id")
@format_option(("text", "json"), default="text")
def show(item_id, fmt):
    """One item: its current state, text, every version and the diffs between them."""
    with session_scope() as session:
        item = session.get(Item, item_id)
        if item is None:
            raise click.ClickException(f"no item {item_id!r} (see `fundwatch calls --all`)")
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
            click.echo(f"{key + ':':15}{data[key]}")
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


@click.command()
@sources_option
@format_option(("table", "json"))
def sources(sources_file, fmt):
    """Configured sources with their last run's status."""
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
    emit(rows, fmt, ["id", "agency", "spider", "last_status", "last_started_at", "last_reason"], widths={"last_reason": 60})
