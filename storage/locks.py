"""One crawl per source at a time, across processes and threads: a row in source_locks, held by
the process that records the run (`fundwatch crawl`, the scheduler, or a `scrapy crawl` on its
own). A lock whose process is gone (killed) is stale and taken over; its run is closed as
interrupted."""

from __future__ import annotations

import os
import socket
import threading

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fundwatch.errors import UserError
from fundwatch.storage.models import SourceLock
from fundwatch.storage.runs import fail_run, process_alive


class SourceLocked(UserError, RuntimeError):
    def __init__(self, source_id: str, pid: int, hostname: str):
        super().__init__(f"a crawl of {source_id} is already running (pid {pid} on {hostname})")
        self.source_id, self.pid, self.hostname = source_id, pid, hostname


# The sources whose lock this process holds. The scheduler crawls from several threads of one
# process, so a lock with this process's pid is live exactly when it is in here; with this pid
# but not in here, it is a leftover of an earlier process that had the same pid (after a restart
# in a container, pids repeat).
_held: set[str] = set()
_held_guard = threading.Lock()


def _stale(held: SourceLock, me: int, host: str) -> bool:
    if held.hostname != host:
        return False  # another machine's process: cannot tell, never stale
    if held.pid == me:
        with _held_guard:
            return held.source_id not in _held
    return not process_alive(held.pid)


def acquire(session_factory, source_id: str) -> None:
    """Take the lock in its own transaction, or raise SourceLocked."""
    me, host = os.getpid(), socket.gethostname()
    for _attempt in range(3):
        added = False
        try:
            with session_factory() as session, session.begin():
                held = session.get(SourceLock, source_id, with_for_update=True)
                if held is not None:
                    if not _stale(held, me, host):
                        raise SourceLocked(source_id, held.pid, held.hostname)
                    # Delete only the lock judged stale. On SQLite the read above locks nothing, so
                    # another crawl may have taken the stale lock over in between; deleting by key
                    # alone would delete that crawl's fresh lock and both would run.
                    taken_over = session.execute(delete(SourceLock).where(
                        SourceLock.source_id == source_id, SourceLock.pid == held.pid,
                        SourceLock.hostname == held.hostname)).rowcount
                    session.expunge(held)
                    if taken_over != 1:
                        continue  # someone else got there first: look again
                    if held.run_id:
                        fail_run(session, held.run_id, "interrupted", {"pid": held.pid})
                try:
                    session.add(SourceLock(source_id=source_id, pid=me, hostname=host))
                    session.flush()
                except IntegrityError:  # another process took it between our read and insert
                    session.rollback()
                    continue
                with _held_guard:  # before the commit: another thread of ours must see it live
                    _held.add(source_id)
                added = True
        except BaseException:
            if added:  # the commit failed
                with _held_guard:
                    _held.discard(source_id)
            raise
        return
    held_row = None
    with session_factory() as session:
        held_row = session.get(SourceLock, source_id)
    raise SourceLocked(source_id, held_row.pid if held_row else -1, held_row.hostname if held_row else "?")


def attach_run(session: Session, source_id: str, run_id: int) -> None:
    lock = session.get(SourceLock, source_id)
    if lock is not None:
        lock.run_id = run_id


def release(session: Session, source_id: str) -> None:
    session.execute(delete(SourceLock).where(SourceLock.source_id == source_id, SourceLock.pid == os.getpid()))
    with _held_guard:
        _held.discard(source_id)


def holder(session: Session, source_id: str) -> SourceLock | None:
    return session.scalars(select(SourceLock).where(SourceLock.source_id == source_id)).first()
