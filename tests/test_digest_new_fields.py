"""The digest with issue 19's fields: a new source starts quietly (one line for subscribers who
already had digests), subscribers filter on their organisation form and region, a call not naming
civil society reaches only those who opt in, and a card shows the deadline's clock time, who may
apply and the region."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy.orm import Session

from fundwatch.items import FundItem, item_id
from fundwatch.storage.db import get_engine
from fundwatch.storage.outcome import RunOutcome
from fundwatch.storage.runlife import finish_run, start_run
from helpers import SOURCES_TOML, add_subscriber, crawl, make_item, read_outbox, text_part

TZ = ZoneInfo("Europe/Stockholm")
T0 = dt.datetime(2027, 4, 26, 9, 0, tzinfo=TZ)  # Monday, week 17
T1 = dt.datetime(2027, 5, 4, 9, 0, tzinfo=TZ)  # week 18: Vinnova's first crawl
T2 = dt.datetime(2027, 5, 5, 10, 0, tzinfo=TZ)  # week 18: digests
T3 = dt.datetime(2027, 5, 11, 9, 0, tzinfo=TZ)  # week 19: Vinnova's second crawl
T4 = dt.datetime(2027, 5, 12, 10, 0, tzinfo=TZ)  # week 19: digests

VINNOVA = "https://data.vinnova.se/api/utlysningar/2027-05-01"


def vinnova(key: str, title: str, **kw) -> FundItem:
    kw.setdefault("url", f"https://www.vinnova.se/e/{key}/")
    kw.setdefault("opens", dt.date(2027, 4, 1))
    item = FundItem(agency="vinnova", kind="funding_call", key=key, title=title, origin=VINNOVA, **kw)
    item.id, item.source = item_id("vinnova", "funding_call", key), "vinnova"
    return item


def crawl_vinnova(engine, items, status="ok"):
    with Session(engine) as s:
        with s.begin():
            run_id = start_run(s, "vinnova", "vinnova", "vinnova").id
        with s.begin():
            finish_run(s, run_id, RunOutcome(status=status), items)


FIRST_VINNOVA = [
    vinnova("2027-00001", "AI i kommuner och civilsamhälle", deadline=dt.date(2027, 6, 10), deadline_time="14:00",
            eligibility=["ideell förening", "kommun"], details={"civilsamhälle": "ja"}),
    vinnova("2027-00002", "Industriell digitalisering", deadline=dt.date(2027, 6, 20), eligibility=["företag"],
            details={"civilsamhälle": "nej"}),
    vinnova("2027-00003", "Föreningsliv i Västra Götaland", deadline=dt.date(2027, 9, 1), eligibility=["ideell förening"],
            region="Västra Götalands län", details={"civilsamhälle": "ja"}),
]


@pytest.fixture
def digests(sqlite_url, digest_env, tmp_path, monkeypatch):
    sources = tmp_path / "sources-vinnova.toml"
    sources.write_text(SOURCES_TOML.replace("[agencies]\n", '[agencies]\nvinnova = "Vinnova"\n') + """
