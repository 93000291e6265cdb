"""Dates a page gives as a list or only in part, as a subscriber meets them: Arvsfonden's decision
meetings are dates in the item, and the next one is worked out when read (digest and `fundwatch
show`), so a meeting passing is never a change; an opening forecast by month or year ("Öppnar: Maj
2027") is shown as "maj 2027 (prel.)" and never becomes a day."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from click.testing import CliRunner
from sqlalchemy.orm import Session
from test_funders import parse_source

from fundwatch.cli import main
from fundwatch.items import item_id, meeting_dates, next_meeting
from fundwatch.storage.db import get_engine
from fundwatch.storage.outcome import RunOutcome
from fundwatch.storage.runlife import finish_run, start_run
from helpers import add_subscriber, read_outbox, text_part

TZ = "+01:00"
MEETINGS_2027 = [dt.date(2027, 2, 17), dt.date(2027, 4, 14), dt.date(2027, 6, 9), dt.date(2027, 9, 1),
                 dt.date(2027, 10, 20), dt.date(2027, 12, 8)]


def read(source_id: str, state: str = "state1", now: str = "2026-12-02 10:00 +01:00"):
    items = parse_source(source_id, state, now=now)[1]
    for item in items:
        item.id = item_id(item.agency, item.kind, item.key)
    return items


def store(engine, source_id: str, items) -> dict:
    with Session(engine, expire_on_commit=False) as s:
        with s.begin():
            run_id = start_run(s, source_id, items[0].agency, "listing").id
        with s.begin():
            run = finish_run(s, run_id, RunOutcome(status="ok", fetched_pages={i.origin for i in items}), items)
            return {"new": run.new, "updated": run.updated, "removed": run.removed}


@pytest.fixture
def engine(sqlite_url, digest_env, monkeypatch):
    monkeypatch.delenv("FUNDWATCH_SOURCES")  # the shipped sources: their agency names
    return get_engine(sqlite_url)


def test_meetings_are_dates_and_the_item_does_not_depend_on_the_day_it_is_read():
    before, after_first = read("arvsfonden"), read("arvsfonden", now=f"2027-02-20 10:00 {TZ}")
    assert [vars(i) for i in after_first] == [vars(i) for i in before]
    projekt = before[0]
    assert meeting_dates(projekt.details) == MEETINGS_2027
    assert next_meeting(projekt.details, dt.date(2026, 12, 2)) == dt.date(2027, 2, 17)
    assert next_meeting(projekt.details, dt.date(2027, 2, 17)) == dt.date(2027, 2, 17)  # the day itself
    assert next_meeting(projekt.details, dt.date(2027, 2, 18)) == dt.date(2027, 4, 14)
    assert next_meeting(projekt.details, dt.date(2027, 12, 9)) is None  # the page lists no later one
    # state2 adds 2028's first meeting, so after 8 December 2027 there is a next one again
    assert next_meeting(read("arvsfonden", "state2")[0].details, dt.date(2027, 12, 9)) == dt.date(2028, 2, 16)
    # the decision list keeps the meeting it came from
    assert meeting_dates(read("arvsfonden-beslut")[0].details) == [dt.date(2026, 10, 21)]
    # no dates, or a list kept as written: nothing to work out
    assert meeting_dates({}) == [] and meeting_dates({"Sammanträden": "sex gånger per år"}) == []


def test_digest_and_show_give_the_next_meeting_and_a_passed_meeting_is_no_change(engine, digest_env):
    support_forms = read("arvsfonden")
    projekt = support_forms[0]
    with time_machine.travel(f"2026-11-23 09:00 {TZ}", tick=False):
        store(engine, "arvsfonden", support_forms[1:])
        add_subscriber("forening@example.org", forms=["ideell förening"])
        from fundwatch.digest.sending import send_due

        assert send_due().sent == 1
    with time_machine.travel(f"2026-11-30 09:00 {TZ}", tick=False):
        assert store(engine, "arvsfonden", support_forms) == {"new": 1, "updated": 0, "removed": 0}
    with time_machine.travel(f"2026-12-02 10:00 {TZ}", tick=False):
        assert send_due().sent == 1
    text = text_part(read_outbox(digest_env)["forening@example.org"])
    card = text[text.index("* Projektstöd"):].split("\n\n")[0]
    assert "  Nästa beslutsmöte: 17 februari 2027" in card.splitlines()
    with time_machine.travel(f"2027-02-20 09:00 {TZ}", tick=False):
        # the crawl after the first meeting: the same page, the same item
        assert store(engine, "arvsfonden", support_forms) == {"new": 0, "updated": 0, "removed": 0}
        shown = CliRunner().invoke(main, ["show", projekt.id])
    assert shown.exit_code == 0, shown.output
    assert "next meeting:  2027-04-14" in shown.output.splitlines()
    assert "  Sammanträden: 2027-02-17, 2027-04-14, 2027-06-09, 2027-09-01, 2027-10-20, 2027-12-08" in shown.output


def test_a_forecast_opening_is_shown_as_written_in_part(engine, digest_env):
    plan = read("esf-utlysningsplan")
    with time_machine.travel(f"2026-12-02 10:00 {TZ}", tick=False):
        store(engine, "esf-utlysningsplan", plan)
        add_subscriber("forening@example.org")
        from fundwatch.digest.sending import send_due

        assert send_due().sent == 1
        shown = CliRunner().invoke(main, ["show", plan[0].id])
    text = text_part(read_outbox(digest_env)["forening@example.org"])
    assert ("* Sydsverige – A – Social inkludering (Svenska ESF-rådet, Sydsverige · Planerad, öppnar maj 2027 (prel.), "
            "sista ansökningsdag Ej bestämt)") in text
    assert ("* Östra Mellansverige – A – Social inkludering (Svenska ESF-rådet, Östra Mellansverige · Öppnar 1 mars 2027, "
            "sista ansökningsdag 3 maj 2027)") in text  # a whole date is shown as one
    assert "  Öppnar: maj 2027 (prel.)" in shown.output.splitlines() and "opens:" not in shown.output
