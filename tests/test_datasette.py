"""The Datasette metadata shipped with the package: it names only tables and views that exist,
hides the subscriber tables, and its canned queries run on a real fundwatch database and answer
what their titles promise."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from importlib.resources import files

from fundwatch.storage.db import get_engine
from fundwatch.storage.queries import now_local
from helpers import crawl, make_item

METADATA = json.loads((files("fundwatch") / "datasette-metadata.json").read_text(encoding="utf-8"))
DATABASE = METADATA["databases"]["fundwatch"]


def run(conn: sqlite3.Connection, name: str, **params) -> list[dict]:
    conn.row_factory = sqlite3.Row
    return [dict(r) for r in conn.execute(DATABASE["queries"][name]["sql"], params)]


def test_metadata_describes_real_tables_and_hides_personal_data(sqlite_url):
    get_engine(sqlite_url)
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as conn:
        names = {n for (n,) in conn.execute("select name from sqlite_master where type in ('table', 'view')")}
    described = set(DATABASE["tables"])
    assert described - names <= {"apscheduler_jobs"}  # created by the scheduler on its first start
    assert {"sources", "runs", "items", "item_versions", "changes", "change_fields", "change_log",
            "current_items"} <= {t for t, meta in DATABASE["tables"].items() if meta.get("description")}
    assert all(DATABASE["tables"][t].get("hidden") for t in ("subscribers", "deliveries", "suppressions"))
    assert set(DATABASE["queries"]) == {"deadlines_next_30_days", "changes_this_week", "deadline_history", "unhealthy_runs"}


def test_canned_queries_answer_on_a_fundwatch_database(sqlite_url):
    engine = get_engine(sqlite_url)
    today = now_local().date()
    first, moved = today + dt.timedelta(days=10), today + dt.timedelta(days=20)
    crawl(engine, "migrationsverket", [make_item("migrationsverket", "Snart", deadline=first),
                                       make_item("migrationsverket", "Senare", deadline=today + dt.timedelta(days=60))])
    crawl(engine, "migrationsverket", [make_item("migrationsverket", "Snart", deadline=moved),
                                       make_item("migrationsverket", "Senare", deadline=today + dt.timedelta(days=60))])
    crawl(engine, "arbetsformedlingen", [], status="failed", reason_code="http_status",
          reason_params={"url": "https://arbetsformedlingen.se/", "status": 503})

    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as conn:
        soon = run(conn, "deadlines_next_30_days")
        assert [(r["title"], r["deadline"]) for r in soon] == [("Snart", moved.isoformat())]
        week = run(conn, "changes_this_week")
        assert {(r["title"], r["change"], r["field"]) for r in week} == {
            ("Snart", "new", None), ("Senare", "new", None), ("Snart", "updated", "deadline")}
        history = run(conn, "deadline_history", item_id="migrationsverket/funding_call/snart")
        assert [(r["change"], r["old_deadline"], r["new_deadline"]) for r in history] == [
            ("first seen", None, first.isoformat()), ("updated", first.isoformat(), moved.isoformat())]
        bad = run(conn, "unhealthy_runs")
        assert [(r["source_id"], r["status"], r["reason_code"]) for r in bad] == [("arbetsformedlingen", "failed", "http_status")]
