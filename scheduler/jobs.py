"""The scheduler's job functions. APScheduler keeps jobs in the database by reference, so each is
a plain module-level function named "scheduler.jobs:<name>", with JSON-like arguments.

A crawl job is `fundwatch crawl` for one source: `fundwatch.crawl.crawl_source` runs `scrapy crawl`
in a child process with a timeout, and the run is recorded even when the child hangs or dies.
After each crawl the source's alert state is evaluated (scheduler/alerts.py).

Stopping: `STOPPING` is set when the scheduler is asked to stop (SIGTERM, SIGINT); a job that has
not started its crawl yet returns at once, and `terminate_children()` asks the crawls in progress
to close their runs (SIGTERM to each child's process group; SIGKILL after a grace period)."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path

log = logging.getLogger("fundwatch.scheduler")

STOPPING = threading.Event()
_active_lock = threading.Lock()
_active: dict[int, str] = {}  # thread id -> source id of the crawls in progress


def crawl(source_id: str, sources_file: str | None = None, timeout: float | None = None,
          settings: dict[str, str] | None = None) -> str:
    """Crawl one source in a child process and record its run; then evaluate its alerts."""
    from fundwatch.crawl import crawl_source
    from fundwatch.sources import SourcesError, load_sources

    if STOPPING.is_set():
        log.info("crawl of %s not started: the scheduler is stopping", source_id)
        return "skipped"
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
        result = crawl_source(source, sources.path, timeout=timeout, settings=settings)
    finally:
        with _active_lock:
            _active.pop(threading.get_ident(), None)
    took = time.monotonic() - started
    if result.ran:
        log.info("crawl of %s: %s (run %s, %.0f s)%s", source_id, result.status, result.run_id, took,
                 f": {result.message}" if result.message and result.status != "ok" else "")
    elif result.status == "locked":
        log.warning("crawl of %s not run: %s", source_id, result.message)
    else:
        log.error("crawl of %s could not run: %s", source_id, result.message)
    try:
        from scheduler.alerts import evaluate_source

        evaluate_source(source_id)
    except Exception:  # noqa: BLE001 - an alert problem must not hide the crawl's own outcome
        log.exception("evaluating the alerts of %s failed", source_id)
    return result.status


def send_digests():
    """The weekly digest: `digest.sending.send_due()` sends what is due; its delivery records make a
    repeated (catch-up) run send nothing twice."""
    if STOPPING.is_set():
        log.info("digest not sent: the scheduler is stopping (it runs at the next start)")
        return None
    from digest.sending import send_due  # imported here: the digest may be installed later

    summary = send_due()
    log.info("digest: %s", summary)
    return summary


def active_crawls() -> list[str]:
    with _active_lock:
        return sorted(_active.values())


def child_pids() -> list[int]:
    """Pids of this process's children (the `scrapy crawl` processes), from /proc."""
    me = os.getpid()
    pids = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()  # after "pid (comm) "
        if len(fields) > 1 and int(fields[1]) == me:
            pids.append(int(entry.name))
    return pids


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # crawl_source starts each child in its own session: pgid == pid
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


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
        for pid in child_pids():
            if pid not in signalled:
                log.info("stopping crawl process %s", pid)
                _signal_group(pid, signal.SIGTERM)
                signalled[pid] = now
            elif now - signalled[pid] > grace:
                log.warning("crawl process %s did not stop within %.0f s: killing it", pid, grace)
                _signal_group(pid, signal.SIGKILL)
                signalled[pid] = float("inf")  # SIGKILL once
        time.sleep(poll)
