"""Crawling sources: a few child processes, each crawling whole host groups (fundwatch/hosts.py),
one Scrapy crawler per source in one reactor (fundwatch/spiders/runner.py; the reactor cannot
restart in one process). A child per core: the longest groups each in their own, the shorter ones
together (crawl_batches), so Scrapy's start-up is paid a few times per cycle, not once per source.
This process records the runs (storage/runlife.py): each source has its own run, lock, spool, log
file and outcome; the child's crawler of a source spools its items to a file and reports its
outcome through a small JSON file, which this process applies as soon as it appears. A source
whose crawler is killed or dies before reporting is closed here as failed, with the reason.

Children run at the same time; the sources of one host share its limit of one request at a time at
the host's pace (spiders/pacing.py), whichever crawler or process sends.

The child never outlives this process: it dies with the thread that started it (a parent-death
signal), so even a kill -9 here leaves no orphan crawling; each lock records its process group,
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
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterable
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from fundwatch import config
from fundwatch.hosts import host_groups
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
RUNNER = "fundwatch.spiders.runner"
# Crawl children at once: one per core. Each host group is crawled whole by one child; the longest
# groups get a child each, the shorter ones share the last: a child's start-up costs more CPU than
# crawling a small site, and a cycle of a process per group was CPU-bound (bench/README.md).
CRAWL_PROCESSES = max(2, os.cpu_count() or 2)
POLL = 0.2  # seconds between looks for the result files of a group's crawlers
CHILD_EXIT_GRACE = 30.0  # seconds a child whose crawlers all reported may take to exit
SHORTER_GROUPS_NICENESS = 5  # CPU priority of every child but the longest group's (see crawl_sources)


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


def group_command(runs: list[_Run], sources_path: str, settings: dict[str, str] | None = None) -> list[str]:
    """The child that crawls RUNS' sources, one crawler each (fundwatch/spiders/runner.py), with
    SETTINGS (`--set`) for the whole process (its logging too) and each run's own. A lone source's
    log is the child's own output; in a group each crawler writes its source's log."""
    spec = {"sources_file": sources_path, "group": runs[0].source.id, "settings": settings or {}, "crawls": [
        {"source": r.source.id, "spider": r.source.spider,
         "settings": {**r.settings, "FUNDWATCH_RESULT_FILE": r.result_file},
         "log_file": str(r.log_file) if len(runs) > 1 else None} for r in runs]}
    return [sys.executable, "-m", RUNNER, json.dumps(spec)]


def crawl_batches(sources: Iterable[Source], processes: int = CRAWL_PROCESSES) -> list[list[Source]]:
    """The sources of each crawl child: whole host groups, the longest first (by busiest_host_pages);
    the PROCESSES - 1 longest each alone, every other group together in the last child."""
    groups = sorted(host_groups(sources), key=busiest_host_pages, reverse=True)
    if len(groups) <= processes:
        return groups
    return [*groups[:processes - 1], [source for group in groups[processes - 1:] for source in group]]


def busiest_host_pages(group: list[Source]) -> int:
    """The start pages of the group's busiest host, and its robots.txt: what is known before
    crawling of how long the group takes."""
    per_host: dict[str, int] = {}
    for source in group:
        for url in source.urls:
            host = urlsplit(url).netloc.lower()
            per_host[host] = per_host.get(host, 1) + 1
    return max(per_host.values(), default=0)


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
    """SIGTERM lets Scrapy close the spiders (their outcome is then 'shutdown'); SIGKILL after."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def die_with_parent(parent_pid: int, niceness: int = 0) -> None:
    """The crawl child's preexec: the kernel SIGKILLs it when the thread that started it ends
    (however this process dies, kill -9 included), so it never crawls on as an orphan. NICENESS:
    a lower CPU priority, for a group that is not the cycle's longest."""
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before the prctl took hold
        os._exit(1)
    if niceness:
        os.nice(niceness)


@dataclass
class _Run:
    """One source's run inside a group's crawl."""
    source: Source
    run_id: int
    settings: dict[str, str]
    log_file: Path
    spool_file: str = ""
    result_file: str = ""
    heartbeat: Heartbeat | None = None

    def __post_init__(self):
        self.spool_file, self.result_file = run_files(self.run_id)


def _prepare() -> float:
    """Checks before any run begins, so a bad value costs no crawl; the storage retry in seconds."""
    config.whole_number("FUNDWATCH_REMOVE_AFTER_MISSES", 1)
    retry_for = storage_retry_seconds()
    for folder in (config.cache_dir(), log_dir()):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise config.ConfigError(f"FUNDWATCH_CACHE_DIR: cannot create {folder}: {exc.strerror}") from None
    return retry_for


