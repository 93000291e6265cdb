"""A crawl never outlives its `fundwatch crawl`, whatever signal ends it: real signals to a real
`fundwatch crawl` process, against a site on 127.0.0.1 that holds every page open and logs how
many requests of the source were in flight at once. Never more than one: a source is never
crawled twice at the same time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from fundwatch.crawl import CRAWL_PROCESSES
from fundwatch.liveness import process_alive
from fundwatch.storage import runlife
from fundwatch.storage.db import get_engine, session_factory, session_scope
from fundwatch.storage.models import Run, SourceLock, SourceRow
from fundwatch.storage.spool import run_files, spool_folder
from helpers import MUCF, HoldingServer, crawl_args, env_with, wait_for, write_page_sources

# The page never answers and the crawl would wait for it for a minute: a crawl still running is
# one that was not stopped.
SLOW_TO_GIVE_UP = ["--set", "DOWNLOAD_TIMEOUT=60", "--set", "RETRY_TIMES=0"]


@pytest.fixture
def site():
    server = HoldingServer()
    yield server
    server.close()


def start_crawl(sources: str, site: HoldingServer, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "fundwatch.cli", *crawl_args(MUCF, sources=Path(sources)),
                             *SLOW_TO_GIVE_UP, *extra],
                            env=env_with(FUNDWATCH_MIRROR=site.url), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def lock_row(engine):
    with session_scope(engine) as session:
        lock = session.get(SourceLock, MUCF)
        return (lock.pid, lock.pgid, lock.run_id) if lock else None


def runs(engine) -> list[tuple[str, str | None]]:
    with session_scope(engine) as session:
        return [(r.status, r.reason_code) for r in session.scalars(select(Run).order_by(Run.id))]


def run_files_left() -> list[str]:
    folder = spool_folder()
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_a_signal_to_fundwatch_crawl_never_leaves_its_crawl_running(sqlite_url, crawl_env, site, sig):
    engine = get_engine(sqlite_url)
    sources = write_page_sources(crawl_env, [{"id": MUCF}])
    first = start_crawl(sources, site)
    try:
        wait_for(lambda: site.active == 1, timeout=30, what="the crawl's request in flight")
        _, child_group, run_id = wait_for(lambda: lock_row(engine), what="the crawl's lock")
        assert child_group and process_alive(child_group)
        os.kill(first.pid, sig)  # the `fundwatch crawl` process alone, as a service manager or kill -9 does
        _, stderr = first.communicate(timeout=40)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    wait_for(lambda: not process_alive(child_group), timeout=15, what="the scrapy child to end with its parent")
    wait_for(lambda: site.active == 0, timeout=15, what="the crawl's request to end")
    if sig == signal.SIGKILL:  # nothing could clean up: the lock and run stay until the next crawl
        assert first.returncode == -9
        assert runs(engine) == [("running", None)]
    else:  # the same clean-up as Ctrl-C: SIGTERM to the child, SIGKILL after its grace
        assert first.returncode == 1 and "Aborted" in stderr, stderr
        assert "Traceback" not in stderr
        assert runs(engine) == [("failed", "crashed")]
        assert lock_row(engine) is None
        assert run_files_left() == []

    second = start_crawl(sources, site)  # the next crawl of the source
    try:
        wait_for(lambda: site.requests == 2, timeout=60, what="the next crawl's request")
        site.release()  # the site drops it: that crawl ends (failed)
        _, stderr = second.communicate(timeout=60)
    finally:
        if second.poll() is None:
            os.killpg(second.pid, signal.SIGKILL)
    assert runs(engine)[0] == ("failed", "interrupted" if sig == signal.SIGKILL else "crashed")
    assert runs(engine)[1] == ("failed", "download_error"), stderr
    assert lock_row(engine) is None
    assert run_files_left() == []  # neither the dead run's spool nor its result file is left
    assert site.most == 1  # never two requests of the source at once


@pytest.mark.slow
def test_a_taker_of_a_stale_lock_ends_the_dead_crawls_process_group_first(sqlite_url, crawl_env):
    """Should a crawl child outlive its parent all the same (no parent-death signal on this system),
    the next crawl ends the child's process group before it crawls."""
    engine = get_engine(sqlite_url)
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "scrapy", "crawl", "page"],
                              start_new_session=True)
    group_child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "-m",
                                    "fundwatch.spiders.runner"], start_new_session=True)  # as fundwatch crawl's child
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    dead_parent = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_parent.wait()
    sessions = session_factory(engine)
    with session_scope(engine) as session:
        session.add(SourceRow(id=MUCF, agency="mucf", spider="page"))
        session.flush()
        run = Run(source_id=MUCF, status="running", pid=dead_parent.pid, hostname=runlife.this_host())
        session.add(run)
        session.flush()
        session.add(SourceLock(source_id=MUCF, pid=dead_parent.pid, hostname=runlife.this_host(),
                               run_id=run.id, pgid=orphan.pid))
        dead_run = run.id
    spool, result = run_files(dead_run)
    Path(spool).write_text("{}\n", "utf-8")
    Path(result).write_text("{}", "utf-8")
    try:
        runlife.acquire_lock(sessions, MUCF)
        assert orphan.wait(5) == -signal.SIGKILL
        with session_scope(engine) as session:  # the crawl child of a `fundwatch crawl` that is gone
            lock = session.get(SourceLock, MUCF)
            lock.pid, lock.pgid = dead_parent.pid, group_child.pid
        runlife.acquire_lock(sessions, MUCF)
        assert group_child.wait(5) == -signal.SIGKILL
        # A recorded group whose pid now belongs to something else is left alone.
        with session_scope(engine) as session:
            lock = session.get(SourceLock, MUCF)
            lock.pid, lock.pgid = dead_parent.pid, bystander.pid
        runlife.acquire_lock(sessions, MUCF)
        assert bystander.poll() is None
    finally:
        for process in (orphan, group_child, bystander):
            if process.poll() is None:
                process.kill()
    assert runs(engine) == [("failed", "interrupted")]
    assert not Path(spool).exists() and not Path(result).exists()
    with session_scope(engine) as session:
        runlife.release_lock(session, MUCF)


