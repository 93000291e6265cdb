"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL, and can
be undone."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, inspect, select

from fundwatch.digest import models as digest_models
from fundwatch.scheduler import models as scheduler_models  # noqa: F401 - registers its tables
from fundwatch.storage.db import alembic_config, get_engine, make_engine, schema_revision, upgrade
from fundwatch.storage.models import Base, Change, Item, ItemVersion, Run
from helpers import add_subscriber, crawl, make_item


@pytest.mark.slow
def test_models_and_migrations_agree(db_url):
    engine = get_engine(db_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = [d for d in compare_metadata(context, Base.metadata)
                if not (isinstance(d, tuple) and d[0] == "remove_table" and d[1].name.startswith("apscheduler"))]
    assert diff == []
    assert {"change_log", "current_items"} <= set(inspect(engine).get_view_names())


@pytest.mark.slow
def test_downgrade_to_nothing_and_back(db_url):
    engine = make_engine(db_url)
    upgrade(engine)
    head = schema_revision(engine)
    upgrade_to_base(engine)
    assert schema_revision(engine) is None
    assert not inspect(engine).has_table("items")
    upgrade(engine)
    assert schema_revision(engine) == head
    engine.dispose()


def test_a_database_behind_the_newest_migration_is_migrated_when_opened(tmp_path):
    """get_engine() skips alembic for a database already at SCHEMA_HEAD, so SCHEMA_HEAD must be
    the newest migration, and an older database is still migrated when opened."""
    from alembic import command
    from alembic.script import ScriptDirectory

    from fundwatch.storage.db import SCHEMA_HEAD, alembic_config, dispose_engines

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    assert ScriptDirectory.from_config(alembic_config(engine)).get_current_head() == SCHEMA_HEAD
    assert schema_revision(engine) is None  # a new database
    command.upgrade(alembic_config(engine), "0003")
    assert schema_revision(engine) == "0003"
    engine.dispose()
    try:
        assert schema_revision(get_engine(url)) == SCHEMA_HEAD
    finally:
        dispose_engines()


def upgrade_to_base(engine) -> None:
    command.downgrade(alembic_config(engine), "base")


@pytest.mark.slow
def test_a_database_with_history_and_subscribers_goes_down_and_up_again_whole(db_url, digest_env):
    """Migrations that copy a table (SQLite batch ALTERs) keep every row that others point at."""
    engine = get_engine(db_url)
    crawl(engine, "migrationsverket", [make_item("migrationsverket", "Specifikt mål 1", deadline=None)])
    crawl(engine, "migrationsverket", [make_item("migrationsverket", "Specifikt mål 1", amount_text="Ca 5 MSEK")])
    add_subscriber("anna@example.org")
    tables = (Run, Item, ItemVersion, Change, digest_models.Subscriber)

    def counts():
        with engine.connect() as conn:
            return [conn.scalar(select(func.count()).select_from(t)) for t in tables]

    before = counts()
    assert before[0] == 2 and before[3] >= 2 and before[4] == 1
    command.downgrade(alembic_config(engine), "0005")
    upgrade(engine)
    assert counts() == before


@pytest.mark.slow
def test_news_ids_are_shortened_with_their_history(db_url):
    """A database with news under the old long ids (the whole URL as the slug) and a history: after
    the migration each news item has the URL's last segment as its id, keeps its versions and
    changes, and the next crawl sees no news item removed or new again."""

    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    import fundwatch.storage.migrations.versions as versions
    from fundwatch.items import slugify
    from fundwatch.storage.db import dispose_engines
    from fundwatch.storage.models import Change, Item, ItemVersion
    from helpers import crawl, make_item

    def news(title, url, text="", long_ids=False):
        item = make_item("migrationsverket", url, kind="news", title=title, url=url, status="unknown", text=text)
        if long_ids:
            item.id = f"migrationsverket/news/{slugify(url)}"
        return item

    base = "https://www.migrationsverket.se/andra-aktorer/eu-fonder/nyheter-for-fonder/2026"
    engine = get_engine(db_url)
    before = [("Planerade utlysningar", f"{base}/2026-11-12-planerade-utlysningar"),
              ("Webbinarium", f"{base}/2026-03-24-webbinarium/")]
    crawl(engine, "migrationsverket", [news(t, u, long_ids=True) for t, u in before])
    crawl(engine, "migrationsverket", [news(t, u, "ändrad", long_ids=True) for t, u in before])
    long_id = f"migrationsverket/news/{slugify(before[0][1])}"
    with Session(engine) as s:
        changes_before = s.scalar(select(func.count()).select_from(Change))
        assert s.get(Item, long_id) is not None
    # the migration's data step, run on a database at the newest schema (later migrations in the
    # chain change other tables, so the schema just before 0010 is not one the code can write)
    path = next(Path(versions.__file__).parent.glob("0010_*.py"))
    spec = importlib.util.spec_from_file_location("migration_0010", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    with engine.begin() as conn:
        assert len(migration.short_news_ids(conn)) == 2
    short = "migrationsverket/news/2026-11-12-planerade-utlysningar"
    with Session(engine) as s:
        assert s.get(Item, long_id) is None
        assert sorted(s.scalars(select(Item.id))) == ["migrationsverket/news/2026-03-24-webbinarium", short]
        assert [c.change for c in s.scalars(select(Change).where(Change.item_id == short).order_by(Change.id))] == [
            "new", "updated"]
        assert [v.version for v in s.scalars(select(ItemVersion).where(ItemVersion.item_id == short))] == [1, 2]
    crawl(engine, "migrationsverket", [news(t, u, "ändrad") for t, u in before])  # ids as the crawl makes them now
    assert [n.id for n in (news(t, u) for t, u in before)] == [short, "migrationsverket/news/2026-03-24-webbinarium"]
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Change)) == changes_before  # nothing removed, nothing new
        assert s.scalar(select(func.count()).select_from(Item)) == 2
    dispose_engines()


