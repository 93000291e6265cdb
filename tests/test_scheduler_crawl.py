"""The scheduler with real crawls: the crawl cycle is `fundwatch crawl` of its sources (each run
recorded, its alerts evaluated); a hung crawl is killed and recorded as failed with the reason;
SIGTERM during a crawl stops the scheduler cleanly, leaving no run half-written and no lock."""

from __future__ import annotations

import datetime as dt
import functools
import signal
import subprocess
import sys

import pytest
from sqlalchemy import select

import fundwatch.crawl as crawl_module
from fundwatch.crawl import FAST_SETTINGS, crawl_source
from fundwatch.scheduler.core import CYCLE_ID, SchedulerService, desired_jobs, make_scheduler, sync_jobs
from fundwatch.scheduler.models import AlertState
from fundwatch.scheduler.schedule import SchedulerSettings
from fundwatch.sources import load_sources
from fundwatch.storage.db import get_engine, session_scope
from fundwatch.storage.models import Run, SourceLock
from helpers import MUCF, wait_for, write_page_sources


def runs(engine) -> list[Run]:
    with session_scope(engine) as session:
        return list(session.scalars(select(Run).order_by(Run.id)))


def lock_rows(engine) -> list[str]:
    with session_scope(engine) as session:
        return [r.source_id for r in session.scalars(select(SourceLock))]


@pytest.mark.slow
def test_a_scheduled_crawl_records_its_run_and_evaluates_alerts(sqlite_url, mirror, crawl_env):
    engine = get_engine(sqlite_url)
    sources = load_sources(write_page_sources(crawl_env, [{"id": MUCF}]))
    settings = SchedulerSettings.from_env(jitter=0)
    specs = desired_jobs(sources, settings, timeout=60, crawl_settings=FAST_SETTINGS)
    service = SchedulerService(engine, specs, settings.tz, stop_grace=5, wakeup_interval=0.1)
    service.start()
    try:
        service.scheduler.modify_job(CYCLE_ID, next_run_time=dt.datetime.now(settings.tz))
        service.scheduler.wakeup()
        wait_for(lambda: [r for r in runs(engine) if r.status != "running"], timeout=30, what="the crawl's run")
        wait_for(lambda: alert_state(engine), timeout=5, what="the alert evaluation")
    finally:
        service.stop()
    [run] = runs(engine)
    assert (run.source_id, run.status, run.items) == (MUCF, "ok", 1)
    assert alert_state(engine) == "ok"
    assert lock_rows(engine) == []


def alert_state(engine):
    with session_scope(engine) as session:
        row = session.get(AlertState, MUCF)
        return row.state if row else None


@pytest.mark.slow
def test_a_hung_crawl_is_killed_and_its_run_recorded_as_failed(sqlite_url, hung, crawl_env, monkeypatch):
    """A site that never answers: after the timeout the child gets SIGTERM, then (Scrapy waiting on
    the hung download) SIGKILL; the run is closed as failed with the timeout as its reason."""
    monkeypatch.setenv("FUNDWATCH_MIRROR", hung.url)
    monkeypatch.setattr(crawl_module, "_stop", functools.partial(crawl_module._stop, grace=1.0))  # 10 s in production
    engine = get_engine(sqlite_url)
    sources = load_sources(write_page_sources(crawl_env, [{"id": MUCF}]))
    result = crawl_source(sources.get(MUCF), sources.path, timeout=2, settings=FAST_SETTINGS)
    assert result.status == "failed"
    assert result.message == "the crawl was stopped after 2 s (timeout)"
    [run] = runs(engine)
    assert (run.id, run.status, run.reason_code, run.reason_params) == (result.run_id, "failed", "timeout", {"seconds": 2})
    assert run.finished_at is not None
    assert lock_rows(engine) == []


def seed_due_crawl(engine, sources, **spec_args) -> None:
    """Store the jobs as a scheduler would, with the crawl already due (missed while down)."""
    settings = SchedulerSettings.from_env(jitter=0)
    sched = make_scheduler(engine, settings.tz)
    sched.start(paused=True)
    try:
        sync_jobs(sched, desired_jobs(sources, settings, **spec_args))
        sched.modify_job(CYCLE_ID, next_run_time=dt.datetime.now(settings.tz) - dt.timedelta(minutes=1))
    finally:
        sched.shutdown(wait=False)


@pytest.mark.parametrize("how, options, reason", [
    # Scrapy closes the spider and its run itself once the download in flight gives up.
    ("closed by the crawl", ["--set", "DOWNLOAD_TIMEOUT=2", "--set", "RETRY_TIMES=0", "--stop-grace", "20"],
     "finish_reason"),
    # The crawl does not close within the grace: killed, its run closed for it.
    ("killed after the grace", ["--stop-grace", "1"], "crashed"),
])
@pytest.mark.slow
def test_sigterm_during_a_crawl_stops_cleanly(sqlite_url, hung, crawl_env, monkeypatch, how, options, reason):
    monkeypatch.setenv("FUNDWATCH_MIRROR", hung.url)
    engine = get_engine(sqlite_url)
    sources = load_sources(write_page_sources(crawl_env, [{"id": MUCF}]))
    seed_due_crawl(engine, sources)
    proc = subprocess.Popen([sys.executable, "-m", "fundwatch.cli", "scheduler", "run", "--sources", sources.path,
                             "--jitter", "0", *options], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: [r for r in runs(engine) if r.status == "running"], timeout=30, what="the catch-up crawl")
        wait_for(lambda: hung.conns, timeout=30, what="the crawl's first request")  # Scrapy is up
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert "SIGTERM received: stopping" in stderr and "scheduler stopped" in stderr
    [run] = runs(engine)
    assert (run.status, run.reason_code) == ("failed", reason), stderr
    assert run.finished_at is not None
    assert lock_rows(engine) == []  # neither the source's nor the scheduler's
    # Stopped by us, not by the site: the crawl is due again at the next start.
    sched = make_scheduler(engine, dt.UTC)
    sched.start(paused=True)
    try:
        assert sched.get_job(CYCLE_ID).next_run_time <= dt.datetime.now(dt.UTC)
    finally:
        sched.shutdown(wait=False)