def _begin(sessions, source: Source, settings: dict[str, str]) -> _Run | CrawlResult:
    """Lock the source and begin its run, or the result saying why not (locked, database error)."""
    try:
        since = api_since(sessions, source)  # before the run begins: a database error here leaves no open run
        run_id = begin_run(sessions, source.id, source.agency, source.spider)
    except SourceLocked as exc:
        return CrawlResult(source.id, "locked", message=str(exc))
    except DatabaseError as exc:
        return CrawlResult(source.id, "error", message=str(exc))
    except DBAPIError as exc:
        where = make_url(config.database_url()).render_as_string(hide_password=True)
        return CrawlResult(source.id, "error", message=f"the run could not be begun: {describe_error(exc)} ({where})")
    run_settings = {**settings, "FUNDWATCH_RUN_ID": str(run_id)}
    if since is not None and "FUNDWATCH_SINCE" not in run_settings:
        run_settings["FUNDWATCH_SINCE"] = since
    return _Run(source, run_id, run_settings, log_dir() / f"{source.id}.log")


def crawl_group(sources: Iterable[Source], sources_path: str, *, timeout: float | None = None,
                settings: dict[str, str] | None = None,
                on_child: Callable[[subprocess.Popen], None] | None = None,
                on_result: Callable[[Source, CrawlResult], None] | None = None,
                stop: threading.Event | None = None, niceness: int = 0) -> list[CrawlResult]:
    """Begin each source's run here, crawl them all in one child (a crawler per source) that spools
    each source's items and reports its outcome, and apply each run here as its crawler reports
    (storage/runlife.py). The results in SOURCES' order; ON_RESULT gets each as it is known. A
    database that does not answer gives `error` results naming the problem, not an exception.
    ON_CHILD is handed the child's process handle as soon as it runs (the scheduler stops its
    crawls through it). A source still crawling TIMEOUT seconds after the child started is stopped
    and its run failed `timeout`; the runs of sources that ended before are kept. STOP, when set,
    stops the child as a signal would (its crawlers close their runs). NICENESS: the child's."""

    sources = list(sources)
    timeout = timeout if timeout is not None else config.seconds("FUNDWATCH_CRAWL_TIMEOUT")
    retry_for = _prepare()
    results: dict[str, CrawlResult] = {}

    def done(source: Source, result: CrawlResult) -> None:
        results[source.id] = result
        if on_result is not None:
            on_result(source, result)

    try:
        sessions = session_factory(get_engine())  # migrated here, once per process
    except (DatabaseError, DBAPIError) as exc:
        message = str(exc) if isinstance(exc, DatabaseError) else f"the run could not be begun: {describe_error(exc)}"
        for source in sources:
            done(source, CrawlResult(source.id, "error", message=message))
        return [results[s.id] for s in sources]
    runs: list[_Run] = []
    try:
        for source in sources:
            begun = _begin(sessions, source, settings or {})
            if isinstance(begun, CrawlResult):
                done(source, begun)
            else:
                runs.append(begun)
    except BaseException:  # interrupted before the child started: the runs begun so far end here
        for run in runs:
            abandon_run(sessions, run.run_id, run.source.id, "interrupted", {"pid": os.getpid()})
        raise
    if runs:
        _crawl_runs(sessions, runs, sources_path, settings or {}, timeout, retry_for, on_child, done, stop, niceness)
    return [results[s.id] for s in sources]