@pytest.mark.slow
def test_current_items_shows_deadlines_and_statuses_as_calls_does(db_url):
    """The view people query with SQL (README, Datasette) says what `fundwatch calls` says: a
    standing grant's next deadline by its rule (29 February only in a leap year), a status the
    source gave as closed, planned and upcoming calls, a passed deadline; and the new fields."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from fundwatch.storage.queries import call_json

    engine = get_engine(db_url)
    with engine.connect() as conn:
        today = conn.scalar(text("SELECT CURRENT_DATE"))
    today = dt.date.fromisoformat(str(today))
    noon = dt.datetime.combine(today, dt.time(12), ZoneInfo("Europe/Stockholm"))  # the view's "today", mid-day
    days = lambda n: today + dt.timedelta(days=n)  # noqa: E731
    crawl(engine, "brottsoffermyndigheten", [
        make_item("brottsoffermyndigheten", "Brottsofferfonden", status="unknown", deadline_rule="04-01,10-01",
                  deadline_text="senast den 1 april eller senast den 1 oktober"),
        make_item("brottsoffermyndigheten", "Skottdag", status="unknown", deadline_rule="02-29"),
        make_item("brottsoffermyndigheten", "I dag och i morgon", status="unknown",
                  deadline_rule=",".join(f"{d:%m-%d}" for d in (days(1), today))),
        make_item("brottsoffermyndigheten", "Regel och datum", status="unknown", deadline_rule=f"{days(-3):%m-%d}",
                  deadline=days(30)),
    ])
    crawl(engine, "migrationsverket", [
        make_item("migrationsverket", "Stängd av myndigheten", status="closed", deadline=days(20)),
        make_item("migrationsverket", "Passerad", status="open", deadline=days(-1), deadline_time="14:00",
                  eligibility=["ideell förening", "stiftelse"], region="Skåne län"),
        make_item("migrationsverket", "Öppnar senare", status="unknown", opens=days(10), deadline=days(40)),
        make_item("migrationsverket", "Planerad", status="planned", opens=days(-10)),
        make_item("migrationsverket", "Utan datum", status="unknown"),
        make_item("migrationsverket", "Öppen", status="unknown", opens=days(-5), deadline=days(5)),
    ])
    with Session(engine) as s:
        expected = {row["id"]: (row["deadline"], row["status"], row["deadline_time"], row["region"], row["eligibility"])
                    for row in (call_json(i, noon) for i in s.scalars(select(Item)))}
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, deadline, status, deadline_time, region, eligibility FROM current_items"))
        shown = {r.id: (str(r.deadline) if r.deadline else None, r.status, r.deadline_time, r.region,
                        json.loads(r.eligibility) if isinstance(r.eligibility, str) else r.eligibility or [])
                 for r in rows}
    assert shown == expected
    fund = shown["brottsoffermyndigheten/funding_call/brottsofferfonden"]
    assert fund[0] == min(d for y in (today.year, today.year + 1) for d in (dt.date(y, 4, 1), dt.date(y, 10, 1))
                          if d >= today).isoformat() and fund[1] == "open"
    leap = shown["brottsoffermyndigheten/funding_call/skottdag"][0]
    assert leap[5:] == "02-29" and dt.date.fromisoformat(leap) >= today
    assert shown["brottsoffermyndigheten/funding_call/i-dag-och-i-morgon"][0] == today.isoformat()
    assert shown["migrationsverket/funding_call/stängd-av-myndigheten"][1] == "closed"


@pytest.mark.slow
def test_processes_opening_a_new_database_at_once_migrate_it_once(db_url):
    """A crawl and the web app (or two crawls) started together on a new database: each command
    works, none fails with "table ... already exists"."""
    from concurrent.futures import ThreadPoolExecutor

    from fundwatch.storage.schema import SCHEMA_HEAD
    from helpers import run_cli

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: run_cli("db", "upgrade", env={"FUNDWATCH_DATABASE_URL": db_url}), range(4)))
    assert [r.returncode for r in results] == [0, 0, 0, 0], [r.stderr for r in results]
    assert schema_revision(make_engine(db_url)) == SCHEMA_HEAD
