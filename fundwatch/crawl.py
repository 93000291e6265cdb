"""Crawling a source: `scrapy crawl` in a child process (the Twisted reactor cannot restart in one
process), with a timeout. This process records the run (storage/runlife.py): the child spools
its items to a file and reports its outcome through a small JSON file; a child that is killed or
dies before reporting leaves its run to be closed here as failed, with the reason.

The child never outlives this process: it dies with the thread that started it (a parent-death
signal), so even a kill -9 here leaves no orphan crawling; the lock records its process group,
which a later crawl taking over the stale lock ends first."""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from fundwatch import config
from fundwatch.sources import Source
from fundwatch.storage.db import DatabaseError, describe_error, get_engine, session_factory
from fundwatch.storage.outcome import RunOutcome
from fundwatch.storage.queries import last_healthy_start
from fundwatch.storage.reasons import reason_en
from fundwatch.storage.runlife import (
    Heartbeat,
    SourceLocked,
    abandon_run,
    apply_run,
    begin_run,
    record_child,
    storage_retry_seconds,
)
from fundwatch.storage.spool import discard_run_files, run_files

DISK_FULL_BYTES = 1024 * 1024  # less free space than this where a crawl writes: the disk is full

# Settings for crawling loopback mirrors (tests, demo, benchmarks): no politeness delays.
FAST_SETTINGS = {"DOWNLOAD_DELAY": "0", "AUTOTHROTTLE_ENABLED": "0", "FUNDWATCH_BACKOFF_BASE": "0",
                 "FUNDWATCH_RETRY_AFTER_MAX": "1", "CONCURRENT_REQUESTS_PER_DOMAIN": "8"}
PR_SET_PDEATHSIG = 1  # linux/prctl.h
# Looked up here, not in the child between fork and exec, where only async-signal-safe work is sound.
_prctl = getattr(ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True), "prctl", None) if sys.platform == "linux" else None


@dataclass
class CrawlResult:
    source_id: str
    status: str  # ok | partial | failed | locked | error
    run_id: int | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    log_file: str | None = None

    @property
    def ran(self) -> bool:
        """The source was crawled and its run recorded (even a failed run)."""
        return self.status in ("ok", "partial", "failed")


def log_dir() -> Path:
    return config.cache_dir().parent / "logs"


def scrapy_command(source: Source, sources_path: str, result_file: str, settings: dict[str, str] | None) -> list[str]:
    cmd = [sys.executable, "-m", "scrapy", "crawl", source.spider, "-a", f"source={source.id}",
           "-a", f"sources_file={sources_path}", "-s", f"FUNDWATCH_RESULT_FILE={result_file}"]
    for key, value in (settings or {}).items():
        cmd += ["-s", f"{key}={value}"]
    return cmd


def api_since(sessions, source: Source) -> str | None:
    """The date an API source asks for changes since: the day before its last healthy run started
    (a day of overlap: the API's dates are local and a change during that run is not missed; an
    unchanged call in the overlap is no change), else the sources file's `since`."""
    if not source.is_api:
        return None
    with sessions() as session:
        started = last_healthy_start(session, source.id)
    if started is None:
        return source.since
    return (started.astimezone(config.timezone()).date() - dt.timedelta(days=1)).isoformat()