def _crawl_runs(sessions, runs: list[_Run], sources_path: str, settings: dict[str, str], timeout: float,
                retry_for: float, on_child, done: Callable[[Source, CrawlResult], None],
                stop: threading.Event | None, niceness: int) -> None:
    child_env = dict(os.environ)
    child_env.setdefault("SCRAPY_SETTINGS_MODULE", "fundwatch.spiders.settings")  # works from any folder
    output = runs[0].log_file if len(runs) == 1 else log_dir() / f"group-{runs[0].source.id}.log"
    pending = list(runs)

    def release(run: _Run) -> None:
        """RUN leaves the runs still to close, its heartbeat stopped."""
        pending.remove(run)
        if run.heartbeat is not None:
            run.heartbeat.stop()

    def close(run: _Run, proc: subprocess.Popen, timed_out: bool = False) -> None:
        """Stop the run's heartbeat, apply what its crawler reported (or fail it), report it."""
        release(run)
        try:
            summary = _close_run(sessions, run.run_id, run.source, proc, run.result_file, run.spool_file,
                                 run.settings, retry_for, timeout=int(timeout) if timed_out else None)
        finally:
            discard_run_files(run.run_id)
        done(run.source, CrawlResult(run.source.id, summary["status"], run.run_id, summary,
                                     message=summary.get("reason") or "", log_file=str(run.log_file)))

    try:
        with open(output, "w", encoding="utf-8") as log:
            for run in runs:
                run.heartbeat = Heartbeat(sessions, run.source.id).start()
            try:
                proc = subprocess.Popen(group_command(runs, sources_path, settings), env=child_env,
                                        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True, preexec_fn=partial(die_with_parent, os.getpid(), niceness))
            except OSError as exc:
                for run in list(pending):
                    release(run)
                    abandon_run(sessions, run.run_id, run.source.id, "crashed", {"returncode": str(exc)})
                    done(run.source, CrawlResult(run.source.id, "error", run.run_id,
                                                 message=f"could not start the crawl: {exc}"))
                return
            deadline = time.monotonic() + timeout
            try:
                if on_child is not None:
                    on_child(proc)
                for run in runs:
                    record_child(sessions, run.source.id, proc.pid)  # start_new_session: its group is its pid
                timed_out = False
                while pending:
                    try:
                        proc.wait(POLL)
                        ended = True
                    except subprocess.TimeoutExpired:
                        ended = False
                    for run in [r for r in pending if os.path.exists(r.result_file)]:
                        close(run, proc)  # reported: applied now, while the group's other crawlers go on
                    if ended or not pending:
                        break
                    if time.monotonic() > deadline:
                        timed_out = True
                        _stop(proc)
                        break
                    if stop is not None and stop.is_set():
                        _stop(proc)
                        break
                try:  # every crawler reported: the child is closing down
                    proc.wait(CHILD_EXIT_GRACE)
                except subprocess.TimeoutExpired:
                    _stop(proc)
                for run in list(pending):  # stopped at the timeout, or died before reporting
                    close(run, proc, timed_out)
            except BaseException:  # Ctrl-C, SIGTERM or SIGHUP of this process: stop the child, close its runs
                _stop(proc)
                for run in list(pending):
                    close(run, proc)
                raise
    finally:
        for run in list(pending):  # not closed (e.g. the log could not be opened): nothing crawled
            release(run)
            abandon_run(sessions, run.run_id, run.source.id, "interrupted", {"pid": os.getpid()})


def crawl_source(source: Source, sources_path: str, *, timeout: float | None = None,
                 settings: dict[str, str] | None = None,
                 on_child: Callable[[subprocess.Popen], None] | None = None) -> CrawlResult:
    """Crawl one source in a child of its own (see crawl_group)."""
    return crawl_group([source], sources_path, timeout=timeout, settings=settings, on_child=on_child)[0]


def crawl_sources(sources: Iterable[Source], sources_path: str, *, timeout: float | None = None,
                  settings: dict[str, str] | None = None,
                  on_child: Callable[[subprocess.Popen], None] | None = None,
                  on_result: Callable[[Source, CrawlResult], None] | None = None,
                  stopping: threading.Event | None = None) -> list[CrawlResult]:
    """Crawl SOURCES: each host group whole in one child (crawl_group; see crawl_batches), the
    children at the same time. The results in SOURCES' order. Should this thread be interrupted (a signal reaches the main thread
    only), every child is stopped and each group closes its runs. STOPPING, when set, keeps groups
    not yet started from starting (their sources get no result)."""
    sources = list(sources)
    # The longest group first, at full priority: the cycle lasts as long as its busiest host (its
    # requests x its pace), while the other groups have time to spare for their start-ups.
    groups = crawl_batches(sources)
    results: dict[str, CrawlResult] = {}
    interrupted = threading.Event()

    def crawl(group: list[Source], niceness: int = 0) -> None:
        if interrupted.is_set() or (stopping is not None and stopping.is_set()):
            return
        for result in crawl_group(group, sources_path, timeout=timeout, settings=settings, on_child=on_child,
                                  on_result=on_result, stop=interrupted, niceness=niceness):
            results[result.source_id] = result

    if len(groups) == 1:
        crawl(groups[0])
    elif groups:
        with ThreadPoolExecutor(max_workers=len(groups), thread_name_prefix="crawl") as pool:
            futures = [pool.submit(crawl, group, 0 if n == 0 else SHORTER_GROUPS_NICENESS)
                       for n, group in enumerate(groups)]
            try:
                for future in futures:
                    future.result()
            except BaseException:  # each group's thread stops its child (SIGTERM, SIGKILL after a grace) and closes its runs
                interrupted.set()
                raise
    return [results[s.id] for s in sources if s.id in results]


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
