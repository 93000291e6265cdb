"""The bodies of `fundwatch scheduler run | jobs | alerts` (declared in fundwatch.cli.scheduler)."""

from __future__ import annotations

import logging
import signal
import sys
import threading

import click

from fundwatch.cli.common import parse_overrides
from fundwatch.cli.output import emit, plural
from fundwatch.scheduler.alerts import AlertError, alert_states, evaluate_source
from fundwatch.scheduler.core import SchedulerRunning, SchedulerService, desired_jobs, list_jobs, scheduler_holder
from fundwatch.scheduler.schedule import ScheduleError, SchedulerSettings
from fundwatch.sources import load_sources
from fundwatch.storage.db import get_engine


def schedule_specs(sources_file, tz, crawl_schedule, digest_schedule, jitter, timeout=None, crawl_settings=None):

    try:
        settings = SchedulerSettings.from_env(tz=tz, crawl_schedule=crawl_schedule, digest_schedule=digest_schedule,
                                              jitter=jitter)
        return settings, desired_jobs(load_sources(sources_file), settings, timeout=timeout,
                                      crawl_settings=crawl_settings)
    except ScheduleError as exc:
        raise click.ClickException(str(exc)) from None


def run(sources_file, tz, crawl_schedule, digest_schedule, jitter, timeout, overrides, workers, stop_grace):
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    settings, specs = schedule_specs(sources_file, tz, crawl_schedule, digest_schedule, jitter, timeout,
                                   dict(parse_overrides(overrides)))
    stop = threading.Event()

    def on_signal(signum, _frame):
        logging.getLogger("fundwatch.scheduler").info("%s received: stopping", signal.Signals(signum).name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    service = SchedulerService(get_engine(), specs, settings.tz, workers=workers, stop_grace=stop_grace)
    try:
        service.start()
    except SchedulerRunning as exc:
        raise click.ClickException(str(exc)) from None
    try:
        service.wait(stop)
    finally:
        service.stop()


def jobs(sources_file, tz, crawl_schedule, digest_schedule, jitter, fmt):
    settings, specs = schedule_specs(sources_file, tz, crawl_schedule, digest_schedule, jitter)
    engine = get_engine()
    rows = list_jobs(engine, specs, settings.tz)
    if fmt == "table":  # what each crawl job crawls: the cycle names how many sources
        rows = [{**row, "crawls": ", ".join(row["sources"]) if len(row["sources"]) < 2
                 else plural(len(row["sources"]), "source")} for row in rows]
    emit(rows, fmt, ["id", "crawls", "schedule", "next_run_time", "state"])
    if fmt == "table":
        held = scheduler_holder(engine)
        click.echo(f"scheduler: running (pid {held['pid']} on {held['hostname']})" if held
                   else "scheduler: not running (`fundwatch scheduler run` starts it)", err=True)


def alerts(check, sources_file, fmt):
    sources = load_sources(sources_file)
    try:
        if check:
            for source in sources:
                evaluate_source(source.id)
        rows = alert_states([s.id for s in sources])
    except AlertError as exc:
        raise click.ClickException(str(exc)) from None
    emit(rows, fmt, ["source", "state", "since", "detail"], shrink=["detail", "source"])
