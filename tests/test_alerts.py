"""Operator alerts: one email per change of a source's state (failing, silent, recovered), never
one per run; a mail that cannot be sent is tried again; two evaluations at once send one alert."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import pytest
from click.testing import CliRunner

from fundwatch.cli import main
from fundwatch.scheduler.alerts import evaluate_source
from fundwatch.scheduler.models import AlertState
from fundwatch.storage.db import get_engine, session_scope
from fundwatch.storage.models import Run, SourceRow
from helpers import MUCF, free_port, write_page_sources

DAY0 = dt.datetime(2027, 3, 1, 6, 0, tzinfo=dt.UTC)


class Outbox:
    """A sender (`send(msg)`) that keeps what it was given."""

    def __init__(self):
        self.messages = []

    def __call__(self, msg):
        self.messages.append(msg)
        return "250 ok"

    @property
    def subjects(self):
        return [m["Subject"] for m in self.messages]


@pytest.fixture
def admin(monkeypatch):
    monkeypatch.setenv("FUNDWATCH_ADMIN_EMAIL", "ops@example.org")
    monkeypatch.setenv("FUNDWATCH_MAIL_FROM", "fundwatch <fundwatch@example.org>")
    for name in ("FUNDWATCH_ALERT_FAILURES", "FUNDWATCH_ALERT_SILENT_DAYS", "FUNDWATCH_SMTP_URL"):
        monkeypatch.delenv(name, raising=False)
    return "ops@example.org"


def add_run(engine, status: str, items: int, when: dt.datetime, source: str = MUCF, reason=None) -> int:
    with session_scope(engine) as session:
        if session.get(SourceRow, source) is None:
            session.add(SourceRow(id=source, agency="mucf", spider="page"))
            session.flush()
        run = Run(source_id=source, status=status, items=items, started_at=when,
                  finished_at=when + dt.timedelta(minutes=1), reason_code=reason[0] if reason else None,
                  reason_params=reason[1] if reason else None)
        session.add(run)
        session.flush()
        return run.id


TIMEOUT = ("timeout", {"seconds": 1800})


@pytest.mark.slow
def test_one_alert_per_change_of_state_failing_then_recovered(engine, admin):
    sent = Outbox()

    def step(status, items, day, reason=None):
        when = DAY0 + dt.timedelta(days=day)
        add_run(engine, status, items, when, reason=reason)
        return evaluate_source(MUCF, sender=sent, now=when + dt.timedelta(minutes=2), engine=engine)

    assert step("ok", 1, 0) is None  # first evaluation, all well: no mail
    assert step("failed", 0, 1, TIMEOUT) is None  # one failure is not yet an alert (N = 2)
    assert step("failed", 0, 2, TIMEOUT) == "failing"
    assert step("failed", 0, 3, TIMEOUT) is None  # still failing: no second mail
    assert step("partial", 1, 4) == "recovered"
    assert step("ok", 1, 5) is None
    assert step("failed", 0, 6) is None
    assert step("failed", 0, 7) == "failing"  # a new change of state: a new mail
    assert sent.subjects == [
        "fundwatch: mucf-statsbidrag is failing (2 failed runs in a row)",
        "fundwatch: mucf-statsbidrag recovered",
        "fundwatch: mucf-statsbidrag is failing (2 failed runs in a row)",
    ]
    failing = sent.messages[0]
    assert failing["To"] == "ops@example.org"
    body = failing.get_content()
    assert "the crawl was stopped after 1800 s (timeout)" in body
    assert "fundwatch runs --source mucf-statsbidrag" in body
    assert "It was failing since 2027-03-03" in sent.messages[1].get_content()
    with session_scope(engine) as session:
        row = session.get(AlertState, MUCF)
        assert row.state == "failing" and row.notified_at is not None


@pytest.mark.slow
def test_silent_source_alerts_once_after_d_days_and_recovers(engine, admin):
    sent = Outbox()
    add_run(engine, "ok", 3, DAY0)
    for day in range(1, 25):  # runs that find nothing, daily
        when = DAY0 + dt.timedelta(days=day)
        add_run(engine, "ok", 0, when)
        kind = evaluate_source(MUCF, sender=sent, now=when + dt.timedelta(minutes=2), engine=engine)
        assert kind == ("silent" if day == 21 else None), day
    when = DAY0 + dt.timedelta(days=25)
    add_run(engine, "ok", 2, when)
    assert evaluate_source(MUCF, sender=sent, now=when, engine=engine) == "recovered"
    assert sent.subjects == ["fundwatch: mucf-statsbidrag has yielded no items for 21+ days",
                             "fundwatch: mucf-statsbidrag recovered"]
    assert "no items since run 1 on 2027-03-01 07:01 CET (21 days)" in sent.messages[0].get_content()


def test_thresholds_come_from_the_environment(engine, admin, monkeypatch):
    monkeypatch.setenv("FUNDWATCH_ALERT_FAILURES", "3")
    sent = Outbox()
    for day in range(3):
        add_run(engine, "failed", 0, DAY0 + dt.timedelta(days=day))
        evaluate_source(MUCF, sender=sent, now=DAY0 + dt.timedelta(days=day, hours=1), engine=engine)
    assert sent.subjects == ["fundwatch: mucf-statsbidrag is failing (3 failed runs in a row)"]


def test_an_alert_that_cannot_be_sent_is_tried_again_once(engine, admin):
    from fundwatch.mail import TemporaryFailure

    attempts = []

    def flaky(msg):
        attempts.append(msg["Subject"])
        if len(attempts) == 1:
            raise TemporaryFailure("421 try later", 421)
        return "250 ok"

    for day in range(2):
        add_run(engine, "failed", 0, DAY0 + dt.timedelta(days=day))
    now = DAY0 + dt.timedelta(days=2)
    assert evaluate_source(MUCF, sender=flaky, now=now, engine=engine) is None  # not sent: not recorded
    with session_scope(engine) as session:
        assert session.get(AlertState, MUCF) is None
    assert evaluate_source(MUCF, sender=flaky, now=now, engine=engine) == "failing"
    assert evaluate_source(MUCF, sender=flaky, now=now, engine=engine) is None
    assert len(attempts) == 2


@pytest.mark.slow
def test_two_evaluations_at_once_send_one_alert(engine, admin):
    sent = Outbox()

    def slow(msg):
        time.sleep(0.2)
        return sent(msg)

    for day in range(2):
        add_run(engine, "failed", 0, DAY0 + dt.timedelta(days=day))
    results = []
    threads = [threading.Thread(target=lambda: results.append(
        evaluate_source(MUCF, sender=slow, now=DAY0 + dt.timedelta(days=3), engine=engine))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results, key=str) == [None, None, "failing"]
    assert len(sent.messages) == 1


def test_without_an_admin_address_the_alert_is_logged(engine, admin, monkeypatch, caplog):
    monkeypatch.delenv("FUNDWATCH_ADMIN_EMAIL")
    for day in range(2):
        add_run(engine, "failed", 0, DAY0 + dt.timedelta(days=day))
    with caplog.at_level("WARNING", logger="fundwatch.alerts"):
        assert evaluate_source(MUCF, now=DAY0 + dt.timedelta(days=2), engine=engine) == "failing"
    assert "FUNDWATCH_ADMIN_EMAIL is not set" in caplog.text
    assert evaluate_source(MUCF, now=DAY0 + dt.timedelta(days=2), engine=engine) is None



def test_alerts_go_out_through_the_digest_mailer_over_smtp(sqlite_url, admin, monkeypatch, tmp_path):
    from aiosmtpd.controller import Controller

    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope)
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        monkeypatch.setenv("FUNDWATCH_SMTP_URL", f"smtp://127.0.0.1:{port}")
        engine = get_engine(sqlite_url)
        for day in range(2):
            add_run(engine, "failed", 0, DAY0 + dt.timedelta(days=day))
        sources = write_page_sources(tmp_path, [{"id": MUCF}])
        result = CliRunner().invoke(main, ["scheduler", "alerts", "--check", "--sources", sources, "--format", "json"])
        assert result.exit_code == 0, result.output
        again = CliRunner().invoke(main, ["scheduler", "alerts", "--check", "--sources", sources])
        assert again.exit_code == 0, again.output
    finally:
        controller.stop()
    assert len(received) == 1
    assert received[0].rcpt_tos == ["ops@example.org"]
    assert b"Subject: fundwatch: mucf-statsbidrag is failing (2 failed runs in a row)" in received[0].content
    rows = json.loads(result.stdout)
    assert rows[0]["source"] == MUCF and rows[0]["state"] == "failing" and rows[0]["notified_at"]
    assert "2 failed runs in a row" in rows[0]["detail"]
    assert "failing" in again.stdout
