"""The `fundwatch` command. Heavy modules (Scrapy, SQLAlchemy) are imported inside the commands
that use them, so `fundwatch --help` starts fast. Exit codes: 0 success, 1 failure, 2 usage."""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
import sys

import click

from fundwatch import __version__
from fundwatch.output import emit, format_option

# Commands that live with their concern, loaded only when used (or listed by --help).
LAZY_COMMANDS = {
    "subscribe": "digest.commands:subscribe",
    "subscribers": "digest.commands:subscribers",
    "unsubscribe": "digest.commands:unsubscribe",
    "digest": "digest.commands:digest",
    "serve": "digest.commands:serve",
    "scheduler": "scheduler.commands:scheduler",
}


class FundwatchGroup(click.Group):
    def list_commands(self, ctx):
        lazy = [n for n, target in LAZY_COMMANDS.items() if importlib.util.find_spec(target.split(":")[0])]
        return sorted(set(super().list_commands(ctx)) | set(lazy))

    def get_command(self, ctx, name):
        command = super().get_command(ctx, name)
        if command is None and name in LAZY_COMMANDS:
            module, _, attr = LAZY_COMMANDS[name].partition(":")
            try:
                command = getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError):
                return None
        return command

    def invoke(self, ctx):
        from fundwatch.errors import USER_ERRORS

        try:
            return super().invoke(ctx)
        except USER_ERRORS() as exc:  # a clear line, no traceback, for what the user can fix
            click.echo(f"fundwatch: error: {exc}", err=True)
            sys.exit(1)


sources_option = click.option("--sources", "sources_file", type=click.Path(dir_okay=False),
                              help="Sources file (default: $FUNDWATCH_SOURCES or the shipped sources.toml).")


@click.group(cls=FundwatchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fundwatch")
def main():
    """fundwatch: watches Swedish agencies' funding calls, procurements and collaboration offers,
    keeps every change, and sends a weekly Swedish digest to subscribed organisations.

    Configuration comes from FUNDWATCH_* environment variables (see the README)."""


# -- crawling ---------------------------------------------------------------------------------
@main.command()
@click.argument("source_ids", nargs=-1, metavar="[SOURCE_ID]...")
@sources_option
@click.option("--timeout", type=float, help="Seconds before a crawl is killed (default $FUNDWATCH_CRAWL_TIMEOUT or 1800).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Scrapy setting for the crawls, e.g. DOWNLOAD_DELAY=0.")
@format_option(("table", "json"))
def crawl(source_ids, sources_file, timeout, overrides, fmt):
    """Crawl sources (default: all), each in its own process, and record their runs.

    Exits 0 when every source ran, even if a run failed (that is a recorded run);
    1 when a source could not be run (unknown id, already running, could not start)."""
    from fundwatch.sources import load_sources

    sources = load_sources(sources_file)
    chosen = [sources.get(s) for s in source_ids] if source_ids else list(sources)
    settings = dict(_parse_overrides(overrides))
    results = _crawl_all(chosen, sources.path, timeout, settings, echo=fmt == "table")
    if fmt == "json":
        emit([_result_row(r) for r in results], "json", [])
    sys.exit(0 if all(r.ran for r in results) else 1)


def _parse_overrides(overrides):
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.UsageError(f"--set takes KEY=VALUE, not {item!r}")
        yield key, value


def _result_row(result) -> dict:
    s = result.summary
    return {"source": result.source_id, "status": result.status, "run_id": result.run_id,
            "pages": s.get("pages"), "items": s.get("items"), "new": s.get("new"), "updated": s.get("updated"),
            "removed": s.get("removed"), "reappeared": s.get("reappeared"), "reason": result.message or None}


def _crawl_all(chosen, sources_path, timeout, settings, echo=True):
    from fundwatch.crawl import crawl_source
    from storage.db import get_engine, session_scope
    from storage.runs import recover_interrupted

    with session_scope(get_engine()) as session:  # migrate once here, not racing in every child
        for run_id in recover_interrupted(session):
            click.echo(f"run {run_id} was left running by a process that is gone: recorded as interrupted", err=True)
    results = []
    for source in chosen:
        result = crawl_source(source, sources_path, timeout=timeout, settings=settings)
        results.append(result)
        if echo:
            row = _result_row(result)
            if result.ran:
                line = (f"{source.id}: {row['status']} (run {row['run_id']}): {row['pages'] or 0} pages, "
                        f"{row['items'] or 0} items; {row['new'] or 0} new, {row['updated'] or 0} updated, "
                        f"{row['removed'] or 0} removed, {row['reappeared'] or 0} reappeared")
                if result.status != "ok" and result.message:
                    line += f" — {result.message}"
            else:
                line = f"{source.id}: {result.status}: {result.message}"
            click.echo(line, err=not result.ran)
    return results


# -- reading ----------------------------------------------------------------------------------
@main.command()
@click.option("--agency", help="Only this agency (slug, e.g. migrationsverket).")
@click.option("--kind", type=click.Choice(["funding_call", "procurement", "collaboration", "news", "page"]))
@click.option("--open", "only_open", is_flag=True, help="Only items whose status is open.")
@click.option("--all", "include_removed", is_flag=True, help="Include removed items.")
@format_option()
def calls(agency, kind, only_open, include_removed, fmt):
    """List watched items: calls, procurements, news and pages, with their current state."""
    from storage.db import session_scope
    from storage.queries import CALL_KEYS, call_json, list_items, now_local

    now = now_local()
    with session_scope() as session:
        rows = [call_json(i, now) for i in list_items(session, agency=agency, kind=kind, include_removed=include_removed)]
    if only_open:
        rows = [r for r in rows if r["status"] == "open"]
    emit(rows, fmt, ["agency", "kind", "status", "deadline", "amount_text", "title"], CALL_KEYS,
         widths={"title": 60, "amount_text": 16})


@main.command()
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="Only changes detected on or after this date (YYYY-MM-DD, UTC).")
@click.option("--agency", help="Only this agency.")
@click.option("--item", "item_id", help="Only this item id (agency/kind/slug).")
@format_option()
def history(since, agency, item_id, fmt):
    """The change history: new, updated (field by field), removed, reappeared."""
    from storage.db import session_scope
    from storage.queries import HISTORY_KEYS, history_json, list_changes

    since_utc = since.replace(tzinfo=dt.UTC) if since else None
    with session_scope() as session:
        rows = [history_json(c, i) for c, i in list_changes(session, since=since_utc, agency=agency, item_id=item_id)]
    if fmt == "table":
        for row in rows:
            row["fields"] = ", ".join(f"{k}: {_short(v[0])} → {_short(v[1])}" for k, v in row["fields"].items()) or None
    emit(rows, fmt, ["id", "detected_at", "change", "item_id", "fields"], HISTORY_KEYS,
         widths={"item_id": 50, "fields": 70})