def _read(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return {}


def _stop(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM lets Scrapy close the spider (its outcome is then 'shutdown'); SIGKILL after."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def die_with_parent(parent_pid: int) -> None:
    """The crawl child's preexec: the kernel SIGKILLs it when the thread that started it ends
    (however this process dies, kill -9 included), so it never crawls on as an orphan."""
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before the prctl took hold
        os._exit(1)


def crawl_source(source: Source, sources_path: str, *, timeout: float | None = None,
                 settings: dict[str, str] | None = None,
                 on_child: Callable[[subprocess.Popen], None] | None = None) -> CrawlResult:
    """Begin the source's run here, crawl it in a `scrapy crawl` child that spools its items and
    reports its outcome, then apply both here (storage/runlife.py). A database that does not
    answer gives an `error` result naming the problem, not an exception. ON_CHILD is handed the
    child's process handle as soon as it runs (the scheduler stops its crawls through it)."""

    timeout = timeout if timeout is not None else config.seconds("FUNDWATCH_CRAWL_TIMEOUT")
    config.whole_number("FUNDWATCH_REMOVE_AFTER_MISSES", 1)  # a bad value is refused before a run begins
    retry_for = storage_retry_seconds()
    for folder in (config.cache_dir(), log_dir()):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise config.ConfigError(f"FUNDWATCH_CACHE_DIR: cannot create {folder}: {exc.strerror}") from None
    try:
        sessions = session_factory(get_engine())  # migrated here, once per process
        since = api_since(sessions, source)  # before the run begins: a database error here leaves no open run
        run_id = begin_run(sessions, source.id, source.agency, source.spider)
    except SourceLocked as exc:
        return CrawlResult(source.id, "locked", message=str(exc))
    except DatabaseError as exc:
        return CrawlResult(source.id, "error", message=str(exc))
    except DBAPIError as exc:
        where = make_url(config.database_url()).render_as_string(hide_password=True)
        return CrawlResult(source.id, "error", message=f"the run could not be begun: {describe_error(exc)} ({where})")
    log_dir().mkdir(parents=True, exist_ok=True)
    log_file = log_dir() / f"{source.id}.log"
    spool_file, result_file = run_files(run_id)
    settings = {**(settings or {}), "FUNDWATCH_RUN_ID": str(run_id)}
    if since is not None and "FUNDWATCH_SINCE" not in settings:
        settings["FUNDWATCH_SINCE"] = since
    child_env = dict(os.environ)
    child_env.setdefault("SCRAPY_SETTINGS_MODULE", "fundwatch.spiders.settings")  # works from any folder
    try:
        with open(log_file, "w", encoding="utf-8") as log, Heartbeat(sessions, source.id):
            try:
                proc = subprocess.Popen(scrapy_command(source, sources_path, result_file, settings), env=child_env,
                                        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True, preexec_fn=partial(die_with_parent, os.getpid()))
            except OSError as exc:
                abandon_run(sessions, run_id, source.id, "crashed", {"returncode": str(exc)})
                return CrawlResult(source.id, "error", run_id, message=f"could not start the crawl: {exc}")
            timed_out = False
            try:
                if on_child is not None:
                    on_child(proc)
                record_child(sessions, source.id, proc.pid)  # start_new_session: its group is its pid
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                _stop(proc)
            except BaseException:  # Ctrl-C, SIGTERM or SIGHUP of this process: stop the child, close its run
                _stop(proc)
                _close_run(sessions, run_id, source, proc, result_file, spool_file, settings, retry_for)
                raise
        summary = _close_run(sessions, run_id, source, proc, result_file, spool_file, settings, retry_for,
                             timeout=int(timeout) if timed_out else None)
    finally:
        discard_run_files(run_id)
    return CrawlResult(source.id, summary["status"], run_id, summary, message=summary.get("reason") or "",
                       log_file=str(log_file))


def _crash_reason(returncode: int | None, *paths: str) -> tuple[str, dict[str, Any]]:
    """Why a child ended without reporting: a full disk where it writes (it then exits 0, having
    failed to write its report), or the exit code."""
    for folder in {os.path.dirname(p) for p in paths}:
        try:
            free = shutil.disk_usage(folder).free
        except OSError:
            continue
        if free < DISK_FULL_BYTES:
            return "disk_full", {"path": folder, "error": f"{free} bytes free"}
    return "crashed", {"returncode": returncode}


def _close_run(sessions, run_id: int, source: Source, proc: subprocess.Popen, result_file: str, spool_file: str,
               settings: dict[str, str], retry_for: float, timeout: int | None = None) -> dict[str, Any]:
    """Apply what the ended child reported, or fail the run when it reported nothing. TIMEOUT:
    the child was stopped after that many seconds."""

    reported = _read(result_file).get("outcome")
    if reported is None:  # the child died before its spider closed: nothing is applied
        code, params = ("timeout", {"seconds": timeout}) if timeout is not None else _crash_reason(
            proc.returncode, result_file, spool_file)
        abandon_run(sessions, run_id, source.id, code, params)
        return {"run_id": run_id, "status": "failed", "reason": reason_en(code, params)}
    outcome = RunOutcome.from_json(reported)
    if timeout is not None:  # stopped by us and closed cleanly: the reason is the timeout, not "shutdown"
        outcome.fail("timeout", {"seconds": timeout})
    remove_after = int(settings.get("FUNDWATCH_REMOVE_AFTER_MISSES") or config.whole_number("FUNDWATCH_REMOVE_AFTER_MISSES", 1))
    return apply_run(sessions, run_id, source.id, outcome, spool_file, remove_after=remove_after, retry_for=retry_for)
