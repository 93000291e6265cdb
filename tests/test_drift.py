"""The drift guard (storage/drift.py): a run whose items lost their deadlines, or whose must-carry
page lost most of its items, is partial (fields_missing / items_dropped), counts no misses and
alerts like a failing source, until the shape returns or the operator accepts it."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner
from test_alerts import Outbox
from test_recrawl import PLANNED, parse
from variants.forms import variants

from fundwatch.cli import main
from fundwatch.scheduler.alerts import evaluate_source
from fundwatch.spiders.health import RunHealth
from fundwatch.spiders.migrationsverket import MigrationsverketSpider
from fundwatch.storage.db import session_factory
from fundwatch.storage.drift import drift
from fundwatch.storage.outcome import RunOutcome
from fundwatch.storage.reasons import reason_en, reason_sv
from fundwatch.storage.runlife import apply_run, begin_run
from helpers import make_item, make_spider

SOURCE = "migrationsverket"
PAGE = "https://www.migrationsverket.se/utlysningar"


def calls(n: int, deadlines: bool = True):
    return [make_item(SOURCE, f"Utlysning {i}", origin=PAGE, status="unknown",
                      deadline=dt.date(2031, 4, i + 1) if deadlines else None,
                      deadline_text=f"{i + 1} april 2031" if deadlines else None) for i in range(n)]


def run(engine, items, pages: dict | None = None) -> dict:
    health = RunHealth(must_carry=tuple(pages or ()))
    for item in items:
        health.item_from(item.origin)
        health.item_fields(item.kind, bool(item.deadline or item.deadline_text), bool(item.opens), bool(item.amount_text))
    outcome = RunOutcome(status="ok", fetched_pages={PAGE},
                         shape={"kinds": health.kinds, "pages": pages or {}})
    sessions = session_factory(engine)
    return apply_run(sessions, begin_run(sessions, SOURCE, SOURCE, SOURCE), SOURCE, outcome, items, remove_after=1)


def test_a_source_that_lost_its_deadlines_stays_partial_until_accepted(engine):
    assert run(engine, calls(4))["status"] == "ok"
    second = run(engine, calls(3, deadlines=False))  # the page changed: no deadline read, one call gone
    assert (second["status"], second["removed"]) == ("partial", 0)  # a partial run counts no misses
    assert second["reason"].startswith("funding_call items with a deadline fell from 100 % to 0 % against run 1")
    assert run(engine, calls(3, deadlines=False))["status"] == "partial"  # still compared with run 1
    result = CliRunner().invoke(main, ["runs", "accept", SOURCE])
    assert result.exit_code == 0, result.output
    assert "accepted run 3 of migrationsverket" in result.output
    recovered = run(engine, calls(3, deadlines=False))
    assert (recovered["status"], recovered["removed"]) == ("ok", 1)  # healthy again: the lost call's miss counts


def test_a_source_whose_shape_returns_recovers_by_itself(engine):
    assert run(engine, calls(5))["status"] == "ok"
    assert run(engine, calls(5, deadlines=False))["status"] == "partial"
    assert run(engine, calls(5))["status"] == "ok"


def test_a_must_carry_page_that_lost_most_items_is_partial_and_removes_nothing(engine):
    assert run(engine, calls(6), pages={"planned-calls": 6})["status"] == "ok"
    dropped = run(engine, calls(2), pages={"planned-calls": 2})
    assert (dropped["status"], dropped["removed"]) == ("partial", 0)
    assert dropped["reason"].startswith("planned-calls gave 2 items, 6 in run 1")
    assert run(engine, calls(4), pages={"planned-calls": 4})["status"] == "ok"  # a third fewer is an edit


def test_accept_without_runs_is_a_clear_error(engine):
    result = CliRunner().invoke(main, ["runs", "accept", SOURCE])
    assert result.exit_code == 1 and "no finished run with a recorded shape" in result.output
    result = CliRunner().invoke(main, ["runs", "accept", "no-such-source"])
    assert result.exit_code == 1 and "unknown source" in result.output


@pytest.mark.parametrize("before, now, expected", [
    ({"funding_call": (4, 4)}, {"funding_call": (4, 0)}, "fields_missing"),
    ({"funding_call": (4, 4)}, {"funding_call": (4, 3)}, None),  # one call without a date is an edit
    ({"funding_call": (2, 2)}, {"funding_call": (2, 0)}, None),  # fewer than 3 items: too few to judge
    ({"funding_call": (4, 0)}, {"funding_call": (4, 0)}, None),  # never had the field
])
def test_sharp_falls_only(before, now, expected):
    def shape(kinds):
        return {"kinds": {k: {"items": n, "deadline": d, "opens": n, "amount": n} for k, (n, d) in kinds.items()}}
    found = drift(shape(before), shape(now))
    assert (found[0] if found else None) == expected


def test_ej_bestamt_counts_as_a_deadline_in_the_recorded_shape():
    spider = make_spider(MigrationsverketSpider)
    for item in parse(MigrationsverketSpider, variants()["plain_h3_table"], PLANNED, "parse_calls"):
        spider._on_item(item, None, spider)
    assert spider.health.shape()["kinds"] == {"funding_call": {"items": 3, "deadline": 3, "opens": 3, "amount": 3}}


def test_the_reasons_read_in_english_and_swedish():
    params = {"kind": "funding_call", "field": "deadline", "before": "100 %", "now": "0 %", "run": 7}
    assert "fell from 100 % to 0 %" in reason_en("fields_missing", params)
    assert reason_sv("fields_missing", params) and reason_sv("items_dropped", {}) != "items_dropped"


def test_the_operator_is_alerted_as_for_a_failing_source(engine, monkeypatch):
    monkeypatch.setenv("FUNDWATCH_ADMIN_EMAIL", "ops@example.org")
    monkeypatch.setenv("FUNDWATCH_MAIL_FROM", "fundwatch <fundwatch@example.org>")
    sent = Outbox()
    now = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    run(engine, calls(4))
    assert evaluate_source(SOURCE, sender=sent, now=now, engine=engine) is None
    run(engine, calls(4, deadlines=False))
    assert evaluate_source(SOURCE, sender=sent, now=now, engine=engine) == "failing"
    assert sent.subjects == ["fundwatch: migrationsverket is failing (its items lost their usual shape)"]
    assert "fundwatch runs accept migrationsverket" in sent.messages[0].get_content()
    CliRunner().invoke(main, ["runs", "accept", SOURCE])
    run(engine, calls(4, deadlines=False))
    assert evaluate_source(SOURCE, sender=sent, now=now, engine=engine) == "recovered"
