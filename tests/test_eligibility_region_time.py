"""Who may apply, regions, status words, deadlines with clock times and dates without a year; the
public JSON's version 2 fields; subscribers choosing their form and region (CLI and web); items
stored before these fields keep their content hash."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session

from fundwatch.cli import main
from fundwatch.eligibility import clean_forms, eligibility_of, names_civil_society, organisation_forms
from fundwatch.items import CONTENT_FIELDS, OPTIONAL_FIELDS
from fundwatch.labels import status_from_word
from fundwatch.regions import clean_regions, region_of
from fundwatch.storage.changes import content_hash, snapshot
from fundwatch.storage.db import get_engine
from fundwatch.storage.queries import CALL_KEYS, call_json, effective_status, list_items
from fundwatch.swedish import deadline_time, parse_date, parse_date_in_context
from helpers import crawl, make_item

TZ_NOW = dt.datetime(2027, 3, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))


# -- who may apply --------------------------------------------------------------------------------
@pytest.mark.parametrize("page, forms", [
    ("Om bidraget\nVem kan söka?\nIdeella föreningar, stiftelser och trossamfund kan söka bidraget.\n"
     "Hur mycket kan ni söka?\nHögst 500 000 kronor till kommuner.", ["ideell förening", "stiftelse", "trossamfund"]),
    ("Vilka kan ansöka\nStudieförbund och riksorganisationer. Kommuner kan inte söka.\nViktiga datum\n1 mars",
     ["ideell förening", "studieförbund"]),
    ("Vem kan söka?\nEn kommun, en region eller en myndighet. Företag får inte söka.", ["kommun", "region", "myndighet"]),
    ("Vem kan söka?\nForskare vid universitet och högskolor samt företag.", ["företag", "forskare"]),
    ("Bidraget går till föreningar i hela landet.", []),  # no eligibility section: nothing is read
])
def test_eligibility_is_read_from_the_section_only(page, forms):
    assert eligibility_of(page) == forms


def test_regional_words_are_not_the_form_region():
    assert organisation_forms("Ideella föreningar med regionala verksamheter") == ["ideell förening"]


def test_civil_society_words():
    assert names_civil_society("Gemensamma AI-förmågor i kommuner och civilsamhälle")
    assert names_civil_society("för idéburna organisationer") and names_civil_society("Ideella organisationer")
    assert not names_civil_society("Avancerad digitalisering för industrin")


def test_a_typed_form_is_checked():
    assert clean_forms(["Ideell  Förening", "stiftelse", "ideell förening"]) == ["ideell förening", "stiftelse"]
    with pytest.raises(ValueError, match="unknown organisation form 'klubb'"):
        clean_forms(["klubb"])


# -- regions ----------------------------------------------------------------------------------------
def test_region_from_a_county_site_path_or_the_title():
    assert region_of("https://www.lansstyrelsen.se/skane/samhalle/tia.html") == "Skåne län"
    assert region_of("https://www.lansstyrelsen.se/vastra-gotaland/x/") == "Västra Götalands län"
    assert region_of("", "Utlysning för Norra Mellansverige 2027") == "Norra Mellansverige"
    assert region_of("", "Bidrag i Jönköpings län") == "Jönköpings län"
    assert region_of("", "Region Skåne söker partner") is None  # an applicant, not the call's region
    assert region_of("https://www.vinnova.se/e/x/", "Nationell utlysning") is None
    assert clean_regions(["skåne län"]) == ["Skåne län"]
    with pytest.raises(ValueError, match="unknown region"):
        clean_regions(["Atlantis"])


# -- status words, clock times, years -------------------------------------------------------------
@pytest.mark.parametrize("word, status", [
    ("Kommande", "upcoming"), ("Öppen för ansökan", "open"), ("Stängd för ansökan", "closed"),
    ("Stängt för ansökan", "closed"), ("Beslutad", "closed"), ("Öppnar snart", None),
])
def test_status_words(word, status):
    assert status_from_word(word) == status


@pytest.mark.parametrize("text, time", [
    ("Sista ansökningsdag: 15 mars 2027 kl. 14.00", "14:00"), ("senast 1 april 2027 klockan 17.00", "17:00"),
    ("30 september 2027, 23.59", "23:59"), ("15 mars 2027", None),
])
def test_deadlines_keep_their_clock_time(text, time):
    assert deadline_time(parse_date(text)) == time


def test_a_date_without_a_year_takes_it_from_the_page_or_the_title_else_stays_partial():
    assert parse_date_in_context("Ansökan öppnar: 1 februari", page_date=dt.date(2026, 11, 3)).date == dt.date(2026, 2, 1)
    assert parse_date_in_context("Ansökan öppnar: 1 februari", title="Projektbidrag 2027").date == dt.date(2027, 2, 1)
    partial = parse_date_in_context("Ansökan öppnar: 1 februari", title="Projektbidrag 2026–2027")
    assert (partial.date, partial.text) == (None, "Ansökan öppnar: 1 februari")  # two years: no guess
    assert parse_date_in_context("Ansökan öppnar: 1 februari").date is None
    for forecast in ("Öppnar: Maj 2023", "inför nästa utlysning 2026"):
        assert parse_date_in_context(forecast, title="Utlysning 2026", page_date=dt.date(2025, 5, 1)).date is None


# -- stored items and the public JSON -------------------------------------------------------------
def test_items_stored_before_the_new_fields_keep_their_content_hash():
    item = make_item("migrationsverket", "Specifikt mål 1", deadline=dt.date(2027, 4, 1))
    before = {name: value for name, value in snapshot(item).items() if name not in OPTIONAL_FIELDS}
    assert set(snapshot(item)) == set(CONTENT_FIELDS) - set(OPTIONAL_FIELDS)
    assert content_hash(snapshot(item)) == content_hash(before)
    item.eligibility, item.deadline_time = ["kommun"], "14:00"
    assert content_hash(snapshot(item)) != content_hash(before)


def test_a_new_field_read_from_an_unchanged_page_is_no_change(db_url):
    """A spider that starts reading who may apply from the same page fills the field quietly; a
    later change of that field is an update."""
    engine = get_engine(db_url)
    crawl(engine, "migrationsverket", [make_item("migrationsverket", "Specifikt mål 1", text="Vem kan söka: kommuner")])
    filled = make_item("migrationsverket", "Specifikt mål 1", text="Vem kan söka: kommuner", eligibility=["kommun"])
    assert crawl(engine, "migrationsverket", [filled]).updated == 0
    with Session(engine) as s:
        assert list_items(s)[0].eligibility == ["kommun"]
    changed = make_item("migrationsverket", "Specifikt mål 1", text="Vem kan söka: kommuner", eligibility=["kommun", "region"])
    assert crawl(engine, "migrationsverket", [changed]).updated == 1


def test_call_json_version_2_fields_and_filters(db_url):
    engine = get_engine(db_url)
    crawl(engine, "migrationsverket", [
        make_item("migrationsverket", "Nationell", deadline=dt.date(2027, 3, 1), deadline_time="14:00",
                  eligibility=["ideell förening"]),
        make_item("migrationsverket", "Skånsk", deadline=dt.date(2027, 6, 1), region="Skåne län", eligibility=["kommun"]),
        make_item("migrationsverket", "Stängd enligt sidan", deadline=dt.date(2027, 9, 1), status="closed"),
    ])
    with Session(engine) as s:
        items = {i.title: i for i in list_items(s)}
        national = call_json(items["Nationell"], TZ_NOW)
        assert set(CALL_KEYS) == set(national)
        assert (national["deadline_time"], national["eligibility"], national["region"]) == ("14:00", ["ideell förening"], None)
        # the clock time closes the call: open at 12:00 on its last day, closed at 14:01
        assert national["status"] == "open"
        assert effective_status(items["Nationell"], TZ_NOW.replace(hour=14, minute=1)) == "closed"
        assert call_json(items["Stängd enligt sidan"], TZ_NOW)["status"] == "closed"  # the page's word wins
        assert [i.title for i in list_items(s, region="Västra Götalands län")] == ["Nationell", "Stängd enligt sidan"]
        assert sorted(i.title for i in list_items(s, region="Skåne län")) == ["Nationell", "Skånsk", "Stängd enligt sidan"]
        assert sorted(i.title for i in list_items(s, form="kommun")) == ["Skånsk", "Stängd enligt sidan"]


def cli(*args):
    return CliRunner().invoke(main, list(args))


def test_calls_region_and_form_options(sqlite_url):
    crawl(get_engine(sqlite_url), "migrationsverket", [
        make_item("migrationsverket", "Nationell", eligibility=["ideell förening"]),
        make_item("migrationsverket", "Skånsk", region="Skåne län"),
    ])
    result = cli("calls", "--region", "västra götalands län", "--format", "json")
    assert result.exit_code == 0, result.output
    assert [r["title"] for r in json.loads(result.output)] == ["Nationell"]
    result = cli("calls", "--form", "företag", "--format", "json")
    assert [r["title"] for r in json.loads(result.output)] == ["Skånsk"]
    result = cli("calls", "--region", "Atlantis")
    assert result.exit_code == 1 and result.output.count("\n") == 1 and "unknown region 'Atlantis'" in result.output


def test_subscribe_and_update_forms_and_regions(sqlite_url, digest_env):
    result = cli("subscribe", "a@example.org", "--org", "Förening", "--form", "ideell förening", "--region", "Skåne län",
                 "--confirmed", "--by", "test")
    assert result.exit_code == 0, result.output
    listed = json.loads(cli("subscribers", "--format", "json").output)[0]
    assert (listed["forms"], listed["regions"]) == (["ideell förening"], ["Skåne län"])
    result = cli("subscribers", "update", "a@example.org", "--form", "stiftelse", "--all-regions")
    assert result.exit_code == 0 and "; forms stiftelse; non-competitive" in result.output  # no region: all
    listed = json.loads(cli("subscribers", "--format", "json").output)[0]
    assert (listed["forms"], listed["regions"]) == (["stiftelse"], [])
    result = cli("subscribe", "b@example.org", "--org", "X", "--form", "klubb", "--confirmed")
    assert result.exit_code == 1 and re.search(r"unknown organisation form 'klubb'", result.output)
