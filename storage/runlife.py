"""A run's life, in one place: lock the source, begin the run, apply it or abandon it.

    run_id = begin_run(sessions, source_id, agency, spider)   # lock + a committed `running` row
    with Heartbeat(sessions, source_id):                       # the lock stays fresh while it crawls
        ...crawl, spooling items to spool_path(run_id)...
    apply_run(sessions, run_id, source_id, outcome, spool)     # changes + close + unlock, one transaction
    # or: abandon_run(sessions, run_id, source_id, code, params)   # failed, nothing applied

`fundwatch crawl` (fundwatch/crawl.py, also the scheduler's crawl job) and a `scrapy crawl` on its
own (spiders/pipelines.py) both go through these four calls; the change rules they apply are in
storage/changes.py.

The lock is a row in source_locks held by the process that records the run. It is stale, and taken
over, when its holder is gone: on this host, its process has ended (fundwatch/liveness.py); on
another host, its heartbeat is older than LOCK_STALE (the host may no longer exist). The taker ends
the dead crawl's process group first (the lock records it) and closes its run as interrupted.

A database that does not answer (locked by another writer, restarting) is waited for: the begin and
the apply are tried again with backoff for $FUNDWATCH_STORAGE_RETRY seconds. A finished crawl whose
apply still found no database awaits it on disk (storage/spool.py await_apply) and is applied, in
run order and once, before the next run of any source begins (apply_pending)."""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import threading
import time
from typing import Any, Callable, Iterable, Sequence, TypeVar

from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from fundwatch import config
from fundwatch.errors import UserError
from fundwatch.items import FundItem
from fundwatch.liveness import holder_alive, process_alive, runs_scrapy_crawl, this_host
from fundwatch.storage import drift
from fundwatch.storage.changes import REMOVE_AFTER_MISSES, apply_changes
from fundwatch.storage.db import describe_error, transient
from fundwatch.storage.models import Run, SourceLock, SourceRow, utcnow
from fundwatch.storage.outcome import RunOutcome
from fundwatch.storage.reasons import reason_en
from fundwatch.storage.spool import (
    PendingApply,
    await_apply,
    discard_run_files,
    forget_run_files,
    leave_reason,
    pending_applies,
    pending_apply,
    read_spool,
    take_reason,
)

logger = logging.getLogger(__name__)

LOCK_STALE = dt.timedelta(minutes=5)  # a lock of another host not refreshed for this long is stale
HEARTBEAT_EVERY = 30.0  # seconds between refreshes of a held lock: well inside LOCK_STALE
RETRY_FIRST, RETRY_MAX = 1.0, 30.0  # seconds: the backoff of a begin or apply the database refused
T = TypeVar("T")


class SourceLocked(UserError, RuntimeError):
    def __init__(self, source_id: str, pid: int, hostname: str):
        super().__init__(f"a crawl of {source_id} is already running (pid {pid} on {hostname})")
        self.source_id, self.pid, self.hostname = source_id, pid, hostname


# -- the lock ----------------------------------------------------------------------------------------
# The sources whose lock this process holds. The scheduler crawls from several threads of one
# process, so a lock with this process's pid is live exactly when it is in here; with this pid
# but not in here, it is a leftover of an earlier process that had the same pid (after a restart
# in a container, pids repeat).
_held: set[str] = set()
_held_guard = threading.Lock()


def _stale(held: SourceLock, me: int, host: str) -> bool:
    if held.hostname == host and held.pid == me:
        with _held_guard:
            return held.source_id not in _held
    return not holder_alive(held.pid, held.hostname, held.heartbeat_at or held.acquired_at, LOCK_STALE)


def end_process_group(pgid: int | None, wait: float = 5.0) -> None:
    """SIGKILL a dead crawl's process group (a `scrapy crawl` child whose parent is gone) and wait
    briefly for it to go, so that the crawl taking its lock never runs beside it."""
    if not pgid or pgid == os.getpgid(0) or not runs_scrapy_crawl(pgid):
        return
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return
    logger.warning("ended process group %s of a crawl whose recording process is gone", pgid)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and process_alive(pgid):
        time.sleep(0.05)


def acquire_lock(sessions, source_id: str) -> None:
    """Take the lock in its own transaction, or raise SourceLocked."""
    me, host = os.getpid(), this_host()
    for _attempt in range(3):
        added = False
        try:
            with sessions() as session, session.begin():
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
                    if held.hostname == host:
                        end_process_group(held.pgid)
                    if held.run_id:
                        close_left_run(session, held.run_id, held.pid)
                try:
                    session.add(SourceLock(source_id=source_id, pid=me, hostname=host, heartbeat_at=utcnow()))
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
        if held is not None and held.run_id and held.hostname == host:
            forget_run_files(held.run_id)  # closed above, and committed: applied or failed
        return
    with sessions() as session:
        held_row = session.get(SourceLock, source_id)
    raise SourceLocked(source_id, held_row.pid if held_row else -1, held_row.hostname if held_row else "?")


