"""Change rules of storage/changes.py, each test run on SQLite and PostgreSQL (the `engine` fixture).

Assertions are what a user would notice: rows in the change_log / current_items views, the Change
rows and their fields, an item's status and the counts on the run."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from fundwatch.items import FundItem, item_id, slugify
from fundwatch.storage.models import Base, Change, Item, ItemVersion, Run
from fundwatch.storage.outcome import RunOutcome
from fundwatch.storage.runlife import fail_run, finish_run, recover_interrupted, start_run

SOURCE, AGENCY = "vinnova-calls", "vinnova"
LIST = "https://www.vinnova.se/utlysningar/"
NEWS = "https://www.vinnova.se/nyheter/"


def call(key: str = "Innovativa Impulser", kind: str = "funding_call", origin: str = LIST, **kw) -> FundItem:
    kw.setdefault("title", key)
    kw.setdefault("url", f"https://www.vinnova.se/e/{slugify(key)}/")
    item = FundItem(agency=AGENCY, kind=kind, key=key, origin=origin, **kw)
    item.id, item.source = item_id(AGENCY, kind, key), SOURCE
    return item


def crawl(engine, items, status: str = "ok", fetched=(LIST, NEWS), **finish_kw) -> Run:
    """One run: start (commit), then finish with its items in one transaction."""
    with Session(engine, expire_on_commit=False) as s:
        with s.begin():
            run_id = start_run(s, SOURCE, AGENCY, "vinnova").id
        with s.begin():
            run = finish_run(s, run_id, RunOutcome(status=status, fetched_pages=set(fetched)), items, **finish_kw)
    return run


def rows(engine, sql: str, **params) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text(sql), params)]


def changes(engine, iid: str) -> list[Change]:
    with Session(engine) as s:
        return list(s.scalars(select(Change).where(Change.item_id == iid).order_by(Change.id)))


def item(engine, iid: str) -> Item:
    with Session(engine) as s:
        return s.get(Item, iid)


def table_counts(engine) -> dict[str, int]:
    names = inspect(engine).get_table_names()
    with engine.connect() as conn:
        return {n: conn.execute(text(f"SELECT COUNT(*) FROM {n}")).scalar_one() for n in names}


def history(engine) -> dict[str, list[tuple]]:
    """Every row of the append-only tables, as plain tuples."""
    out = {}
    for table in ("runs", "item_versions", "changes", "change_fields"):
        t = Base.metadata.tables[table]
        with engine.connect() as conn:
            out[table] = [tuple(r) for r in conn.execute(select(t).order_by(t.c.id))]
    return out


# 1 ------------------------------------------------------------------------------------------
def test_new_item(engine):
    run = crawl(engine, [call(deadline=dt.date(2099, 3, 1))])
    iid = "vinnova/funding_call/innovativa-impulser"
    assert (run.status, run.new, run.items, run.updated, run.removed) == ("ok", 1, 1, 0, 0)
    log = rows(engine, "SELECT change, field, title, item_id FROM change_log")
    assert log == [{"change": "new", "field": None, "title": "Innovativa Impulser", "item_id": iid}]
    current = rows(engine, "SELECT id, version, status FROM current_items")
    assert current == [{"id": iid, "version": 1, "status": "open"}]
    with Session(engine) as s:
        assert s.scalars(select(ItemVersion.version).where(ItemVersion.item_id == iid)).all() == [1]


# 2 ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_update_records_changed_fields_and_text_diff(engine):
    iid = call().id
    crawl(engine, [call(deadline=dt.date(2027, 3, 1), amount_sek=5_000_000, text="Rad ett\nRad två")])
    run = crawl(engine, [call(deadline=dt.date(2027, 4, 15), amount_sek=7_500_000, text="Rad ett\nRad två")])
    assert (run.updated, run.new) == (1, 0)
    log = rows(engine, "SELECT field, old_value, new_value FROM change_log WHERE change = 'updated' ORDER BY field")
    assert log == [
        {"field": "amount_sek", "old_value": "5000000", "new_value": "7500000"},
        {"field": "deadline", "old_value": "2027-03-01", "new_value": "2027-04-15"},
    ]
    assert item(engine, iid).version == 2
    assert rows(engine, "SELECT version FROM current_items") == [{"version": 2}]
    assert changes(engine, iid)[-1].diff is None  # text did not change

    crawl(engine, [call(deadline=dt.date(2027, 4, 15), amount_sek=7_500_000, text="Rad ett\nRad 2")])
    last = changes(engine, iid)[-1]
    assert last.change == "updated" and [f.field for f in last.fields] == ["text"]
    diff_lines = last.diff.splitlines()
    assert "-Rad två" in diff_lines and "+Rad 2" in diff_lines
    assert item(engine, iid).version == 3


# 3 ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_unchanged_recrawl_adds_only_the_run(engine):
    items = [call(deadline=dt.date(2027, 3, 1), details={"Diarienummer": "2026-01234"}), call("Andra")]
    crawl(engine, items)
    before = table_counts(engine)
    run = crawl(engine, items)
    after = table_counts(engine)
    assert after.pop("runs") == before.pop("runs") + 1
    assert after == before
    assert (run.new, run.updated, run.removed, run.reappeared, run.items) == (0, 0, 0, 0, 2)


# 4 ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_two_counted_misses_remove_and_a_sighting_resets(engine):
    a, b = call("A"), call("B")
    crawl(engine, [a, b])
    crawl(engine, [a])  # miss 1 for B
    got = item(engine, b.id)
    assert (got.status, got.misses) == ("unknown", 1)
    assert [c.change for c in changes(engine, b.id)] == ["new"]
    assert {r["id"] for r in rows(engine, "SELECT id FROM current_items")} == {a.id, b.id}

    crawl(engine, [a, b])  # seen again: count resets
    assert item(engine, b.id).misses == 0
    crawl(engine, [a])
    assert (item(engine, b.id).misses, item(engine, b.id).status) == (1, "unknown")

    run = crawl(engine, [a])  # second consecutive miss
    assert run.removed == 1
    assert [c.change for c in changes(engine, b.id)] == ["new", "removed"]
    assert item(engine, b.id).status == "removed" and item(engine, b.id).removed_at is not None
    assert [r["id"] for r in rows(engine, "SELECT id FROM current_items")] == [a.id]


# 5 ------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("status", ["partial", "failed"])
def test_miss_on_unhealthy_run_does_not_count(engine, status):
    a, b = call("A"), call("B")
    crawl(engine, [a, b])
    for _ in range(3):
        assert crawl(engine, [a], status=status).removed == 0
    assert (item(engine, b.id).misses, item(engine, b.id).status) == (0, "unknown")


@pytest.mark.slow
def test_miss_when_origin_page_not_fetched_does_not_count(engine):
    a, b = call("A"), call("B", origin="https://www.vinnova.se/utlysningar/?page=2")
    crawl(engine, [a, b])
    for _ in range(3):
        assert crawl(engine, [a], fetched=[LIST]).removed == 0
    assert (item(engine, b.id).misses, item(engine, b.id).status) == (0, "unknown")
    crawl(engine, [a], fetched=[LIST, b.origin])  # now its page was fetched: the miss counts
    assert item(engine, b.id).misses == 1


# 6 ------------------------------------------------------------------------------------------
def _remove(engine, keep, gone):
    crawl(engine, [keep, gone])
    crawl(engine, [keep])
    crawl(engine, [keep])
    assert item(engine, gone.id).status == "removed"


def test_removed_item_reappears_never_new_again(engine):
    a, b = call("A"), call("B", status="open", deadline=dt.date(2027, 5, 1))
    _remove(engine, a, b)
    run = crawl(engine, [a, b])
    assert (run.reappeared, run.new) == (1, 0)
    assert [c.change for c in changes(engine, b.id)] == ["new", "removed", "reappeared"]
    assert changes(engine, b.id)[-1].fields == []
    got = item(engine, b.id)
    assert (got.status, got.version, got.removed_at, got.misses) == ("open", 1, None, 0)
    assert b.id in {r["id"] for r in rows(engine, "SELECT id FROM current_items")}


def test_reappeared_with_changed_content_carries_the_fields(engine):
    a, b = call("A"), call("B", status="open", amount_text="2 miljoner kronor")
    _remove(engine, a, b)
    b2 = call("B", status="open", amount_text="3 miljoner kronor")
    run = crawl(engine, [a, b2])
    assert (run.reappeared, run.new, run.updated) == (1, 0, 0)
    log = rows(engine, "SELECT change, field, old_value, new_value FROM change_log WHERE item_id = :i "
                       "AND change = 'reappeared'", i=b.id)
    assert log == [{"change": "reappeared", "field": "amount_text",
                    "old_value": "2 miljoner kronor", "new_value": "3 miljoner kronor"}]
    got = item(engine, b.id)
    assert (got.status, got.version, got.amount_text) == ("open", 2, "3 miljoner kronor")


# 7 ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_news_is_never_removed_by_absence(engine):
    a, news = call("A"), call("Ny utlysning öppnar", kind="news", origin=NEWS)
    crawl(engine, [a, news])
    for _ in range(5):
        assert crawl(engine, [a]).removed == 0
    assert item(engine, news.id).status == "unknown"
    assert [c.change for c in changes(engine, news.id)] == ["new"]


# 8 ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_remove_after_three(engine):
    a, b = call("A"), call("B")
    crawl(engine, [a, b], remove_after=3)
    crawl(engine, [a], remove_after=3)
    crawl(engine, [a], remove_after=3)
    assert (item(engine, b.id).status, item(engine, b.id).misses) == ("unknown", 2)
    assert crawl(engine, [a], remove_after=3).removed == 1
    assert item(engine, b.id).status == "removed"


# 9 ------------------------------------------------------------------------------------------
def test_fail_run_applies_nothing_and_a_failed_run_cannot_be_finished(engine):
    a, b = call("A", amount_sek=1), call("B")
    crawl(engine, [a, b])
    before = history(engine)
    with Session(engine) as s:
        with s.begin():
            run_id = start_run(s, SOURCE, AGENCY, "vinnova").id
        with s.begin():
            fail_run(s, run_id, "timeout", {"seconds": 600})
        with pytest.raises(RuntimeError, match="already failed"), s.begin():  # A changed, C new: none may land
            finish_run(s, run_id, RunOutcome(status="ok", fetched_pages={LIST}), [call("A", amount_sek=2), call("C")])
    with Session(engine) as s:
        run = s.get(Run, run_id)
        assert (run.status, run.reason_code, run.reason_params) == ("failed", "timeout", {"seconds": 600})
        assert run.finished_at is not None and (run.new, run.updated, run.removed) == (0, 0, 0)
        assert s.get(Item, call("C").id) is None
        got_a, got_b = s.get(Item, a.id), s.get(Item, b.id)
        assert (got_a.amount_sek, got_a.version, got_b.misses) == (1, 1, 0)
    after = history(engine)
    assert {t: after[t] for t in after if t != "runs"} == {t: before[t] for t in before if t != "runs"}


@pytest.mark.slow
def test_recover_interrupted_only_dead_processes(engine):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    with Session(engine) as s, s.begin():
        dead = start_run(s, SOURCE, AGENCY, "vinnova")
        dead.pid = child.pid
        live = start_run(s, SOURCE, AGENCY, "vinnova")
        assert live.pid == os.getpid()
        dead_id, live_id = dead.id, live.id
    with Session(engine) as s, s.begin():
        assert recover_interrupted(s) == [dead_id]
    with Session(engine) as s:
        dead, live = s.get(Run, dead_id), s.get(Run, live_id)
        assert (dead.status, dead.reason_code, dead.reason_params) == ("failed", "interrupted", {"pid": child.pid})
        assert (live.status, live.reason_code, live.finished_at) == ("running", None, None)
        assert s.scalar(select(func.count()).select_from(Item)) == 0


# 10 -----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_history_is_append_only(engine):
    a, b = call("A", text="eins"), call("B", amount_sek=1)
    crawl(engine, [a, b])
    crawl(engine, [call("A", text="zwei"), b])
    crawl(engine, [call("A", text="zwei")])
    earlier = history(engine)
    assert all(earlier[t] for t in ("runs", "item_versions", "changes", "change_fields"))
    crawl(engine, [call("A", text="drei")])  # B removed, A updated
    crawl(engine, [call("A", text="drei"), call("B", amount_sek=2)])  # B reappears changed
    crawl(engine, [call("C")], status="partial")
    later = history(engine)
    for table, old_rows in earlier.items():
        assert later[table][: len(old_rows)] == old_rows, table
        assert len(later[table]) > len(old_rows), table


# 11 -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("key, slug", [
    ("Specifikt mål 1-4", "specifikt-mål-1-4"),
    ("ÅTERVINNING & Återbruk", "återvinning-återbruk"),
    ("Ｆｕｌｌｗｉｄｔｈ ﬁnans", "fullwidth-finans"),  # NFKC: fullwidth letters, the fi ligature
    ("Straße – Über_alles!", "strasse-über-alles"),  # casefold, dash and underscore
    ("  ---  ", "item"),
])
def test_slugify(key, slug):
    assert slugify(key) == slug


def test_item_id():
    assert item_id("vr", "funding_call", "Specifikt mål 1-4") == "vr/funding_call/specifikt-mål-1-4"
    assert item_id("vr", "news", "Öppen utlysning") == "vr/news/öppen-utlysning"


# 12 -----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_timestamps_read_back_aware_utc(engine):
    t0 = dt.datetime.now(dt.UTC)
    a, b = call("A"), call("B")
    crawl(engine, [a, b])
    crawl(engine, [a])
    crawl(engine, [a])
    with Session(engine) as s:
        run = s.scalars(select(Run).order_by(Run.id.desc())).first()
        got = s.get(Item, b.id)
        version = s.scalars(select(ItemVersion)).first()
        stamps = [run.started_at, run.finished_at, got.first_seen, got.last_seen, got.removed_at,
                  version.recorded_at, *(c.detected_at for c in s.scalars(select(Change)))]
    for stamp in stamps:
        assert stamp.tzinfo is not None and stamp.utcoffset() == dt.timedelta(0)
        assert t0 - dt.timedelta(seconds=1) <= stamp <= dt.datetime.now(dt.UTC)
    with pytest.raises(StatementError, match="naive"):  # refused, never stored as local time
        with Session(engine) as s, s.begin():
            s.get(Run, run.id).finished_at = dt.datetime(2027, 1, 1)
