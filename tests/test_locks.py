"""One crawl per source, for real: `scrapy crawl` children against a site that hangs (so the first
crawl holds its lock), a second crawl refused with a clear message, crawls started at the same
instant in one process (as the scheduler's threads do), and a lock left by a SIGKILLed crawl taken
over by the next one. The lock is held by the process recording the run: `fundwatch crawl` (here,
this test process through crawl_source) or a `scrapy crawl` on its own."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import threading

import pytest
from sqlalchemy import select

from fundwatch.crawl import FAST_SETTINGS, crawl_source
from fundwatch.sources import load_sources
from fundwatch.storage import runlife
from fundwatch.storage.db import get_engine, session_factory, session_scope
from fundwatch.storage.models import Run, SourceLock, SourceRow, utcnow
from helpers import MUCF, env_with, wait_for, write_page_sources

HOST = socket.gethostname()


def lock_rows(engine) -> list[tuple[str, int, int | None]]:
    with session_scope(engine) as session:
        return [(r.source_id, r.pid, r.run_id) for r in session.scalars(select(SourceLock))]


def runs(engine) -> list[tuple[int, str, str | None]]:
    with session_scope(engine) as session:
        return [(r.id, r.status, r.reason_code) for r in session.scalars(select(Run).order_by(Run.id))]


def held_by_running_run(engine):
    rows = lock_rows(engine)
    return rows[0] if rows and rows[0][2] is not None else None


def kill_crawl_children(children: list[subprocess.Popen]) -> None:
    """SIGKILL the `scrapy crawl` children (each leads its own process group)."""
    for child in children:
        os.killpg(child.pid, signal.SIGKILL)


def in_thread(func, *args, **kwargs):
    box: list = []
    thread = threading.Thread(target=lambda: box.append(func(*args, **kwargs)))
    thread.start()
    return thread, box


@pytest.mark.slow
def test_a_second_crawl_of_a_source_is_refused_with_a_clear_message(db_url, hung, crawl_env, monkeypatch):
    monkeypatch.setenv("FUNDWATCH_MIRROR", hung.url)
    engine = get_engine(db_url)
    sources = load_sources(write_page_sources(crawl_env, [{"id": MUCF}]))
    children: list[subprocess.Popen] = []
    first, box = in_thread(crawl_source, sources.get(MUCF), sources.path, timeout=60, settings=FAST_SETTINGS,
                           on_child=children.append)
    try:
        _, pid, run_id = wait_for(lambda: held_by_running_run(engine), what="the first crawl's lock")
        assert pid == os.getpid()  # held by the process recording the run
        wait_for(lambda: children, what="the first crawl's scrapy child")
        second = subprocess.run([sys.executable, "-m", "fundwatch.cli", "crawl", MUCF, "--sources", sources.path,
                                 "--timeout", "30"], capture_output=True, text=True, timeout=60)
        assert second.returncode == 1
        assert f"{MUCF}: locked: a crawl of {MUCF} is already running (pid {pid} on {HOST})" in second.stderr
        assert runs(engine) == [(run_id, "running", None)]  # the refused crawl wrote no run
        assert lock_rows(engine) == [(MUCF, pid, run_id)]
    finally:
        kill_crawl_children(children)  # end the hung crawl
        first.join(30)
    result = box[0]
    assert (result.status, result.run_id) == ("failed", run_id)
    assert result.message == "the crawl process exited with code -9 before closing its run"
    assert runs(engine) == [(run_id, "failed", "crashed")]
    assert lock_rows(engine) == []


def test_crawls_started_at_the_same_instant_run_one_and_refuse_the_others(sqlite_url, hung, crawl_env, monkeypatch):
    # SQLite only, to keep the suite fast: the race itself is tested on both databases below.
    monkeypatch.setenv("FUNDWATCH_MIRROR", hung.url)
    engine = get_engine(sqlite_url)
    sources = load_sources(write_page_sources(crawl_env, [{"id": MUCF}]))
    children: list[subprocess.Popen] = []
    started = [in_thread(crawl_source, sources.get(MUCF), sources.path, timeout=60, settings=FAST_SETTINGS,
                         on_child=children.append) for _ in range(3)]
    try:
        wait_for(lambda: held_by_running_run(engine), what="a crawl's lock")
        wait_for(lambda: sum(1 for _, box in started if box) == 2, timeout=20, what="the other two to give up")
        wait_for(lambda: children, what="the crawl's scrapy child")
    finally:
        kill_crawl_children(children)
        for thread, _ in started:
            thread.join(30)
    results = sorted((box[0] for _, box in started), key=lambda r: r.status)
    assert [r.status for r in results] == ["failed", "locked", "locked"], [r.message for r in results]
    assert all(r.message == f"a crawl of {MUCF} is already running (pid {os.getpid()} on {HOST})" for r in results[1:])
    assert [status for _, status, _ in runs(engine)] == ["failed"]
    assert lock_rows(engine) == []


@pytest.mark.slow
def test_a_lock_left_by_a_killed_crawl_is_taken_over(sqlite_url, hung, mirror, crawl_env, tmp_path):
    engine = get_engine(sqlite_url)
    sources = load_sources(write_page_sources(crawl_env, [{"id": MUCF}]))
    source = sources.get(MUCF)
    # A `scrapy crawl` on its own (no `fundwatch crawl` parent to clean up after it), SIGKILLed.
    command = [sys.executable, "-m", "scrapy", "crawl", "page", "-a", f"source={MUCF}", "-a", f"sources_file={sources.path}"]
    for key, value in FAST_SETTINGS.items():
        command += ["-s", f"{key}={value}"]
    child = subprocess.Popen(command,
                             env=env_with(FUNDWATCH_MIRROR=hung.url, SCRAPY_SETTINGS_MODULE="fundwatch.spiders.settings"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _, pid, dead_run = wait_for(lambda: held_by_running_run(engine), what="the crawl's lock")
        assert pid == child.pid
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    assert lock_rows(engine) == [(MUCF, child.pid, dead_run)]  # left behind
    assert runs(engine) == [(dead_run, "running", None)]

    result = crawl_source(source, sources.path, timeout=60, settings=FAST_SETTINGS)  # against the mirror
    assert result.status == "ok", result.message
    assert runs(engine) == [(dead_run, "failed", "interrupted"), (result.run_id, "ok", None)]
    assert lock_rows(engine) == []


# -- the lock rules without crawling ---------------------------------------------------------------
def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.slow
def test_lock_rules(db_url):
    engine = get_engine(db_url)
    sessions = session_factory(engine)
    with session_scope(engine) as session:
        session.add(SourceRow(id=MUCF, agency="mucf", spider="page"))
        session.add_all([SourceLock(source_id=MUCF, pid=os.getppid(), hostname=HOST),  # alive, here
                         SourceLock(source_id="elsewhere", pid=1, hostname="another-host")])
    with pytest.raises(runlife.SourceLocked, match=f"pid {os.getppid()} on {HOST}"):
        runlife.acquire_lock(sessions, MUCF)
    with pytest.raises(runlife.SourceLocked, match="pid 1 on another-host"):  # another host, heartbeat fresh: held
        runlife.acquire_lock(sessions, "elsewhere")
    # The holder died: its lock is stale, its running run closed as interrupted.
    with session_scope(engine) as session:
        run = Run(source_id=MUCF, status="running", pid=_dead_pid(), hostname=HOST)
        session.add(run)
        session.flush()
        lock = session.get(SourceLock, MUCF)
        lock.pid, lock.run_id = run.pid, run.id
    runlife.acquire_lock(sessions, MUCF)
    assert sorted(lock_rows(engine)) == [("elsewhere", 1, None), (MUCF, os.getpid(), None)]
    assert [(status, reason) for _, status, reason in runs(engine)] == [("failed", "interrupted")]
    with session_scope(engine) as session:
        runlife.release_lock(session, MUCF)
    assert lock_rows(engine) == [("elsewhere", 1, None)]
    # A lock with this process's own pid that this process does not hold was left by an earlier
    # process with the same pid (pids repeat when a container restarts): stale, taken over.
    with session_scope(engine) as session:
        session.add(SourceLock(source_id=MUCF, pid=os.getpid(), hostname=HOST))
    runlife.acquire_lock(sessions, MUCF)
    # Held now: another thread of this process (the scheduler crawls from several) is refused.
    with pytest.raises(runlife.SourceLocked, match=f"pid {os.getpid()} on {HOST}"):
        runlife.acquire_lock(sessions, MUCF)
    with session_scope(engine) as session:
        runlife.release_lock(session, MUCF)
    runlife.acquire_lock(sessions, MUCF)  # released: free again
    with session_scope(engine) as session:
        runlife.release_lock(session, MUCF)



@pytest.mark.slow
def test_a_stale_lock_taken_over_by_crawls_starting_together_goes_to_one(db_url, monkeypatch):
    """Regression: the stale lock was deleted by key. On SQLite (where the read locks nothing) a
    crawl that had read the lock as stale before another took it over then deleted the new
    holder's lock, and both ran. Four crawls (threads with their own pids) all read the stale
    lock before any of them writes; exactly one may win."""
    engine = get_engine(db_url)
    dead = _dead_pid()
    with session_scope(engine) as session:
        session.add(SourceLock(source_id=MUCF, pid=dead, hostname=HOST))
    # On PostgreSQL SELECT ... FOR UPDATE makes the others wait for the first: no barrier there.
    barrier = threading.Barrier(4) if engine.dialect.name == "sqlite" else None
    local = threading.local()

    def alive(pid):
        if pid == dead:
            if barrier is not None:
                barrier.wait(timeout=10)  # every crawl has judged the lock stale
            return False
        return True  # the crawls of this test are all alive

    fake_os = type("os", (), {"getpid": staticmethod(lambda: local.pid)})
    monkeypatch.setattr(runlife, "holder_alive", lambda pid, *_: alive(pid))
    monkeypatch.setattr(runlife, "os", fake_os)
    outcomes = []

    def crawl(n):
        local.pid = 100000 + n
        try:
            runlife.acquire_lock(session_factory(engine), MUCF)
            outcomes.append("acquired")
        except runlife.SourceLocked:
            outcomes.append("locked")

    threads = [threading.Thread(target=crawl, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["acquired", "locked", "locked", "locked"]
    assert len(lock_rows(engine)) == 1
    monkeypatch.undo()
    with session_scope(engine) as session:
        runlife.release_lock(session, MUCF)  # this process no longer counts the winner's lock as its own


def test_a_lock_of_a_host_that_stopped_beating_expires(db_url):
    """A crawl's lock held on another host (whose processes cannot be checked) is held while its
    heartbeat is fresh, and taken over once it is older than LOCK_STALE: a host that no longer
    exists does not keep its sources locked for ever. The holder's heartbeat keeps it fresh."""
    engine = get_engine(db_url)
    sessions = session_factory(engine)
    with session_scope(engine) as session:
        session.add(SourceRow(id=MUCF, agency="mucf", spider="page"))
        session.flush()
        run = Run(source_id=MUCF, status="running", pid=4242, hostname="gone-host")
        session.add(run)
        session.flush()
        session.add(SourceLock(source_id=MUCF, pid=4242, hostname="gone-host", run_id=run.id,
                               heartbeat_at=utcnow() - runlife.LOCK_STALE + dt.timedelta(minutes=1)))
    with pytest.raises(runlife.SourceLocked, match="pid 4242 on gone-host"):
        runlife.begin_run(sessions, MUCF, "mucf", "page")
    with session_scope(engine) as session:
        session.get(SourceLock, MUCF).heartbeat_at = utcnow() - runlife.LOCK_STALE - dt.timedelta(minutes=1)
    run_id = runlife.begin_run(sessions, MUCF, "mucf", "page")
    assert [(status, reason) for _, status, reason in runs(engine)] == [("failed", "interrupted"), ("running", None)]

    def seen():
        with session_scope(engine) as session:
            return session.get(SourceLock, MUCF).heartbeat_at

    before = seen()
    with runlife.Heartbeat(sessions, MUCF, every=0.05):
        wait_for(lambda: seen() > before, what="a heartbeat")
    runlife.abandon_run(sessions, run_id, MUCF, "interrupted", {})
    assert lock_rows(engine) == []
