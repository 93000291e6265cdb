"""A finished crawl whose apply found no database (past FUNDWATCH_STORAGE_RETRY) is kept on disk and
applied by the next run's begin: once, and before that run, so the change rules see the runs of a
source in order. The database that does not answer is a SQLite file that cannot be opened (a real
OperationalError, the kind a restarting server gives); the whole crawl over a cut PostgreSQL
connection is in test_database_faults.py."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from fundwatch.items import FundItem, item_id
from fundwatch.storage.db import make_engine, session_factory, session_scope
from fundwatch.storage.models import Change, Run, SourceLock
from fundwatch.storage.outcome import RunOutcome
from fundwatch.storage.queries import AWAITS_APPLY, run_json
from fundwatch.storage.runlife import apply_pending, apply_run, begin_run
from fundwatch.storage.spool import Spool, discard_run_files, run_files

SOURCE, AGENCY = "mucf", "mucf"
PAGE = "https://www.mucf.se/bidrag"


def call(key: str) -> FundItem:
    item = FundItem(agency=AGENCY, kind="funding_call", key=key, title=key, url=f"{PAGE}/{key}", origin=PAGE,
                    deadline_text="Ej bestämt")
    item.id = item_id(AGENCY, "funding_call", key)
    return item


def healthy() -> RunOutcome:
    return RunOutcome(status="ok", fetched_pages={PAGE})


def spooled(run_id: int, *keys: str) -> str:
    path = run_files(run_id)[0]
    spool = Spool(path)
    for key in keys:
        spool.write(call(key))
    spool.close()
    return path


def history(engine) -> list[tuple[int, str, str]]:
    with session_scope(engine) as session:
        return [(c.run_id, c.item_id.rsplit("/", 1)[1], c.change)
                for c in session.scalars(select(Change).order_by(Change.id))]


def test_a_crawl_kept_for_the_database_is_applied_once_and_before_the_next_run(engine, crawl_env, tmp_path):
    sessions = session_factory(engine)
    away = session_factory(make_engine(f"sqlite:///{tmp_path}/no-such-folder/fundwatch.db"))
    first = begin_run(sessions, SOURCE, AGENCY, "page")
    apply_run(sessions, first, SOURCE, healthy(), [call("a"), call("b")], remove_after=2)

    kept = begin_run(sessions, SOURCE, AGENCY, "page")  # b is gone from the page: its first miss
    spool = spooled(kept, "a")
    summary = apply_run(away, kept, SOURCE, healthy(), spool, remove_after=2, retry_for=0)
    assert summary["status"] == "pending" and "unable to open database file" in summary["reason"]
    discard_run_files(kept)  # what the crawl does when it ends: a kept crawl's files stay
    assert Path(spool).exists()
    with session_scope(engine) as session:  # `fundwatch runs` and the API say why it is still open
        assert run_json(session.get(Run, kept), AGENCY)["status"] == "running"
        assert run_json(session.get(Run, kept), AGENCY)["reason"] == AWAITS_APPLY

    later = begin_run(sessions, SOURCE, AGENCY, "page")  # applies the kept run first, then begins
    with session_scope(engine) as session:
        run = session.get(Run, kept)
        assert (run.status, run.items) == ("ok", 1)
        assert session.get(SourceLock, SOURCE).run_id == later
    assert not Path(spool).exists()
    with session_scope(engine) as session:
        assert run_json(session.get(Run, kept), AGENCY)["reason"] is None
    done = apply_run(sessions, later, SOURCE, healthy(), [call("a")], remove_after=2)
    assert done["removed"] == 1  # b's second miss: counted after the kept run's first, never before it
    assert history(engine) == [(first, "a", "new"), (first, "b", "new"), (later, "b", "removed")]

    assert apply_pending(sessions) == []  # nothing is applied twice
    begin_run(sessions, SOURCE, AGENCY, "page")
    assert history(engine) == [(first, "a", "new"), (first, "b", "new"), (later, "b", "removed")]
