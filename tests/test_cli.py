"""The `fundwatch` command as scripts and operators use it: help everywhere, exit codes, one-line
errors, and the JSON shapes (a public interface)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys

import pytest
import time_machine
from click.testing import CliRunner

from fundwatch.cli import main
from fundwatch.items import FundItem, item_id
from fundwatch.storage.db import get_engine, session_scope
from fundwatch.storage.outcome import RunOutcome
from fundwatch.storage.queries import CALL_KEYS, HISTORY_KEYS, RUN_KEYS
from fundwatch.storage.runlife import finish_run, start_run
from helpers import TESTS, run_cli

NOW = "2026-11-26 10:00 +01:00"
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
ISO_DATE = re.compile(r"^\d{4}-\d\d-\d\d$")
ORIGIN = "https://www.migrationsverket.se/planerade"


def call(key, **fields) -> FundItem:
    item = FundItem(agency="migrationsverket", kind="funding_call", key=key, title=key, url=ORIGIN,
                    origin=ORIGIN, source="migrationsverket", **fields)
    item.id = item_id(item.agency, item.kind, key)
    return item


def record(engine, items, status="ok"):
    with session_scope(engine) as s:
        run_id = start_run(s, "migrationsverket", "migrationsverket", "migrationsverket").id
    with session_scope(engine) as s:
        finish_run(s, run_id, RunOutcome(status=status, fetched_pages={ORIGIN},
                                         reason_code=None if status == "ok" else "http_status",
                                         reason_params=None if status == "ok" else {"url": ORIGIN, "status": 503}),
                   items)


@pytest.fixture
def filled(db_url):
    engine = get_engine(db_url)
    with time_machine.travel(NOW, tick=False):
        record(engine, [
            call("Specifikt mål 1", opens=dt.date(2026, 11, 1), deadline=dt.date(2026, 12, 15), deadline_text="15 december 2026",
                 amount_text="Ca 2,3 MSEK", amount_sek=2_300_000, competitive=True, details={"Stöd från AMIF": "75-90 %"}),
            call("Specifikt mål 2", opens=dt.date(2027, 3, 24), deadline_text="Ej bestämt", competitive=False),
            call("Brottsofferfonden", deadline_rule="04-01,10-01", deadline_text="senast den 1 april eller senast den 1 oktober"),
            call("Gammal utlysning", deadline=dt.date(2026, 9, 1)),
        ])
        record(engine, [
            call("Specifikt mål 1", opens=dt.date(2026, 11, 1), deadline=dt.date(2027, 1, 15), deadline_text="15 januari 2027",
                 amount_text="Ca 2,3 MSEK", amount_sek=2_300_000, competitive=True, details={"Stöd från AMIF": "75-90 %"}),
        ], status="failed")
    return engine


def invoke(*args):
    with time_machine.travel(NOW, tick=False):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_calls_json_has_exactly_the_documented_keys_and_derived_status(filled):
    result = invoke("calls", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = {r["title"]: r for r in json.loads(result.output)}
    assert all(tuple(r) == CALL_KEYS for r in rows.values())
    one = rows["Specifikt mål 1"]
    assert one["id"] == "migrationsverket/funding_call/specifikt-mål-1"
    assert (one["opens"], one["deadline"], one["status"]) == ("2026-11-01", "2027-01-15", "open")
    assert (one["amount_sek"], one["competitive"], one["details"]) == (2_300_000, True, {"Stöd från AMIF": "75-90 %"})
    assert ISO_UTC.match(one["first_seen"]) and ISO_UTC.match(one["last_seen"])
    assert (rows["Specifikt mål 2"]["status"], rows["Specifikt mål 2"]["deadline"]) == ("upcoming", None)
    assert rows["Specifikt mål 2"]["competitive"] is False
    # a standing grant: the next date of its rule, computed when read
    assert (rows["Brottsofferfonden"]["deadline"], rows["Brottsofferfonden"]["status"]) == ("2027-04-01", "open")
    assert rows["Gammal utlysning"]["status"] == "closed"
    opened = json.loads(invoke("calls", "--open", "--format", "json").output)
    assert sorted(r["title"] for r in opened) == ["Brottsofferfonden", "Specifikt mål 1"]


@pytest.mark.slow
def test_history_and_runs_json_shapes(filled):
    history = json.loads(invoke("history", "--format", "json").output)
    assert all(tuple(h) == HISTORY_KEYS for h in history)
    # what a failed run saw is applied; what it did not see is never counted as missing
    assert [h["change"] for h in history] == ["new"] * 4 + ["updated"]
    assert all(ISO_UTC.match(h["detected_at"]) and h["diff"] is None for h in history)
    assert history[-1]["fields"] == {"deadline": ["2026-12-15", "2027-01-15"],
                                     "deadline_text": ["15 december 2026", "15 januari 2027"]}
    runs = json.loads(invoke("runs", "--format", "json").output)
    assert all(tuple(r) == RUN_KEYS for r in runs)
    assert [(r["status"], r["reason"]) for r in runs] == [
        ("failed", f"{ORIGIN} answered HTTP 503"), ("ok", None)]


@pytest.mark.slow
def test_history_json_fields_are_typed_old_new_pairs(db_url):
    engine = get_engine(db_url)
    record(engine, [call("X", deadline=dt.date(2027, 5, 3), amount_sek=100, competitive=True)])
    record(engine, [call("X", deadline=dt.date(2027, 5, 17), amount_sek=200, competitive=False)])
    update = json.loads(invoke("history", "--item", "migrationsverket/funding_call/x", "--format", "json").output)[-1]
    assert update["change"] == "updated"
    assert update["fields"] == {"deadline": ["2027-05-03", "2027-05-17"], "amount_sek": [100, 200],
                                "competitive": [True, False]}
    shown = json.loads(invoke("show", "migrationsverket/funding_call/x", "--format", "json").output)
    assert [v["version"] for v in shown["versions"]] == [1, 2]
    text = invoke("show", "migrationsverket/funding_call/x").output
    assert "deadline: 2027-05-03 → 2027-05-17" in text


@pytest.mark.slow
def test_csv_and_table_formats(filled):
    csv_out = invoke("calls", "--format", "csv").output.splitlines()
    assert csv_out[0] == ",".join(CALL_KEYS) and len(csv_out) == 5
    table = invoke("calls").output
    assert "Specifikt mål 1" in table and "DEADLINE" in table


@pytest.mark.slow
def test_user_errors_are_one_line_with_exit_1_and_usage_errors_exit_2(sqlite_url, tmp_path):
    unknown = run_cli("crawl", "no-such-source")
    assert unknown.returncode == 1
    assert unknown.stderr.strip().startswith("fundwatch: error: unknown source 'no-such-source'")
    assert "Traceback" not in unknown.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text("[[source]\nid=")
    bad_file = run_cli("sources", "--sources", str(broken))
    assert bad_file.returncode == 1 and "is not valid TOML" in bad_file.stderr and "Traceback" not in bad_file.stderr
    assert run_cli("calls", "--format", "xml").returncode == 2
    assert run_cli("show", "nope/funding_call/x").returncode == 1
    bad_db = run_cli("calls", env={"FUNDWATCH_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    assert bad_db.returncode == 1 and "cannot open or migrate" in bad_db.stderr and "Traceback" not in bad_db.stderr


def test_every_command_has_help():
    top = CliRunner().invoke(main, ["--help"])
    assert top.exit_code == 0
    commands = re.findall(r"^  (\w[\w-]*)\s", top.output.split("Commands:")[1], re.M)
    assert {"crawl", "calls", "history", "runs", "show", "sources", "run", "demo", "db"} <= set(commands)
    for name in commands:
        result = CliRunner().invoke(main, [name, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output, name


def test_sources_lists_configured_sources_with_last_status(filled):
    rows = json.loads(invoke("sources", "--format", "json").output)
    by_id = {r["id"]: r for r in rows}
    assert {"migrationsverket", "brottsoffermyndigheten", "arbetsformedlingen"} <= set(by_id)
    assert by_id["migrationsverket"]["last_status"] == "failed"
    assert by_id["arbetsformedlingen"]["last_status"] is None


@pytest.mark.slow
def test_scrapy_list_works_at_the_repository_root():
    result = subprocess.run([sys.executable, "-m", "scrapy", "list"], cwd=TESTS.parent, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "page" in result.stdout.split()


LONG = "Specifikt mål 2: Samverkan om tidiga insatser för asylsökande och nyanlända i hela landet under 2027"


@pytest.fixture
def wide(sqlite_url):
    engine = get_engine(sqlite_url)
    with time_machine.travel(NOW, tick=False):
        record(engine, [call(LONG, deadline=dt.date(2027, 2, 1)), call(LONG + " (andra omgången)", deadline=dt.date(2027, 3, 1)),
                        call("Kort", opens=dt.date(2027, 2, 1), deadline=dt.date(2027, 4, 1))])
        record(engine, [call(LONG, deadline=dt.date(2027, 2, 15)), call(LONG + " (andra omgången)", deadline=dt.date(2027, 3, 1)),
                        call("Kort", opens=dt.date(2027, 2, 1), deadline=dt.date(2027, 4, 1))])
    return engine


@pytest.mark.parametrize("columns", [80, 100])
def test_tables_fit_the_terminal_and_ids_lead_to_show(wide, columns):
    with time_machine.travel(NOW, tick=False):
        result = CliRunner().invoke(main, ["calls"], env={"COLUMNS": str(columns)})
    lines = result.output.splitlines()
    assert result.exit_code == 0 and len(lines) == 4  # a header and a line per item: nothing wraps
    assert max(len(line) for line in lines) <= columns
    assert lines[0].split() == ["ID", "STATUS", "DEADLINE", "AGENCY", "KIND", "TITLE"]
    by_status = {line.split()[1]: line for line in lines[1:]}
    assert set(by_status) == {"open", "upcoming"}
    assert "…" in lines[1] + lines[2]  # long titles shortened
    # the printed id is a unique prefix `show` accepts, even where two slugs share their first 80 characters
    for line in lines[1:]:
        printed = line.split()[0]
        shown = invoke("show", printed, "--format", "json")
        assert shown.exit_code == 0, shown.output
        assert json.loads(shown.output)["id"].rsplit("/", 1)[-1].startswith(printed.split("~")[0])
    history = CliRunner().invoke(main, ["history"], env={"COLUMNS": str(columns)}).output.splitlines()
    assert max(len(line) for line in history) <= columns and len(history) == 5
    assert "TITLE" in history[0] and "Kort" in history[3]


def test_terminal_width_falls_back_to_100_without_a_terminal(wide, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    result = run_cli("calls", env={"COLUMNS": ""})  # output to a pipe: no terminal width
    assert result.returncode == 0
    assert max(len(line) for line in result.stdout.splitlines()) == 100  # the titles shortened to fit 100


def test_wrong_input_is_an_error_not_an_empty_result(wide):
    by_name = invoke("calls", "--agency", "Migrationsverket", "--format", "json")
    assert by_name.exit_code == 0 and len(json.loads(by_name.output)) == 3
    for args, expected in [
        (("calls", "--agency", "Skatteverket"), "unknown agency 'Skatteverket'; known agencies: arbetsformedlingen, "),
        (("history", "--agency", "nosuch"), "unknown agency 'nosuch'"),
        (("runs", "--source", "nosuch"), "unknown source 'nosuch'; configured sources: migrationsverket, "),
        (("show", "specifikt-mål-2"), "'specifikt-mål-2' names 2 items"),
        (("show", "nosuch"), "no item 'nosuch'"),
    ]:
        result = CliRunner().invoke(main, list(args))
        assert result.exit_code == 1, (args, result.output)
        assert result.output.startswith(f"fundwatch: error: {expected}"), result.output
        assert len(result.output.strip().splitlines()) == 1


def test_show_prints_plain_values(wide):
    record(wide, [call("Ja", competitive=True, deadline=dt.date(2027, 5, 1))])
    text = invoke("show", "ja").output
    assert "competitive:   yes\n" in text and "True" not in text


def test_history_since_is_a_date_in_the_configured_zone(sqlite_url, monkeypatch):
    monkeypatch.setenv("FUNDWATCH_TIMEZONE", "Europe/Stockholm")
    engine = get_engine(sqlite_url)
    with time_machine.travel("2026-11-25 23:30 +00:00", tick=False):  # 00:30 on the 26th in Stockholm
        record(engine, [call("Sent")])
    assert [h["title"] for h in json.loads(invoke("history", "--since", "2026-11-26", "--format", "json").output)] == ["Sent"]
    assert json.loads(invoke("history", "--since", "2026-11-27", "--format", "json").output) == []


def test_news_ids_are_the_urls_last_segment():
    url = "https://www.migrationsverket.se/andra-aktorer/eu-fonder/nyheter-for-fonder/2026/2026-11-12-planerade-utlysningar/"
    assert item_id("migrationsverket", "news", url) == "migrationsverket/news/2026-11-12-planerade-utlysningar"
    assert item_id("migrationsverket", "funding_call", "Specifikt mål 1") == "migrationsverket/funding_call/specifikt-mål-1"


def test_calls_on_sqlite_reads_without_sqlalchemy_and_lists_what_the_storage_layer_lists(sqlite_url):
    """`calls` on SQLite takes storage.sqlite_read (no SQLAlchemy import, bench/cli_startup.py): for
    every filter it lists the same items, in the same order and the same JSON, as the storage layer."""
    from fundwatch.storage import sqlite_read
    from fundwatch.storage.queries import call_json, list_items

    engine = get_engine(sqlite_url)
    with time_machine.travel(NOW, tick=False):
        record(engine, [
            call("Specifikt mål 1", opens=dt.date(2026, 11, 1), deadline=dt.date(2026, 12, 15), deadline_time="14:00",
                 amount_sek=2_300_000, competitive=True, details={"Stöd": "75 %"}, eligibility=["ideell förening"]),
            call("Brottsofferfonden", deadline_rule="04-01,10-01", deadline_text="senast den 1 april"),
            call("TIA Skåne", deadline=dt.date(2027, 2, 1), region="Skåne län", eligibility=["kommun", "ideell förening"]),
            call("TIA Kalmar", deadline=dt.date(2027, 2, 1), region="Kalmar län", competitive=False),
            call("Stängd", status="closed", published=dt.date(2026, 1, 2)),
        ])
        record(engine, [call("Specifikt mål 1", opens=dt.date(2026, 11, 1), deadline=dt.date(2026, 12, 15))])
        now = dt.datetime.now(dt.UTC)
        for chosen in ({}, {"include_removed": True}, {"region": "Skåne län"}, {"form": "kommun"},
                       {"agency": "migrationsverket", "kind": "funding_call", "form": "stiftelse"}, {"kind": "news"}):
            quick = sqlite_read.list_items(sqlite_url, **chosen)
            assert quick is not None, chosen
            with session_scope(engine) as s:
                usual = [call_json(i, now) for i in list_items(s, **chosen)]
            assert [call_json(r, now) for r in quick[0]] == usual, chosen
        assert [r.title for r in sqlite_read.list_items(sqlite_url, region="Skåne län")[0]] == [
            "Brottsofferfonden", "Specifikt mål 1", "Stängd", "TIA Skåne"]
        result = invoke("calls", "--region", "Kalmar län", "--format", "json")
    titles = [r["title"] for r in json.loads(result.output)]
    assert "TIA Kalmar" in titles and "TIA Skåne" not in titles
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "fundwatch.cli", "calls"], capture_output=True,
                         text=True, timeout=120, env=dict(os.environ))
    assert out.returncode == 0 and "Brottsofferfonden" in out.stdout
    assert " sqlalchemy" not in out.stderr  # no module of it imported


def test_calls_on_a_database_behind_the_newest_migration_migrates_it_first(tmp_path, monkeypatch):
    """The quick path reads only a database at the newest migration; an older one takes the usual
    path, which migrates it, and lists its calls."""
    from alembic import command

    from fundwatch.storage import sqlite_read
    from fundwatch.storage.db import SCHEMA_HEAD, alembic_config, dispose_engines, make_engine, schema_revision

    url = f"sqlite:///{tmp_path / 'old.db'}"
    monkeypatch.setenv("FUNDWATCH_DATABASE_URL", url)
    engine = make_engine(url)
    command.upgrade(alembic_config(engine), "0007")
    assert sqlite_read.list_items(url) is None
    try:
        result = invoke("calls", "--format", "json")
        assert result.exit_code == 0 and json.loads(result.output) == []
        assert schema_revision(engine) == SCHEMA_HEAD
        assert sqlite_read.list_items(url) == ([], [])
    finally:
        engine.dispose()
        dispose_engines()
