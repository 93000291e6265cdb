"""A database that does not answer: one line naming the problem, never a traceback or SQL; the
other sources are still crawled; a finished crawl is applied once the database answers again
(retried with backoff), else its run fails `storage_error`. SQLite locked by another writer, and
PostgreSQL reached through a TcpProxy that the test cuts (the shared server is never stopped)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import select

from fundwatch.storage.db import get_engine, session_scope
from fundwatch.storage.models import Run, SourceLock
from helpers import MUCF, crawl_args, env_with, run_cli, wait_for, write_page_sources

OTHER = "mucf-bidrag"


def runs(engine) -> list[tuple[str, str, str | None, int]]:
    with session_scope(engine) as session:
        return [(r.source_id, r.status, r.reason_code, r.items) for r in session.scalars(select(Run).order_by(Run.id))]


def no_dump(stderr: str) -> None:
    assert "Traceback" not in stderr and "[SQL" not in stderr and "sqlalche.me" not in stderr, stderr


@pytest.mark.slow
def test_sqlite_locked_by_another_writer_fails_its_sources_in_one_line_each_and_tries_them_all(
        sqlite_url, mirror, crawl_env):
    """Sources of one host start together (the polite cycle): each one that meets the locked
    database says so in one line, none is skipped, and once the writer lets go they crawl again."""
    engine = get_engine(sqlite_url)  # migrated before the other writer takes the database
    sources = write_page_sources(crawl_env, [{"id": MUCF}, {"id": OTHER, "agency": "mucf"}])
    writer = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")  # another writer holds the database for 40 s
    release = threading.Timer(40, writer.rollback)
    release.start()
    try:
        done = run_cli(*crawl_args(MUCF, OTHER, sources=sources), timeout=180)
    finally:
        release.cancel()
        writer.close()
    assert done.returncode == 1, done.stderr
    locked = [f"{s}: error: the run could not be begun: database unavailable: database is locked ({sqlite_url})"
              for s in (MUCF, OTHER)]
    reported = done.stderr.splitlines() + done.stdout.splitlines()
    for source, line in zip((MUCF, OTHER), locked):  # every source was tried and said what happened
        assert line in reported or any(r.startswith(f"{source}: ok") for r in reported), done.stderr
    assert any(line in reported for line in locked)
    no_dump(done.stderr)
    again = run_cli(*crawl_args(MUCF, OTHER, sources=sources), timeout=180)
    assert again.returncode == 0, again.stderr
    assert {source for source, status, _, _ in runs(engine) if status == "ok"} == {MUCF, OTHER}


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


@pytest.mark.slow
def test_postgresql_down_at_apply_fails_the_run_storage_error_in_one_line(postgres_proxy, mirror, crawl_env):
    proxy, direct = postgres_proxy
    get_engine(direct)  # migrated
    sources = write_page_sources(crawl_env, [{"id": MUCF}])
    crawl = start_crawl(sources, FUNDWATCH_STORAGE_RETRY="4")
    try:
        cut_once_running(proxy, direct, crawl_env)
        out, err = crawl.communicate(timeout=120)
    finally:
        if crawl.poll() is None:
            crawl.kill()
    no_dump(err)
    [line] = out.splitlines()
    assert line.startswith(f"{MUCF}: failed (run 1)") and "the run could not be stored: database unavailable" in line
    proxy.restore()  # back: the next crawl records why the first one failed, and crawls
    again = start_crawl(sources)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert [(status, reason) for _, status, reason, _ in runs(get_engine(direct))] == [
        ("failed", "storage_error"), ("ok", None)]


@pytest.mark.slow
def test_a_bad_storage_retry_value_is_one_line_before_anything_is_crawled(sqlite_url, crawl_env):
    sources = write_page_sources(crawl_env, [{"id": MUCF}])
    done = run_cli(*crawl_args(MUCF, sources=sources), env={"FUNDWATCH_STORAGE_RETRY": "soon"})
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "fundwatch: error: FUNDWATCH_STORAGE_RETRY must be a number of seconds (0 or more), not 'soon'"]
    assert not (crawl_env / "cache" / "logs").exists()  # no crawl started
