"""Crawling a source: `scrapy crawl` in a child process (the Twisted reactor cannot restart in one
process), with a timeout. The child reports its run through a small JSON file; a child that is
killed or dies leaves its run to be closed here as failed, with the reason."""

from __future__ import annotations

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


def _read(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return {}


def _stop(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM lets Scrapy close the spider (its run is then closed as 'shutdown'); SIGKILL after."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def close_dead_run(run_id: int, code: str, params: dict[str, Any], source_id: str, pid: int) -> None:
    from storage.db import session_scope
    from storage.models import SourceLock
    from storage.runs import fail_run

    with session_scope() as session:
        fail_run(session, run_id, code, params)
        lock = session.get(SourceLock, source_id)
        if lock is not None and lock.pid == pid:
            session.delete(lock)


def crawl_source(source: Source, sources_path: str, *, timeout: float | None = None,
                 settings: dict[str, str] | None = None) -> CrawlResult:
    from storage.db import get_engine

    timeout = timeout if timeout is not None else float(config.env("FUNDWATCH_CRAWL_TIMEOUT"))
    # The schema is checked (and migrated) here, once per process, and the child is told so: in
    # every child the check would import Alembic again, about 0.15 s of each crawl.
    get_engine()
    settings = {**(settings or {}), "FUNDWATCH_SCHEMA_READY": "1"}
    log_dir().mkdir(parents=True, exist_ok=True)
    log_file = log_dir() / f"{source.id}.log"
    fd, result_file = tempfile.mkstemp(prefix=f"fundwatch-{source.id}-", suffix=".json")
    os.close(fd)
    child_env = dict(os.environ)
    child_env.setdefault("SCRAPY_SETTINGS_MODULE", "spiders.settings")  # works from any folder
    try:
        with open(log_file, "w", encoding="utf-8") as log:
            try:
                proc = subprocess.Popen(scrapy_command(source, sources_path, result_file, settings), env=child_env,
                                        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True)
            except OSError as exc:
                return CrawlResult(source.id, "error", message=f"could not start the crawl: {exc}")
            timed_out = False
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                _stop(proc)
            except BaseException:  # Ctrl-C or SIGTERM of the parent: stop the child cleanly
                _stop(proc)
                raise
        result = _read(result_file)
    finally:
        os.unlink(result_file)
    run_id = result.get("run_id")
    if result.get("locked"):
        return CrawlResult(source.id, "locked", message=result.get("message", "source is locked"), log_file=str(log_file))
    if run_id is None:
        return CrawlResult(source.id, "error", log_file=str(log_file),
                           message=f"the crawl exited with code {proc.returncode} before starting a run (see {log_file})")
    if "status" not in result:  # the child never closed its run
        code, params = (("timeout", {"seconds": int(timeout)}) if timed_out
                        else ("crashed", {"returncode": proc.returncode}))
        close_dead_run(run_id, code, params, source.id, proc.pid)
        from storage.reasons import reason_en

        return CrawlResult(source.id, "failed", run_id, {"run_id": run_id, "status": "failed"},
                           message=reason_en(code, params), log_file=str(log_file))
    if timed_out:  # stopped by us and closed cleanly: the reason is the timeout, not the "shutdown"
        _record_timeout(run_id, int(timeout))
        from storage.reasons import reason_en

        result.update(status="failed", reason=reason_en("timeout", {"seconds": int(timeout)}))
    return CrawlResult(source.id, result["status"], run_id, result, message=result.get("reason", ""),
                       log_file=str(log_file))


def _record_timeout(run_id: int, seconds: int) -> None:
    from storage.db import session_scope
    from storage.models import Run

    with session_scope() as session:
        run = session.get(Run, run_id)
        if run is not None:
            run.status, run.reason_code, run.reason_params = "failed", "timeout", {"seconds": seconds}

