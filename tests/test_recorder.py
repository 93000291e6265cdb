"""Recording a crawl as a run (storage/runlife.py), on both databases: begin refuses a source
whose crawl is running, apply closes the run with its changes and frees the source, and a run
that cannot be stored fails with its reason and leaves nothing applied."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from fundwatch.items import FundItem, item_id
from fundwatch.storage.db import session_factory, session_scope
from fundwatch.storage.models import Item, Run, SourceLock
from fundwatch.storage.outcome import RunOutcome
from fundwatch.storage.runlife import SourceLocked, abandon_run, apply_run, begin_run

SOURCE, AGENCY = "mucf", "mucf"
PAGE = "https://www.mucf.se/bidrag"


def page_item(key: str, **fields) -> FundItem:
    item = FundItem(agency=AGENCY, kind="funding_call", key=key, title=key, url=f"{PAGE}/{key}", origin=PAGE,
                    deadline_text="Ej bestämt", **fields)
    item.id = item_id(AGENCY, "funding_call", key)
    return item


def healthy() -> RunOutcome:
    return RunOutcome(status="ok", fetched_pages={PAGE})


def state(engine) -> tuple[list[tuple[str, str | None]], int, list[str]]:
    with session_scope(engine) as s:
        runs = [(r.status, r.reason_code) for r in s.scalars(select(Run).order_by(Run.id))]
        items = s.scalar(select(func.count()).select_from(Item))
        held = [lock.source_id for lock in s.scalars(select(SourceLock))]
    return runs, items, held


def test_a_run_is_begun_once_applied_and_the_source_freed(engine):
    sessions = session_factory(engine)
    run_id = begin_run(sessions, SOURCE, AGENCY, "page")
    assert state(engine) == ([("running", None)], 0, [SOURCE])
    with pytest.raises(SourceLocked, match=f"a crawl of {SOURCE} is already running"):
        begin_run(sessions, SOURCE, AGENCY, "page")  # another scheduler thread, say
    summary = apply_run(sessions, run_id, SOURCE, healthy(), [page_item("A"), page_item("B")])
    assert {k: summary[k] for k in ("run_id", "status", "items", "new", "removed", "reason")} == {
        "run_id": run_id, "status": "ok", "items": 2, "new": 2, "removed": 0, "reason": ""}
    assert state(engine) == ([("ok", None)], 2, [])
    again = begin_run(sessions, SOURCE, AGENCY, "page")  # free again
    assert again != run_id
    abandon_run(sessions, again, SOURCE, "interrupted", {"pid": 0})


@pytest.mark.slow
def test_a_run_that_cannot_be_stored_fails_with_its_reason_and_applies_nothing(engine):
    sessions = session_factory(engine)
    apply_run(sessions, begin_run(sessions, SOURCE, AGENCY, "page"), SOURCE, healthy(), [page_item("A")])
    run_id = begin_run(sessions, SOURCE, AGENCY, "page")
    unstorable = page_item("C", details={"Stöd": {1, 2}})  # a set is no JSON: the insert fails
    summary = apply_run(sessions, run_id, SOURCE, healthy(), [page_item("B"), unstorable])
    assert summary["status"] == "failed"
    assert summary["reason"].startswith("the run could not be stored: ")
    runs, items, held = state(engine)
    assert runs == [("ok", None), ("failed", "storage_error")]
    assert (items, held) == (1, [])  # B was rolled back with the rest; A was not counted as missing


def test_an_abandoned_run_fails_with_its_reason(engine):
    sessions = session_factory(engine)
    run_id = begin_run(sessions, SOURCE, AGENCY, "page")
    abandon_run(sessions, run_id, SOURCE, "crashed", {"returncode": -9})
    assert state(engine) == ([("failed", "crashed")], 0, [])
    with session_scope(engine) as s:
        assert s.get(Run, run_id).reason_params == {"returncode": -9}