[[source]]
id = "vinnova"
agency = "vinnova"
spider = "vinnova"
since = "2027-05-01"
urls = ["https://data.vinnova.se/api/utlysningar/{since}"]
""", encoding="utf-8")
    monkeypatch.setenv("FUNDWATCH_SOURCES", str(sources))
    from fundwatch.digest.sending import send_due

    engine = get_engine(sqlite_url)
    with time_machine.travel(T0, tick=False):
        crawl(engine, "migrationsverket", [make_item("migrationsverket", "Gammal AMIF", deadline=dt.date(2027, 12, 1))])
        for name, filters in {"all": {}, "forening": {"forms": ["ideell förening"]}, "skane": {"regions": ["Skåne län"]},
                              "vg": {"regions": ["Västra Götalands län"]},
                              "optin": {"include_noncompetitive": True}}.items():
            add_subscriber(f"{name}@example.org", **filters)
    with time_machine.travel(T0 + dt.timedelta(hours=1), tick=False):
        assert send_due().sent == 5
    for path in digest_env.glob("*.eml"):
        path.unlink()
    with time_machine.travel(T1, tick=False):
        crawl_vinnova(engine, FIRST_VINNOVA)
        crawl(engine, "migrationsverket", [
            make_item("migrationsverket", "Gammal AMIF", deadline=dt.date(2027, 12, 1)),
            make_item("migrationsverket", "AMIF för kommuner i Skåne", deadline=dt.date(2027, 6, 1), deadline_time="17:00",
                      eligibility=["kommun"], region="Skåne län"),
        ])
    with time_machine.travel(T2, tick=False):
        add_subscriber("ny@example.org")
        send_due()
    week18 = {to: text_part(msg) for to, msg in read_outbox(digest_env).items()}
    for path in digest_env.glob("*.eml"):
        path.unlink()
    with time_machine.travel(T3, tick=False):
        crawl_vinnova(engine, [*FIRST_VINNOVA, vinnova("2027-00004", "Idéburen omställning", deadline=dt.date(2027, 8, 1),
                                                       details={"civilsamhälle": "ja"})])
    with time_machine.travel(T4, tick=False):
        send_due()
    week19 = {to: text_part(msg) for to, msg in read_outbox(digest_env).items()}
    return week18, week19


def test_a_new_source_is_one_line_for_existing_subscribers(digests):
    week18, _ = digests
    text = week18["all@example.org"]
    assert "Ny källa: Vinnova — 2 öppna utlysningar" in text  # the companies' call is not for civil society
    assert "AI i kommuner och civilsamhälle" not in text and "Föreningsliv i Västra Götaland" not in text
    assert "AMIF för kommuner i Skåne" in text  # an existing source's new call is news as before


def test_a_first_digest_lists_the_new_sources_calls(digests):
    week18, _ = digests
    text = week18["ny@example.org"]
    assert "Ny källa" not in text
    assert "AI i kommuner och civilsamhälle" in text and "Föreningsliv i Västra Götaland" in text


def test_after_its_baseline_a_sources_new_calls_are_news(digests):
    _, week19 = digests
    text = week19["all@example.org"]
    assert "Idéburen omställning" in text and "Ny källa" not in text


def test_the_card_shows_clock_time_who_may_apply_and_region(digests):
    week18, _ = digests
    text = week18["all@example.org"]
    card = text[text.index("* AMIF för kommuner i Skåne"):]
    assert "Sista ansökningsdag: 1 juni 2027 kl. 17.00" in card
    assert "Vem kan söka: kommun" in card
    assert "Region: Skåne län" in card


def test_form_filter_keeps_calls_open_to_the_form_or_not_saying(digests):
    week18, _ = digests
    text = week18.get("forening@example.org", "")
    assert "AMIF för kommuner i Skåne" not in text  # kommuner only
    assert "Ny källa: Vinnova — 2 öppna utlysningar" in text
    assert "Dina val: alla myndigheter; alla typer; organisationsform: ideell förening;" in text


def test_region_filter_keeps_the_regions_calls_and_national_ones(digests):
    week18, _ = digests
    assert "AMIF för kommuner i Skåne" in week18["skane@example.org"]
    assert "Ny källa: Vinnova — 1 öppen utlysning" in week18["skane@example.org"]  # not Västra Götaland's
    assert "AMIF för kommuner i Skåne" not in week18.get("vg@example.org", "")
    assert "Ny källa: Vinnova — 2 öppna utlysningar" in week18["vg@example.org"]


def test_calls_not_naming_civil_society_only_on_request(digests):
    week18, _ = digests
    assert "Ny källa: Vinnova — 3 öppna utlysningar" in week18["optin@example.org"]
    assert "Industriell digitalisering" not in week18["ny@example.org"]
