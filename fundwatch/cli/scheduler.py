"""`fundwatch scheduler run | jobs | alerts`: unattended operation. Options and help here; the bodies
are in fundwatch.cli.scheduling, imported when a command runs (see `implemented_in`)."""

from __future__ import annotations

import click

from fundwatch.cli.output import format_option, implemented_in


def _schedule_options(func):
    options = [
        click.option("--sources", "sources_file", type=click.Path(dir_okay=False),
                     help="Sources file (default: $FUNDWATCH_SOURCES or the shipped sources.toml)."),
        click.option("--timezone", "tz", metavar="ZONE",
                     help="Time zone of the schedules (default: $FUNDWATCH_TIMEZONE or Europe/Stockholm)."),
        click.option("--crawl-schedule", metavar="CRON",
                     help="Cron expression of every crawl without its own `schedule` "
                          "(default: $FUNDWATCH_CRAWL_SCHEDULE or '0 6 * * *')."),
        click.option("--digest-schedule", metavar="CRON",
                     help="Cron expression of the weekly digest (default: $FUNDWATCH_DIGEST_SCHEDULE or '0 7 * * mon')."),
        click.option("--jitter", type=click.IntRange(min=0), metavar="SECONDS",
                     help="Random delay 0..SECONDS added to each crawl (default: $FUNDWATCH_CRAWL_JITTER or 300)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.group()
def scheduler():
    """Unattended operation: crawl every source on its schedule, send the weekly digest, alert the
    operator ($FUNDWATCH_ADMIN_EMAIL) when a source starts failing, goes silent or recovers."""


@scheduler.command()
@_schedule_options
@click.option("--timeout", type=click.FloatRange(min=1), metavar="SECONDS",
              help="Seconds before a crawl is killed (default: $FUNDWATCH_CRAWL_TIMEOUT or 1800).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Scrapy setting for the crawls.")
@click.option("--workers", type=click.IntRange(min=1), default=4, show_default=True,
              help="Jobs (crawls, the digest) that may run at the same time.")
@click.option("--stop-grace", type=click.FloatRange(min=0), default=30.0, show_default=True, metavar="SECONDS",
              help="On SIGTERM/SIGINT, how long a crawl may take to close its run before it is killed.")
def run(sources_file, tz, crawl_schedule, digest_schedule, jitter, timeout, overrides, workers, stop_grace):
    """Run the scheduler until SIGTERM or SIGINT (Ctrl-C).

    Jobs live in the database (table apscheduler_jobs): a run missed while the scheduler was down
    or the machine slept runs once when it is back. On SIGTERM/SIGINT no new run starts, crawls in
    progress close their runs, and the process exits 0."""
    implemented_in("fundwatch.cli.scheduling:run", sources_file=sources_file, tz=tz, crawl_schedule=crawl_schedule,
                   digest_schedule=digest_schedule, jitter=jitter, timeout=timeout, overrides=overrides,
                   workers=workers, stop_grace=stop_grace)


@scheduler.command()
@_schedule_options
@format_option(("table", "json"))
def jobs(sources_file, tz, crawl_schedule, digest_schedule, jitter, fmt):
    """Every job, what it crawls and its next run time (ISO 8601 with offset).

    `crawl` is the crawl cycle: every source without a schedule of its own; `crawl:SOURCE` a source
    on its own schedule; `digest` the weekly digest.

    Reads the scheduler's stored jobs without changing them; run it with the scheduler's
    environment. STATE: scheduled; due (missed: runs as soon as the scheduler runs); new or changed
    (the time it gets when the scheduler next starts); removed (no longer configured)."""
    implemented_in("fundwatch.cli.scheduling:jobs", sources_file=sources_file, tz=tz, crawl_schedule=crawl_schedule,
                   digest_schedule=digest_schedule, jitter=jitter, fmt=fmt)


@scheduler.command()
@click.option("--check", is_flag=True,
              help="Evaluate every source now and send the alerts due (for cron: after `fundwatch crawl`).")
@click.option("--sources", "sources_file", type=click.Path(dir_okay=False),
              help="Sources file (default: $FUNDWATCH_SOURCES or the shipped sources.toml).")
@format_option(("table", "json"))
def alerts(check, sources_file, fmt):
    """Each source's alert state: ok, failing (N failed runs in a row) or silent (no items for D days)."""
    implemented_in("fundwatch.cli.scheduling:alerts", check=check, sources_file=sources_file, fmt=fmt)