def release_lock(session: Session, source_id: str) -> None:
    session.execute(delete(SourceLock).where(SourceLock.source_id == source_id, SourceLock.pid == os.getpid(),
                                             SourceLock.hostname == this_host()))
    with _held_guard:
        _held.discard(source_id)


def lock_holder(session: Session, source_id: str) -> SourceLock | None:
    return session.scalars(select(SourceLock).where(SourceLock.source_id == source_id)).first()


def refresh_lock(sessions, source_id: str, **values: Any) -> None:
    """The heartbeat of a lock this process holds (and any other column of it, e.g. pgid)."""
    with sessions() as session, session.begin():
        session.execute(update(SourceLock).where(
            SourceLock.source_id == source_id, SourceLock.pid == os.getpid(),
            SourceLock.hostname == this_host()).values(heartbeat_at=utcnow(), **values))


def record_child(sessions, source_id: str, pgid: int) -> None:
    """The crawl's child leads this process group: a taker of a stale lock ends it first. A database
    away for the moment costs a warning, not the crawl (the child also dies with its parent)."""
    try:
        refresh_lock(sessions, source_id, pgid=pgid)
    except DBAPIError as exc:
        logger.warning("could not record the crawl process of %s: %s", source_id, describe_error(exc))


class Heartbeat:
    """Refreshes a held lock every EVERY seconds from a thread, while the run crawls. A database
    that is away for a while only costs a warning: the lock goes stale on other hosts only after
    LOCK_STALE, and on this host the holder's process is what counts."""

    def __init__(self, sessions, source_id: str, every: float = HEARTBEAT_EVERY):
        self.sessions, self.source_id, self.every = sessions, source_id, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat {source_id}", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.beat()

    def beat(self) -> None:
        try:
            refresh_lock(self.sessions, self.source_id)
        except DBAPIError as exc:
            logger.warning("could not refresh the lock of %s: %s", self.source_id, describe_error(exc))

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> Heartbeat:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


# -- the run -----------------------------------------------------------------------------------------
def ensure_source(session: Session, source_id: str, agency: str, spider: str) -> None:
    if session.get(SourceRow, source_id) is None:
        session.add(SourceRow(id=source_id, agency=agency, spider=spider))
        session.flush()


def start_run(session: Session, source_id: str, agency: str, spider: str) -> Run:
    """Insert the `running` row; the caller commits it at once so it survives a crash."""
    ensure_source(session, source_id, agency, spider)
    run = Run(source_id=source_id, status="running", pid=os.getpid(), hostname=this_host())
    session.add(run)
    session.flush()
    return run


def finish_run(session: Session, run_id: int, outcome: RunOutcome, items: Iterable[FundItem], *,
               remove_after: int = REMOVE_AFTER_MISSES) -> Run:
    """Apply the run's items with the change rules and close it: call inside one transaction."""
    run = session.get(Run, run_id, with_for_update=True)
    if run is None:
        raise LookupError(f"run {run_id} does not exist")
    if run.status != "running":
        raise RuntimeError(f"run {run_id} is already {run.status}")
    counts, seen = apply_changes(session, run, outcome, items, remove_after=remove_after)
    run.status, run.finished_at = outcome.status, utcnow()
    run.reason_code, run.reason_params = outcome.reason_code, outcome.reason_params
    run.warnings, run.page_log = outcome.warnings or None, outcome.page_log or None
    run.shape = outcome.shape or None
    run.pages, run.items, run.errors = len(outcome.page_log), seen, outcome.errors
    run.new, run.updated, run.removed, run.reappeared = (
        counts["new"], counts["updated"], counts["removed"], counts["reappeared"])
    return run


def fail_run(session: Session, run_id: int, code: str, params: dict[str, Any] | None = None) -> Run | None:
    """Close a run that never reached its own close (killed, timed out): failed, nothing applied."""
    run = session.get(Run, run_id, with_for_update=True)
    if run is None or run.status != "running":
        return run
    run.status, run.finished_at, run.reason_code, run.reason_params = "failed", utcnow(), code, params or {}
    return run


def close_left_run(session: Session, run_id: int, pid: int | None) -> None:
    """Close a run its process left `running`: applied, when its crawl finished and only awaited
    the database (apply_pending); else failed, with the reason its process left or `interrupted`."""
    pending = pending_apply(run_id)
    if pending is not None:
        _apply_pending_in(session, pending)
    else:
        fail_run(session, run_id, *(take_reason(run_id) or ("interrupted", {"pid": pid})))