@pytest.mark.slow
def test_sigterm_to_fundwatch_crawl_stops_every_child_and_closes_every_run(sqlite_url, crawl_env, site):
    """Sources on three hosts, crawled by a child per core (three hosts: up to three children), each
    request held by the site; SIGTERM reaches the main thread only, and every child is stopped,
    every run closed, every lock released."""
    engine = get_engine(sqlite_url)
    sources = write_page_sources(crawl_env, [
        {"id": MUCF}, {"id": "boverket-bidrag", "url": "https://www.boverket.se/sv/bidrag/"},
        {"id": "sst-bidrag", "url": "https://www.myndighetensst.se/bidrag/"}])
    crawl = subprocess.Popen([sys.executable, "-m", "fundwatch.cli",
                              *crawl_args(MUCF, "boverket-bidrag", "sst-bidrag", sources=Path(sources)),
                              *SLOW_TO_GIVE_UP], env=env_with(FUNDWATCH_MIRROR=site.url),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        wait_for(lambda: site.active == 3, timeout=60, what="a request of each source in flight")
        with session_scope(engine) as session:
            groups = {lock.pgid for lock in session.scalars(select(SourceLock))}
        assert len(groups) == min(3, CRAWL_PROCESSES) and all(process_alive(g) for g in groups)
        os.kill(crawl.pid, signal.SIGTERM)
        _, stderr = crawl.communicate(timeout=60)
    finally:
        if crawl.poll() is None:
            os.killpg(crawl.pid, signal.SIGKILL)
    assert crawl.returncode == 1 and "Aborted" in stderr and "Traceback" not in stderr, stderr
    wait_for(lambda: not any(process_alive(g) for g in groups), timeout=15, what="the children to end")
    assert runs(engine) == [("failed", "crashed")] * 3
    with session_scope(engine) as session:
        assert list(session.scalars(select(SourceLock))) == []
    assert run_files_left() == []
