"""What several commands share: `--set` overrides, crawling a list of sources with a line per
source, sending the due digests."""

from __future__ import annotations

import signal
import threading

import click
from sqlalchemy.exc import DBAPIError

from fundwatch.cli.output import plural
from fundwatch.crawl import crawl_sources
from fundwatch.digest.sending import send_due
from fundwatch.storage.db import describe_error, get_engine, session_factory
from fundwatch.storage.runlife import recover_left_runs

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def parse_overrides(overrides):
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.UsageError(f"--set takes KEY=VALUE, not {item!r}")
        yield key, value


def result_row(result) -> dict:
    s = result.summary
    return {"source": result.source_id, "status": result.status, "run_id": result.run_id,
            "pages": s.get("pages"), "items": s.get("items"), "new": s.get("new"), "updated": s.get("updated"),
            "removed": s.get("removed"), "reappeared": s.get("reappeared"), "reason": result.message or None}


def _interrupt(signum, _frame) -> None:
    for sig in STOP_SIGNALS:  # one clean-up: a second signal must not cut it short
        signal.signal(sig, signal.SIG_IGN)
    raise KeyboardInterrupt(signal.Signals(signum).name)


def stop_crawls_on_signals() -> None:
    """SIGTERM and SIGHUP (a service manager, a closed terminal) stop the crawl as Ctrl-C does: its
    children are stopped, their runs closed, the locks released."""
    for sig in STOP_SIGNALS:
        if sig != signal.SIGINT or signal.getsignal(sig) is signal.default_int_handler:
            signal.signal(sig, _interrupt)


def crawl_all(chosen, sources_path, timeout, settings, echo=True):
    """Crawl CHOSEN: a child process per core, each host group whole in one (fundwatch/crawl.py);
    a host still gets one request at a time at its pace (spiders/pacing.py). A line per source as
    it ends; the results in CHOSEN's order."""
    stop_crawls_on_signals()
    try:  # migrate once here, not racing in every child; then apply what awaited the database
        for line in recover_left_runs(session_factory(get_engine())):
            click.echo(line, err=True)
    except DBAPIError as exc:  # each source says it again, or gets through when the database is back
        click.echo(f"fundwatch: {describe_error(exc)}", err=True)
    printing = threading.Lock()

    def echo_result(source, result) -> None:
        if echo:
            with printing:
                _echo_result(source, result)

    return crawl_sources(chosen, sources_path, timeout=timeout, settings=settings, on_result=echo_result)


def _echo_result(source, result) -> None:
    row = result_row(result)
    if result.ran:
        line = (f"{source.id}: {row['status']} (run {row['run_id']}): {plural(row['pages'] or 0, 'page')}, "
                f"{plural(row['items'] or 0, 'item')}; {row['new'] or 0} new, {row['updated'] or 0} updated, "
                f"{row['removed'] or 0} removed, {row['reappeared'] or 0} reappeared")
        if result.status != "ok" and result.message:
            line += f" — {result.message}"
    else:
        line = f"{source.id}: {result.status}: {result.message}"
    click.echo(line, err=not result.ran)


def send_digests() -> None:
    summary = send_due()
    click.echo(f"digest: {summary}")
