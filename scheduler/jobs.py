"""The scheduler's job functions. APScheduler keeps jobs in the database by reference, so each is
a plain module-level function named "fundwatch.scheduler.jobs:<name>", with JSON-like arguments.

A crawl job is `fundwatch crawl` for one source: `fundwatch.crawl.crawl_source` runs `scrapy crawl`
in a child process with a timeout, and the run is recorded even when the child hangs or dies.
After each crawl the source's alert state is evaluated (scheduler/alerts.py).

The digest job first waits for the crawls in progress (a slow 06:00 crawl, or crawls that are
due together with the digest after downtime), so the digest carries what they find.

Stopping: `STOPPING` is set when the scheduler is asked to stop (SIGTERM, SIGINT); a job that has
not started yet (queued behind others) does not start but is marked due again, so the next start
runs it; `terminate_children()` asks the crawls in progress to close their runs (SIGTERM to each
child's process group, through the process handle its job holds; SIGKILL after a grace period)."""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import subprocess
import threading
import time

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from fundwatch.crawl import crawl_source
from fundwatch.digest.sending import send_due
from fundwatch.scheduler.alerts import evaluate_source
from fundwatch.scheduler.models import JOBS_TABLE as TABLE
from fundwatch.sources import SourcesError, load_sources
from fundwatch.storage.db import get_engine

log = logging.getLogger("fundwatch.scheduler")

STOPPING = threading.Event()
_active_lock = threading.Lock()
_active: dict[int, str] = {}  # thread id -> source id of the crawls in progress
_children: dict[int, subprocess.Popen] = {}  # thread id -> its crawl's `scrapy crawl` child, once started
DIGEST_SETTLE = 2.0  # seconds for crawls submitted in the same pass as the digest to show up
DIGEST_WAIT_MAX = 2 * 3600.0  # the digest waits at most this long for crawls in progress


def postpone(job_id: str) -> None:
    """Mark a stored job due again (it was to run just as the scheduler stopped): the next start
    runs it. Written to the job store directly: the stopping scheduler no longer looks jobs up."""


    try:
        store = SQLAlchemyJobStore(engine=get_engine(), tablename=TABLE)
        store.start(BackgroundScheduler(), "default")
        job = store.lookup_job(job_id)
        if job is not None:
            job._modify(next_run_time=dt.datetime.now(dt.UTC))
            store.update_job(job)
            log.info("%s marked due again (the scheduler is stopping): it runs at the next start", job.name)
    except Exception:  # noqa: BLE001
        log.exception("could not mark %s due again: it runs at its next scheduled time", job_id)


def crawl(source_id: str, sources_file: str | None = None, timeout: float | None = None,
          settings: dict[str, str] | None = None) -> str:
    """Crawl one source in a child process and record its run; then evaluate its alerts."""

    if STOPPING.is_set():
        postpone(f"crawl:{source_id}")
        return "postponed"
    try:
        sources = load_sources(sources_file)
        source = sources.get(source_id)
    except SourcesError as exc:
        log.error("crawl of %s not started: %s", source_id, exc)
        return "error"
    with _active_lock:
        _active[threading.get_ident()] = source_id
    try:
        started = time.monotonic()
        result = crawl_source(source, sources.path, timeout=timeout, settings=settings, on_child=_started)
    finally:
        with _active_lock:
            _active.pop(threading.get_ident(), None)
            _children.pop(threading.get_ident(), None)
    took = time.monotonic() - started
    if result.ran:
        log.info("crawl of %s: %s (run %s, %.0f s)%s", source_id, result.status, result.run_id, took,
                 f": {result.message}" if result.message and result.status != "ok" else "")
    elif result.status == "locked":
        log.warning("crawl of %s not run: %s", source_id, result.message)
    else:
        log.error("crawl of %s could not run: %s", source_id, result.message)
    if STOPPING.is_set() and result.status not in ("ok", "partial"):
        postpone(f"crawl:{source_id}")  # stopped by us, not by the site: crawl again at the next start
        return result.status
    try:

        evaluate_source(source_id)
    except Exception:  # noqa: BLE001 - an alert problem must not hide the crawl's own outcome
        log.exception("evaluating the alerts of %s failed", source_id)
    return result.status


def send_digests():
    """The weekly digest: `digest.sending.send_due()` sends what is due; its delivery records make a
    repeated (catch-up) run send nothing twice."""

    waited = 0.0
    if not STOPPING.is_set():
        STOPPING.wait(DIGEST_SETTLE)
        if active_crawls():
            log.info("digest: waiting for the crawls of %s to finish", ", ".join(active_crawls()))
        while active_crawls() and not STOPPING.is_set() and waited < DIGEST_WAIT_MAX:
            STOPPING.wait(1.0)
            waited += 1.0
    if STOPPING.is_set():
        postpone("digest")
        return None

    summary = send_due()
    log.info("digest: %s", summary)
    return summary


def active_crawls() -> list[str]:
    with _active_lock:
        return sorted(_active.values())


def _started(child: subprocess.Popen) -> None:
    with _active_lock:
        _children[threading.get_ident()] = child


def crawl_children() -> list[subprocess.Popen]:
    """The `scrapy crawl` processes of the crawls in progress, as their jobs started them."""
    with _active_lock:
        return list(_children.values())


def _signal_group(child: subprocess.Popen, sig: int) -> None:
    if child.poll() is not None:
        return
    try:
        os.killpg(child.pid, sig)  # crawl_source starts each child in its own session: pgid == pid
    except (ProcessLookupError, PermissionError):
        child.send_signal(sig)


def terminate_children(grace: float, poll: float = 0.1, limit: float | None = None) -> None:
    """Until no crawl job is running: SIGTERM each crawl child once (Scrapy then closes the spider
    and its run as 'shutdown'); a child still there after GRACE seconds gets SIGKILL (its run is
    then closed by crawl_source as failed). Gives up after LIMIT seconds (default grace + 60)."""
    signalled: dict[int, float] = {}
    give_up = time.monotonic() + (grace + 60 if limit is None else limit)
    while True:
        if not active_crawls():
            return
        now = time.monotonic()
        if now > give_up:
            log.error("crawls of %s still running after %.0f s: not waiting any longer", ", ".join(active_crawls()),
                      now - give_up + (grace + 60 if limit is None else limit))
            return
        for child in crawl_children():
            if child.pid not in signalled:
                log.info("stopping crawl process %s", child.pid)
                _signal_group(child, signal.SIGTERM)
                signalled[child.pid] = now
            elif now - signalled[child.pid] > grace:
                log.warning("crawl process %s did not stop within %.0f s: killing it", child.pid, grace)
                _signal_group(child, signal.SIGKILL)
                signalled[child.pid] = float("inf")  # SIGKILL once
        time.sleep(poll)
