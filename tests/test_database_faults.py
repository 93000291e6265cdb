"""A database that does not answer: one line naming the problem, never a traceback or SQL; the
other sources are still crawled; a finished crawl is applied once the database answers again
(retried with backoff), else its run fails `storage_error`. SQLite locked by another writer, and
PostgreSQL reached through a TcpProxy that the test cuts (the shared server is never stopped)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from fundwatch.storage.db import get_engine, make_engine, session_factory, session_scope
from fundwatch.storage.models import Change, Run, SourceLock
from fundwatch.storage.runlife import begin_run
from helpers import MUCF, crawl_args, env_with, run_cli, wait_for, write_page_sources

OTHER, OTHER_URL = "mucf-bidrag", "https://www.mucf.se/bidrag"  # another page of the same host


def runs(engine) -> list[tuple[str, str, str | None, int]]:
    with session_scope(engine) as session:
        return [(r.source_id, r.status, r.reason_code, r.items) for r in session.scalars(select(Run).order_by(Run.id))]


def no_dump(stderr: str) -> None:
    assert "Traceback" not in stderr and "[SQL" not in stderr and "sqlalche.me" not in stderr, stderr


@pytest.mark.slow
def test_sqlite_locked_by_another_writer_for_a_while_waits_for_it_and_crawls_every_source(
        sqlite_url, mirror, crawl_env):
    """Another writer holds the database for 40 s before the crawl (sources of one host start
    together: the polite cycle): each run's begin waits for it with backoff, and once the writer
    lets go every source is crawled; the operator reads why it waited, no traceback."""
    engine = get_engine(sqlite_url)  # migrated before the other writer takes the database
    sources = write_page_sources(crawl_env, [{"id": MUCF}, {"id": OTHER, "agency": "mucf", "url": OTHER_URL}])
    writer = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")  # another writer holds the database for 40 s
    release = threading.Timer(40, writer.rollback)
    release.start()
    try:
        done = run_cli(*crawl_args(MUCF, OTHER, sources=sources), timeout=240)
    finally:
        release.cancel()
        writer.close()
    assert done.returncode == 0, done.stderr
    assert sorted(line.split(" (run")[0] for line in done.stdout.splitlines()) == [f"{OTHER}: ok", f"{MUCF}: ok"], (
        done.stdout, done.stderr)
    assert "database unavailable: database is locked; trying again in" in done.stderr
    no_dump(done.stderr)
    assert sorted((source, status) for source, status, _, _ in runs(engine)) == [(OTHER, "ok"), (MUCF, "ok")]


def test_a_begin_the_database_refuses_past_the_retries_raises_its_error_after_backing_off(tmp_path, caplog):
    """The begin is tried again with the apply's backoff (1 s, 2 s, …) for RETRY_FOR seconds, then
    its error goes up (fundwatch crawl makes it the source's one `error` line)."""
    unreachable = session_factory(make_engine(f"sqlite:///{tmp_path}/no-such-folder/fundwatch.db"))
    started = time.monotonic()
    with pytest.raises(OperationalError, match="unable to open database file"):
        begin_run(unreachable, MUCF, "mucf", "page", retry_for=2.5)
    assert 1.0 <= time.monotonic() - started < 10
    waits = [r.getMessage() for r in caplog.records if "trying again" in r.getMessage()]
    assert waits == [f"beginning a run of {MUCF}: database unavailable: unable to open database file; "
                     "trying again in 1 s"]


def start_crawl(sources: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "fundwatch.cli", *crawl_args(MUCF, sources=sources)],
                            env=env_with(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def cut_once_running(proxy, direct, crawl_env) -> None:
    """Cut the database away while the crawl runs, and wait until its crawl has finished."""
    look = get_engine(direct)

    def crawling():
        with session_scope(look) as session:
            lock = session.get(SourceLock, MUCF)
            return lock is not None and lock.pgid is not None

    wait_for(crawling, timeout=60, what="the crawl to start")
    proxy.cut()
    log = crawl_env / "cache" / "logs" / f"{MUCF}.log"
    wait_for(lambda: log.exists() and "Spider closed" in log.read_text("utf-8"), timeout=60,
             what="the crawl to finish")


@pytest.mark.slow
def test_a_postgresql_restart_during_a_crawl_does_not_throw_the_finished_crawl_away(
        postgres_proxy, mirror, crawl_env):
    proxy, direct = postgres_proxy
    get_engine(direct)  # migrated
    sources = write_page_sources(crawl_env, [{"id": MUCF}])
    crawl = start_crawl(sources)
    try:
        cut_once_running(proxy, direct, crawl_env)
        time.sleep(3)  # the database stays down a while; the crawl's apply is refused meanwhile
        proxy.restore()
        out, err = crawl.communicate(timeout=120)
    finally:
        if crawl.poll() is None:
            crawl.kill()
    assert crawl.returncode == 0, err
    assert out.startswith(f"{MUCF}: ok (run 1)"), (out, err)
    assert "database unavailable" in err and "trying again" in err
    no_dump(err)
    [(_, status, _, items)] = runs(get_engine(direct))
    assert status == "ok" and items > 0


def changes(engine) -> list[tuple[int, str]]:
    with session_scope(engine) as session:
        return [(c.run_id, c.change) for c in session.scalars(select(Change).order_by(Change.id))]


@pytest.mark.slow
def test_postgresql_down_longer_than_the_retries_keeps_the_finished_crawl_and_applies_it_once_back(
        postgres_proxy, mirror, crawl_env):
    """The database stays away past FUNDWATCH_STORAGE_RETRY: the finished crawl is kept (one line
    says so), its run stays open, and the next crawl applies it first — once, before its own run,
    so that run finds nothing new and nothing removed."""
    proxy, direct = postgres_proxy
    look = get_engine(direct)  # migrated
    sources = write_page_sources(crawl_env, [{"id": MUCF}])
    crawl = start_crawl(sources, FUNDWATCH_STORAGE_RETRY="4")
    try:
        cut_once_running(proxy, direct, crawl_env)
        out, err = crawl.communicate(timeout=120)
    finally:
        if crawl.poll() is None:
            crawl.kill()
    no_dump(err)
    assert crawl.returncode == 1 and out == "", (out, err)
    [line] = [line for line in err.splitlines() if line.startswith(f"{MUCF}:")]
    assert line.startswith(f"{MUCF}: pending: run 1 is kept and will be applied when the database answers again"), err
    assert "database unavailable" in line
    spool = crawl_env / "cache" / "spool"
    assert (spool / "run-1.jsonl").stat().st_size > 0 and (spool / "run-1.pending.json").exists()
    assert runs(look) == [(MUCF, "running", None, 0)]  # nothing applied, nothing lost

    proxy.restore()
    again = start_crawl(sources)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert f"run 1 of {MUCF}, kept while the database did not answer, is applied now: ok" in err
    assert out.startswith(f"{MUCF}: ok (run 2)") and "0 new, 0 updated, 0 removed" in out, out
    applied = runs(look)
    assert [(status, reason) for _, status, reason, _ in applied] == [("ok", None), ("ok", None)]
    assert applied[0][3] > 0 and applied[0][3] == applied[1][3]
    assert {run_id for run_id, _ in changes(look)} == {1}  # the first crawl's items, found by run 1
    assert sorted(p.name for p in spool.iterdir()) == []

    third = start_crawl(sources)  # nothing is applied twice
    third.communicate(timeout=120)
    assert [status for _, status, _, _ in runs(look)] == ["ok"] * 3
    assert {run_id for run_id, _ in changes(look)} == {1}


@pytest.mark.slow
def test_a_crawl_stopped_while_it_waits_for_the_database_is_kept_for_the_next_crawl(postgres_proxy, mirror, crawl_env):
    """SIGTERM (a service manager stopping fundwatch while PostgreSQL restarts) during the apply's
    wait: the finished crawl is kept, not thrown away, and the next crawl applies it."""
    proxy, direct = postgres_proxy
    look = get_engine(direct)  # migrated
    sources = write_page_sources(crawl_env, [{"id": MUCF}])
    stderr = crawl_env / "stderr.txt"
    with open(stderr, "w", encoding="utf-8") as err_file:
        crawl = subprocess.Popen([sys.executable, "-m", "fundwatch.cli", *crawl_args(MUCF, sources=sources)],
                                 env=env_with(FUNDWATCH_STORAGE_RETRY="120"), stdout=subprocess.DEVNULL,
                                 stderr=err_file, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            cut_once_running(proxy, direct, crawl_env)
            wait_for(lambda: "trying again" in stderr.read_text("utf-8"), timeout=60, what="the apply to wait")
            crawl.send_signal(signal.SIGTERM)
            crawl.wait(timeout=60)
        finally:
            if crawl.poll() is None:
                crawl.kill()
    assert crawl.returncode == 1
    no_dump(stderr.read_text("utf-8"))
    assert "run 1 of mucf-statsbidrag is kept for the next crawl to apply" in stderr.read_text("utf-8")
    assert (crawl_env / "cache" / "spool" / "run-1.pending.json").exists()

    proxy.restore()
    again = start_crawl(sources)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert f"run 1 of {MUCF}, kept while the database did not answer, is applied now: ok" in err
    assert [status for _, status, _, _ in runs(look)] == ["ok", "ok"]
    assert {run_id for run_id, _ in changes(look)} == {1}


@pytest.mark.slow
def test_a_bad_storage_retry_value_is_one_line_before_anything_is_crawled(sqlite_url, crawl_env):
    sources = write_page_sources(crawl_env, [{"id": MUCF}])
    done = run_cli(*crawl_args(MUCF, sources=sources), env={"FUNDWATCH_STORAGE_RETRY": "soon"})
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "fundwatch: error: FUNDWATCH_STORAGE_RETRY must be a number of seconds (0 or more), not 'soon'"]
    assert not (crawl_env / "cache" / "logs").exists()  # no crawl started
