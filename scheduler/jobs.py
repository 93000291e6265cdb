"""The scheduler's job functions. APScheduler keeps jobs in the database by reference, so each is
a plain module-level function named "fundwatch.scheduler.jobs:<name>", with JSON-like arguments.

The crawl job is `fundwatch crawl`: the crawl cycle (job `crawl`: every source without a schedule
of its own) or one source on its own schedule (job `crawl:<source id>`) goes through
`fundwatch.crawl.crawl_sources`, a child process per core (each host group whole in one), with a
timeout, and every run is recorded even when a child hangs or dies. As each source's run closes,
its alert state is evaluated (scheduler/alerts.py).

The digest job first waits for the crawls in progress (a slow 06:00 crawl, or crawls that are
due together with the digest after downtime), so the digest carries what they find.

Stopping: `STOPPING` is set when the scheduler is asked to stop (SIGTERM, SIGINT); a job that has
not started yet (queued behind others) does not start but is marked due again, so the next start
runs it; `terminate_children()` asks the crawls in progress to close their runs (SIGTERM to each
child's process group, through the process handle its job holds; SIGKILL after a grace period);
host groups of a cycle not started yet do not start, and the cycle is due again at the next start."""

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

from fundwatch.crawl import crawl_sources
from fundwatch.digest.sending import send_due
from fundwatch.scheduler.alerts import evaluate_source
from fundwatch.scheduler.models import JOBS_TABLE as TABLE
from fundwatch.sources import SourcesError, load_sources
from fundwatch.storage.db import get_engine

log = logging.getLogger("fundwatch.scheduler")

CYCLE_ID = "crawl"  # the crawl cycle: every source without a schedule of its own
STOPPING = threading.Event()
_active_lock = threading.Lock()
_active: dict[int, list[str]] = {}  # job thread id -> the sources its crawl has not closed yet
_children: dict[int, list[subprocess.Popen]] = {}  # job thread id -> its crawl children, once started
DIGEST_SETTLE = 2.0  # seconds for crawls submitted in the same pass as the digest to show up
DIGEST_WAIT_MAX = 2 * 3600.0  # the digest waits at most this long for crawls in progress


def crawl_job_id(source_id: str | None) -> str:
    """The job of a source on its own schedule, or (None) the crawl cycle."""
    return CYCLE_ID if source_id is None else f"crawl:{source_id}"


def cycle_sources(sources) -> list:
    """The sources the crawl cycle crawls: every one without a schedule of its own."""
    return [s for s in sources if not s.schedule]


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


def crawl(source_id: str | None = None, sources_file: str | None = None, timeout: float | None = None,
          settings: dict[str, str] | None = None) -> str:
    """Crawl SOURCE_ID, or (None) the cycle: every source without a schedule of its own, as
    `fundwatch crawl` does (a child process per core, each host group whole in one). Each run is
    recorded, and each source's alerts evaluated as its run closes. Returns "ok" when every source ran (a failed run counts: it is recorded), "failed"
    when one could not (locked, database away), "postponed" when the scheduler stopped it."""

    job_id = crawl_job_id(source_id)
    if STOPPING.is_set():
        postpone(job_id)
        return "postponed"
    try:
        sources = load_sources(sources_file)
        chosen = [sources.get(source_id)] if source_id else cycle_sources(sources)
    except SourcesError as exc:
        log.error("%s not started: %s", _what(source_id), exc)
        return "error"
    me = threading.get_ident()
    with _active_lock:
        _active[me] = [s.id for s in chosen]
        _children[me] = []
    started = time.monotonic()

    def child_started(child: subprocess.Popen) -> None:  # from the thread of the group it crawls
        with _active_lock:
            _children[me].append(child)

    try:
        results = crawl_sources(chosen, sources.path, timeout=timeout, settings=settings,
                                on_child=child_started, on_result=_closed, stopping=STOPPING)
    finally:
        with _active_lock:
            _active.pop(me, None)
            _children.pop(me, None)
    ran = sum(1 for r in results if r.ran)
    log.info("%s: %d of %d sources ran (%.0f s)", _what(source_id), ran, len(chosen), time.monotonic() - started)
    everything = len(results) == len(chosen) and all(r.status in ("ok", "partial") for r in results)
    if STOPPING.is_set() and not everything:
        postpone(job_id)  # stopped by us, not by the sites: crawl again at the next start
        return "postponed"
    return "ok" if ran == len(chosen) else "failed"


def _what(source_id: str | None) -> str:
    return f"crawl of {source_id}" if source_id else "crawl cycle"


def _closed(source, result) -> None:
    """A source's run closed (or could not begin): say so, and evaluate its alerts."""
    with _active_lock:
        for pending in _active.values():
            if source.id in pending:
                pending.remove(source.id)
    if result.ran:
        log.info("crawl of %s: %s (run %s)%s", source.id, result.status, result.run_id,
                 f": {result.message}" if result.message and result.status != "ok" else "")
    elif result.status == "locked":
        log.warning("crawl of %s not run: %s", source.id, result.message)
    else:
        log.error("crawl of %s could not run: %s", source.id, result.message)
    if STOPPING.is_set() and result.status not in ("ok", "partial"):
        return  # stopped by us: not the site's failure
    try:
        evaluate_source(source.id)
    except Exception:  # noqa: BLE001 - an alert problem must not hide the crawl's own outcome
        log.exception("evaluating the alerts of %s failed", source.id)


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
        return sorted(sid for pending in _active.values() for sid in pending)


def crawl_children() -> list[subprocess.Popen]:
    """The crawl processes of the crawls in progress, as their jobs started them."""
    with _active_lock:
        return [child for children in _children.values() for child in children]
def _signal_group(child: subprocess.Popen, sig: int) -> None:
    if child.poll() is not None:
        return
    try:
        os.killpg(child.pid, sig)  # crawl_group starts each child in its own session: pgid == pid
    except (ProcessLookupError, PermissionError):
        child.send_signal(sig)


def terminate_children(grace: float, poll: float = 0.1, limit: float | None = None) -> None:
    """Until no crawl job is running: SIGTERM each crawl child once (Scrapy then closes the spider
    and its run as 'shutdown'); a child still there after GRACE seconds gets SIGKILL (its run is
    then closed by crawl_group as failed). Gives up after LIMIT seconds (default grace + 60)."""
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
