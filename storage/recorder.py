"""Recording a crawl as a run: begin it (close runs left by dead processes, take the source's
lock, commit a `running` row), then apply it (the crawl's items and outcome in one transaction,
the lock released) or abandon it (the crawl died: failed, nothing applied).

`fundwatch crawl` does this around its `scrapy crawl` child, which only crawls and spools (so
the child never imports the database layer); a `scrapy crawl` run on its own does it in its
storage pipeline."""

from __future__ import annotations

import logging
from typing import Any, Iterable

from fundwatch.items import FundItem
from fundwatch.storage import drift, locks
from fundwatch.storage.outcome import RunOutcome
from fundwatch.storage.reasons import reason_en
from fundwatch.storage.runs import REMOVE_AFTER_MISSES, fail_run, finish_run, recover_interrupted, start_run

logger = logging.getLogger(__name__)


def begin_run(sessions, source_id: str, agency: str, spider: str) -> int:
    """The new run's id. Raises locks.SourceLocked while another crawl of the source runs."""
    with sessions() as session, session.begin():
        recover_interrupted(session)
    locks.acquire(sessions, source_id)
    try:
        with sessions() as session, session.begin():
            run = start_run(session, source_id, agency, spider)
            locks.attach_run(session, source_id, run.id)
            return run.id
    except BaseException:
        with sessions() as session, session.begin():
            locks.release(session, source_id)
        raise


def apply_run(sessions, run_id: int, source_id: str, outcome: RunOutcome, items: Iterable[FundItem], *,
              remove_after: int = REMOVE_AFTER_MISSES) -> dict[str, Any]:
    """Apply the items, close the run, release the lock. Returns the run's summary. A storage
    error fails the run with nothing applied (the transaction rolls back) and is reported."""
    try:
        with sessions() as session, session.begin():
            drift.guard(session, source_id, outcome)
            run = finish_run(session, run_id, outcome, items, remove_after=remove_after)
            locks.release(session, source_id)
            return {
                "run_id": run.id, "status": run.status, "pages": run.pages, "items": run.items,
                "new": run.new, "updated": run.updated, "removed": run.removed,
                "reappeared": run.reappeared, "reason": reason_en(run.reason_code, run.reason_params),
            }
    except Exception as exc:  # noqa: BLE001 - recorded on the run, not lost
        logger.exception("applying run %s failed", run_id)
        abandon_run(sessions, run_id, source_id, "storage_error", {"error": str(exc)})
        return {"run_id": run_id, "status": "failed", "reason": reason_en("storage_error", {"error": str(exc)})}


def abandon_run(sessions, run_id: int, source_id: str, code: str, params: dict[str, Any]) -> None:
    """The crawl never closed its run (killed, crashed, timed out): failed with this reason."""
    with sessions() as session, session.begin():
        fail_run(session, run_id, code, params)
        locks.release(session, source_id)