def _short(value, limit: int = 30) -> str:
    text = "∅" if value is None else str(value).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


@main.command()
@click.option("--source", help="Only this source id.")
@click.option("--limit", type=int, default=50, show_default=True, help="Newest runs first, at most this many.")
@format_option()
def runs(source, limit, fmt):
    """Crawl runs with their status and, when not ok, the reason."""
    from storage.db import session_scope
    from storage.queries import RUN_KEYS, list_runs, run_json
    from storage.reasons import reason_en

    with session_scope() as session:
        found = list_runs(session, source=source, limit=limit)
        rows = [run_json(r, a) for r, a in found]
    if fmt == "table":  # warnings are stored on the run, not part of its status or JSON shape
        for row, (run, _agency) in zip(rows, found):
            notes = [reason_en(w["code"], w.get("params")) for w in run.warnings or []]
            row["reason"] = "; ".join([row["reason"] or ""][: bool(row["reason"])] + [f"warning: {n}" for n in notes]) or None
    emit(rows, fmt, ["id", "source", "started_at", "status", "pages", "items", "errors", "reason"], RUN_KEYS,
         widths={"reason": 70})


@main.command()
@click.argument("item_id")
@format_option(("text", "json"), default="text")
def show(item_id, fmt):
    """One item: its current state, text, every version and the diffs between them."""
    import json

    from storage.db import session_scope
    from storage.models import Item
    from storage.queries import call_json, history_json, iso, list_changes

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
                click.echo(f"    {name}: {_short(old, 60)} → {_short(new, 60)}")
        if change["diff"]:
            click.echo(change["diff"])


@main.command()
@sources_option
@format_option(("table", "json"))
def sources(sources_file, fmt):
    """Configured sources with their last run's status."""
    from fundwatch.sources import load_sources
    from storage.db import session_scope
    from storage.queries import iso, last_runs
    from storage.reasons import reason_en

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


# -- the main job -------------------------------------------------------------------------------
@main.command("run")
@sources_option
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Scrapy setting for the crawls.")
def run_command(sources_file, overrides):
    """The main job: crawl every source, then send the digests that are due."""
    from fundwatch.sources import load_sources

    sources = load_sources(sources_file)
    results = _crawl_all(list(sources), sources.path, None, dict(_parse_overrides(overrides)))
    _send_digests()
    sys.exit(0 if all(r.ran for r in results) else 1)


def _send_digests() -> None:
    if importlib.util.find_spec("digest.sending") is None:
        return
    from digest.sending import send_due

    summary = send_due()
    click.echo(f"digest: {summary}")


@main.command()
@click.option("--dir", "folder", type=click.Path(file_okay=False), default="fundwatch-demo", show_default=True,
              help="Folder for the demo database, cache and outbox (emptied first).")
def demo(folder):
    """The main job against fundwatch's own mirror of the agency sites, served on 127.0.0.1:
    no network needed. Crawls the mirror's first state, then its second, into a fresh database."""
    from fundwatch.demo import run_demo

    run_demo(folder)


@main.group()
def db():
    """Database maintenance."""


@db.command()
def upgrade():
    """Apply the database migrations (also done automatically on first use)."""
    from fundwatch import config
    from storage.db import get_engine, schema_revision

    engine = get_engine(migrate=True)
    click.echo(f"{config.database_url()}: schema at revision {schema_revision(engine)}")


if __name__ == "__main__":
    main()
