"""Crawling a source: `scrapy crawl` in a child process (the Twisted reactor cannot restart in one
process), with a timeout. This process records the run (storage/recorder.py): the child spools
its items to a file and reports its outcome through a small JSON file; a child that is killed or
dies before reporting leaves its run to be closed here as failed, with the reason."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fundwatch import config
from fundwatch.sources import Source
from fundwatch.storage import locks
from fundwatch.storage.db import get_engine, session_factory
from fundwatch.storage.outcome import RunOutcome
from fundwatch.storage.queries import last_healthy_start
from fundwatch.storage.reasons import reason_en
from fundwatch.storage.recorder import abandon_run, apply_run, begin_run
from fundwatch.storage.spool import new_spool_file, read_spool

# Settings for crawling loopback mirrors (tests, demo, benchmarks): no politeness delays.
FAST_SETTINGS = {"DOWNLOAD_DELAY": "0", "AUTOTHROTTLE_ENABLED": "0", "FUNDWATCH_BACKOFF_BASE": "0",
                 "FUNDWATCH_RETRY_AFTER_MAX": "1", "CONCURRENT_REQUESTS_PER_DOMAIN": "8"}


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


def crawl_source(source: Source, sources_path: str, *, timeout: float | None = None,
                 settings: dict[str, str] | None = None) -> CrawlResult:
    """Begin the source's run here, crawl it in a `scrapy crawl` child that spools its items and
    reports its outcome, then apply both here. The child never imports the database layer (about
    0.2 s of every crawl), and only this process writes the run."""

    timeout = timeout if timeout is not None else float(config.env("FUNDWATCH_CRAWL_TIMEOUT"))
    sessions = session_factory(get_engine())  # migrated here, once per process
    try:
        run_id = begin_run(sessions, source.id, source.agency, source.spider)
    except locks.SourceLocked as exc:
        return CrawlResult(source.id, "locked", message=str(exc))
    log_dir().mkdir(parents=True, exist_ok=True)
    log_file = log_dir() / f"{source.id}.log"
    fd, result_file = tempfile.mkstemp(prefix=f"fundwatch-{source.id}-", suffix=".json")
    os.close(fd)
    spool_file = new_spool_file(source.id)
    settings = {**(settings or {}), "FUNDWATCH_RUN_ID": str(run_id), "FUNDWATCH_SPOOL_FILE": spool_file}
    if source.is_api and "FUNDWATCH_SINCE" not in settings:
        settings["FUNDWATCH_SINCE"] = api_since(sessions, source)
    child_env = dict(os.environ)
    child_env.setdefault("SCRAPY_SETTINGS_MODULE", "fundwatch.spiders.settings")  # works from any folder
    try:
        with open(log_file, "w", encoding="utf-8") as log:
            try:
                proc = subprocess.Popen(scrapy_command(source, sources_path, result_file, settings), env=child_env,
                                        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True)
            except OSError as exc:
                abandon_run(sessions, run_id, source.id, "crashed", {"returncode": str(exc)})
                return CrawlResult(source.id, "error", run_id, message=f"could not start the crawl: {exc}")
            timed_out = False
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                _stop(proc)
            except BaseException:  # Ctrl-C or SIGTERM of this process: stop the child, close its run
                _stop(proc)
                _close_run(sessions, run_id, source, proc, result_file, spool_file, settings)
                raise
        summary = _close_run(sessions, run_id, source, proc, result_file, spool_file, settings,
                             timeout=int(timeout) if timed_out else None)
    finally:
        for path in (result_file, spool_file):
            os.unlink(path)
    return CrawlResult(source.id, summary["status"], run_id, summary, message=summary.get("reason") or "",
                       log_file=str(log_file))


def _close_run(sessions, run_id: int, source: Source, proc: subprocess.Popen, result_file: str, spool_file: str,
               settings: dict[str, str], timeout: int | None = None) -> dict[str, Any]:
    """Apply what the ended child reported, or fail the run when it reported nothing. TIMEOUT:
    the child was stopped after that many seconds."""

    reported = _read(result_file).get("outcome")
    if reported is None:  # the child died before its spider closed: nothing is applied
        code, params = ("timeout", {"seconds": timeout}) if timeout is not None else (
            "crashed", {"returncode": proc.returncode})
        abandon_run(sessions, run_id, source.id, code, params)
        return {"run_id": run_id, "status": "failed", "reason": reason_en(code, params)}
    outcome = RunOutcome.from_json(reported)
    if timeout is not None:  # stopped by us and closed cleanly: the reason is the timeout, not "shutdown"
        outcome.fail("timeout", {"seconds": timeout})
    remove_after = int(settings.get("FUNDWATCH_REMOVE_AFTER_MISSES") or config.env("FUNDWATCH_REMOVE_AFTER_MISSES"))
    return apply_run(sessions, run_id, source.id, outcome, read_spool(spool_file), remove_after=remove_after)