def recover_interrupted(session: Session) -> list[int]:
    """`running` rows of this host whose process is gone are closed (close_left_run: failed as
    interrupted, or applied when they awaited the database). Returns their ids: their files may
    go once this transaction is committed (forget_run_files)."""
    host = this_host()
    recovered = []
    for run in session.scalars(select(Run).where(Run.status == "running")).all():
        if run.hostname == host and not process_alive(run.pid):
            close_left_run(session, run.id, run.pid)
            recovered.append(run.id)
    return recovered


def recover_left_runs(sessions) -> list[str]:
    """Before a crawl: apply the finished crawls that awaited the database, then close the runs
    left `running` by processes that are gone. One line for the operator per run."""
    lines = [f"run {summary['run_id']} of {summary['source']}, kept while the database did not answer, is "
             f"applied now: {summary['status']}" for summary in apply_pending(sessions)]
    with sessions() as session, session.begin():
        interrupted = recover_interrupted(session)
    for run_id in interrupted:
        forget_run_files(run_id)
    return lines + [f"run {run_id} was left running by a process that is gone: recorded as interrupted"
                    for run_id in interrupted]


def retrying(what: str, attempt: Callable[[], T], retry_for: float) -> T:
    """ATTEMPT(), tried again with backoff (RETRY_FIRST, doubling up to RETRY_MAX seconds) while
    the database does not answer, for RETRY_FOR seconds; then its error is raised."""
    give_up, delay = time.monotonic() + retry_for, RETRY_FIRST
    while True:
        try:
            return attempt()
        except Exception as exc:
            if not (transient(exc) and time.monotonic() + delay < give_up):
                raise
            logger.warning("%s: %s; trying again in %.0f s", what, describe_error(exc), delay)
            time.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)


def begin_run(sessions, source_id: str, agency: str, spider: str, *, retry_for: float | None = None) -> int:
    """The new run's id, after the runs left behind are closed (recover_left_runs). Raises
    SourceLocked while another crawl of the source runs. A database that does not answer is
    waited for, as an apply is (RETRY_FOR, default $FUNDWATCH_STORAGE_RETRY)."""
    retry_for = storage_retry_seconds() if retry_for is None else retry_for
    return retrying(f"beginning a run of {source_id}", lambda: _begin_once(sessions, source_id, agency, spider),
                    retry_for)


def _begin_once(sessions, source_id: str, agency: str, spider: str) -> int:
    for line in recover_left_runs(sessions):  # `fundwatch crawl` has said these already; the scheduler says them here
        logger.warning("%s", line)
    acquire_lock(sessions, source_id)
    try:
        with sessions() as session, session.begin():
            run = start_run(session, source_id, agency, spider)
            session.get(SourceLock, source_id).run_id = run.id
            return run.id
    except BaseException:
        try:
            with sessions() as session, session.begin():
                release_lock(session, source_id)
        finally:  # if even that failed, the lock row is a leftover the next attempt takes over
            with _held_guard:
                _held.discard(source_id)
        raise


def storage_retry_seconds() -> float:
    """$FUNDWATCH_STORAGE_RETRY; read before a crawl starts, so a bad value costs no crawl."""
    value = config.env("FUNDWATCH_STORAGE_RETRY")
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise config.ConfigError(f"FUNDWATCH_STORAGE_RETRY must be a number of seconds (0 or more), not {value!r}")
    return seconds


def apply_run(sessions, run_id: int, source_id: str, outcome: RunOutcome, items: str | Sequence[FundItem], *,
              remove_after: int = REMOVE_AFTER_MISSES, retry_for: float | None = None) -> dict[str, Any]:
    """Apply ITEMS (a spool file, or a list) with the change rules, close the run, release the
    lock, in one transaction. Returns the run's summary. A database that does not answer (locked,
    restarting) is tried again with backoff for RETRY_FOR seconds (default
    $FUNDWATCH_STORAGE_RETRY); if it still does not, a spooled run awaits the database on disk
    (status `pending`: the next crawl applies it), a list of items fails `storage_error`. Any other
    storage error fails the run `storage_error` at once, with nothing applied."""
    retry_for = storage_retry_seconds() if retry_for is None else retry_for
    reported = outcome.to_json()  # as the crawl reported it, before this process judged it

    def attempt() -> dict[str, Any]:
        with sessions() as session, session.begin():
            summary = _apply_in(session, run_id, source_id, outcome, items, remove_after)
            release_lock(session, source_id)
            return summary

    def keep() -> bool:
        if not (isinstance(items, str) and _keep(PendingApply(run_id, source_id, items, reported, remove_after))):
            return False
        with _held_guard:  # its lock row stays: a leftover that the next crawl takes over, applying this run
            _held.discard(source_id)
        return True

    try:
        return retrying(f"applying run {run_id} of {source_id}", attempt, retry_for)
    except KeyboardInterrupt:  # stopped (Ctrl-C, SIGTERM) while it waited for the database: keep the crawl
        if keep():  # (an attempt cut short rolled back; one that committed is found closed and not redone)
            logger.error("run %s of %s is kept for the next crawl to apply", run_id, source_id)
        raise
    except Exception as exc:  # noqa: BLE001 - recorded on the run, not lost
        error = describe_error(exc)
        if transient(exc) and keep():
            logger.error("run %s of %s is kept until the database answers: %s", run_id, source_id, error)
            return {"run_id": run_id, "status": "pending",
                    "reason": f"run {run_id} is kept and will be applied when the database answers again "
                              f"(the next crawl): {error}"}
        logger.error("applying run %s of %s failed: %s", run_id, source_id, error)
        params = {"error": error}
        abandon_run(sessions, run_id, source_id, "storage_error", params)
        return {"run_id": run_id, "status": "failed", "reason": reason_en("storage_error", params)}


def _keep(pending: PendingApply) -> bool:
    try:
        await_apply(pending)
    except OSError as exc:  # a full disk too: then the run fails as it did before it could be kept
        logger.error("run %s of %s cannot be kept for later: %s", pending.run_id, pending.source_id, exc)
        return False
    return True


def _apply_in(session: Session, run_id: int, source_id: str, outcome: RunOutcome,
              items: str | Sequence[FundItem], remove_after: int) -> dict[str, Any]:
    drift.guard(session, source_id, outcome)
    run = finish_run(session, run_id, outcome, read_spool(items) if isinstance(items, str) else items,
                     remove_after=remove_after)
    return {
        "run_id": run.id, "status": run.status, "pages": run.pages, "items": run.items,
        "new": run.new, "updated": run.updated, "removed": run.removed,
        "reappeared": run.reappeared, "reason": reason_en(run.reason_code, run.reason_params),
    }


def _apply_pending_in(session: Session, pending: PendingApply) -> dict[str, Any] | None:
    """Apply a run that awaited the database, in SESSION's transaction, and release its lock. None
    when it is no longer `running` (applied or closed by someone else meanwhile): never twice."""
    run = session.get(Run, pending.run_id, with_for_update=True)
    if run is None or run.status != "running":
        return None
    summary = _apply_in(session, pending.run_id, pending.source_id, RunOutcome.from_json(pending.outcome),
                        pending.spool, pending.remove_after)
    _release_kept_lock(session, pending)
    return {**summary, "source": pending.source_id}


def _release_kept_lock(session: Session, pending: PendingApply) -> None:
    """The lock a kept run left behind, if it still holds it (not one a later crawl has taken)."""
    session.execute(delete(SourceLock).where(SourceLock.source_id == pending.source_id,
                                             SourceLock.run_id == pending.run_id))


def apply_pending(sessions) -> list[dict[str, Any]]:
    """Apply, oldest first and each in its own transaction, the finished crawls of this host that
    awaited the database; their files go once applied. Returns their summaries. A database that
    still does not answer raises (nothing is lost: they wait for the next try); any other error
    fails that run `storage_error`, as a failed apply does."""
    done = []
    for pending in pending_applies():
        try:
            with sessions() as session, session.begin():
                summary = _apply_pending_in(session, pending)
        except Exception as exc:
            if transient(exc):
                raise
            params = {"error": describe_error(exc)}
            logger.error("applying run %s of %s, kept for the database, failed: %s", pending.run_id,
                         pending.source_id, params["error"])
            with sessions() as session, session.begin():
                fail_run(session, pending.run_id, "storage_error", params)
                _release_kept_lock(session, pending)
            summary = {"run_id": pending.run_id, "source": pending.source_id, "status": "failed",
                       "reason": reason_en("storage_error", params)}
        forget_run_files(pending.run_id)
        if summary is not None:
            done.append(summary)
    return done


def abandon_run(sessions, run_id: int, source_id: str, code: str, params: dict[str, Any]) -> None:
    """The crawl never closed its run (killed, crashed, timed out): failed with this reason. With
    the database away, the reason is left beside the run's files for whoever closes it later."""
    try:
        with sessions() as session, session.begin():
            fail_run(session, run_id, code, params)
            release_lock(session, source_id)
    except DBAPIError as exc:
        leave_reason(run_id, code, params)
        with _held_guard:  # its row, left with this pid, is now a leftover the next crawl takes over
            _held.discard(source_id)
        logger.error("run %s of %s could not be closed as failed (%s): %s", run_id, source_id, code,
                     describe_error(exc))
    discard_run_files(run_id)
