"""Vinnova, an API source: the mirror's JSON answers parsed field by field (state1, state2, broken),
the since-chain's requests, and real crawls through `fundwatch crawl`: the watermark, a since-answer
that never removes, Publik 0 closing a call, a broken API failing the run with nothing changed."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tomllib
from pathlib import Path

import pytest
from scrapy import Request
from scrapy.http import HtmlResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from fundwatch import config
from fundwatch.crawl import api_since
from fundwatch.sources import load_sources
from fundwatch.spiders.vinnova import VinnovaSpider, api_moment, api_text
from fundwatch.storage.db import get_engine, session_factory
from fundwatch.storage.models import Change, Item
from fundwatch.storage.outcome import RunOutcome
from fundwatch.storage.runlife import finish_run, start_run
from helpers import MIRROR, crawl_args, make_spider, mirror_response, run_cli

API = "https://data.vinnova.se/api"
SINCE = "2026-11-01"


def run_chain(state: str, since: str = SINCE):
    """The spider's request chain answered from the mirror's STATE: (items, requested URLs, spider)."""
    spider = make_spider(VinnovaSpider, source="vinnova")
    queue = [spider.first_request(since)]
    items, requested = [], []
    while queue:
        request = queue.pop(0)
        requested.append(request.url)
        spider.health.page_ok(request.url, 200, request.url)  # what the response_received signal records
        for out in request.callback(mirror_response(state, request.url, request.meta)):
            (queue if isinstance(out, Request) else items).append(out)
    return {i.key: i for i in items}, requested, spider


state1, state1_requests, state1_spider = run_chain("state1")


def test_the_first_run_asks_since_the_configured_date_then_for_what_the_answers_lack():
    assert state1_requests == [
        f"{API}/utlysningar/{SINCE}", f"{API}/ansokningsomgangar/{SINCE}",
        f"{API}/utlysningar/2025-01004",  # a round changed, its call did not
        f"{API}/ansokningsomgangar/2025-02010",  # that call's other round
    ]
    assert sorted(state1) == ["2025-01004", "2026-01001", "2026-01002", "2026-01003"]


def test_a_civil_society_call_field_by_field():
    a = state1["2026-01001"]
    assert (a.agency, a.kind, a.title) == ("vinnova", "funding_call", "Gemensamma AI-förmågor i kommuner och civilsamhälle")
    assert a.url == "https://www.vinnova.se/e/larande-och-motesplatser/gemensamma-ai-formagor-i-kommuner-och-2026-01001/"
    assert (a.opens, a.deadline, a.deadline_time) == (dt.date(2026, 11, 20), dt.date(2027, 2, 10), "14:00")
    assert a.deadline_text == "10 februari 2027 kl. 14.00"
    assert a.published == dt.date(2026, 11, 3)
    assert a.status == "unknown"  # open/upcoming/closed come from the dates when read
    assert a.eligibility == ["ideell förening", "kommun"]  # "Företag kan inte vara koordinator" is not an applicant
    assert a.region is None
    assert a.details == {"civilsamhälle": "ja", "diarienummer": "2026-01001",
                         "ansökningsomgång 2026-02001": "20 november 2026 – 10 februari 2027 kl. 14.00"}
    assert a.text.splitlines()[:2] == ["Erbjudandet i korthet: stöd till gemensamma AI-förmågor som flera organisationer delar.",
                                        "Vem kan söka?"]
    assert "Utlysningen riktar sig till kommuner och till ideella organisationer." in a.text
    assert "For municipalities." not in a.text  # the English web text is left out


def test_a_call_for_companies_is_kept_and_marked_not_for_civil_society():
    b = state1["2026-01002"]
    assert b.details["civilsamhälle"] == "nej"
    assert b.eligibility == ["företag", "forskare"]
    assert (b.opens, b.deadline, b.deadline_time) == (dt.date(2026, 10, 1), dt.date(2027, 1, 20), "14:00")


def test_a_forecast_round_stays_partial_and_planned():
    c = state1["2026-01003"]
    assert (c.opens, c.deadline, c.deadline_time) == (None, None, None)
    assert c.deadline_text == "Planeras: Våren 2027"
    assert c.status == "planned"
    assert c.details["Öppnar"] == "våren 2027 (prel.)"  # the season it opens, never a day
    assert c.details["civilsamhälle"] == "ja"


def test_a_call_with_two_rounds_spans_them_and_takes_its_region_from_the_title():
    d = state1["2025-01004"]
    assert (d.opens, d.deadline, d.deadline_time) == (dt.date(2025, 9, 15), dt.date(2027, 3, 2), "23:59")
    assert d.region == "Västra Götalands län"
    assert d.eligibility == ["ideell förening", "stiftelse"]
    assert d.details["ansökningsomgång 2025-02010"] == "15 september 2025 – 4 november 2025 kl. 14.00"


def test_api_pages_never_count_a_miss_but_are_healthy():
    outcome = state1_spider.health.outcome("finished")
    assert outcome.status == "ok"
    assert outcome.fetched_pages == set()  # every page is a since- or by-number answer


def test_state2_the_answer_holds_only_what_changed():
    items, requested, _ = run_chain("state2")
    assert requested == [f"{API}/utlysningar/{SINCE}", f"{API}/ansokningsomgangar/{SINCE}",
                         f"{API}/utlysningar/2026-01001", f"{API}/ansokningsomgangar/2026-02002"]
    assert sorted(items) == ["2026-01001", "2026-01002", "2026-01005"]
    assert items["2026-01001"].deadline == dt.date(2027, 2, 17)
    assert items["2026-01002"].status == "closed"  # Publik 0
    e = items["2026-01005"]
    assert e.eligibility == ["ideell förening", "trossamfund", "studieförbund"]
    assert (e.opens, e.deadline, e.deadline_time) == (dt.date(2027, 1, 15), dt.date(2027, 4, 14), "14:00")


def test_broken_a_maintenance_page_instead_of_json_is_a_layout_change():
    override = tomllib.loads((MIRROR / "broken" / "_responses.toml").read_text("utf-8"))
    body = override[f"data.vinnova.se/api/utlysningar/{SINCE}"]["body"]
    spider = make_spider(VinnovaSpider, source="vinnova")
    request = spider.first_request(SINCE)
    spider.health.page_ok(request.url, 200, request.url)
    response = HtmlResponse(request.url, body=body.encode(), encoding="utf-8", request=request)
    assert list(request.callback(response)) == []  # no item, and no further request
    outcome = spider.health.outcome("finished")
    assert (outcome.status, outcome.reason_code) == ("failed", "layout_changed")


def test_api_values():
    assert api_moment("2027-02-10T14:00:00") == (dt.date(2027, 2, 10), "14:00")
    assert api_moment("2027-02-10T00:00:00") == (dt.date(2027, 2, 10), None)
    assert api_moment(None) == (None, None) and api_moment("snart") == (None, None)
    assert api_text("<p>Rad ett &amp; två</p><p>Rad tre</p>") == "Rad ett & två\nRad tre"


# -- the watermark ------------------------------------------------------------------------------
def test_the_watermark_is_the_day_before_the_last_healthy_run(sqlite_url, monkeypatch):
    source = load_sources().get("vinnova")
    engine = get_engine(sqlite_url)
    sessions = session_factory(engine)
    assert api_since(sessions, source) == SINCE  # never crawled: the configured date
    started = dt.datetime(2026, 12, 1, 23, 30, tzinfo=dt.UTC)  # 00:30 on 2 December in Stockholm
    with Session(engine) as s, s.begin():
        run = start_run(s, "vinnova", "vinnova", "vinnova")
        run.started_at = started
        finish_run(s, run.id, RunOutcome(status="ok"), [])
        failed = start_run(s, "vinnova", "vinnova", "vinnova")
        failed.started_at = started + dt.timedelta(days=3)
        finish_run(s, failed.id, RunOutcome(status="failed", reason_code="layout_changed"), [])
    assert config.timezone().key == "Europe/Stockholm"
    assert api_since(sessions, source) == "2026-12-01"  # a failed run does not move it
    assert api_since(sessions, load_sources().get("migrationsverket")) is None  # HTML sources have none


# -- real crawls ----------------------------------------------------------------------------------
def serve_state2_at(tmp_path: Path, since: str) -> Path:
    """state2's answers served under the date the second crawl asks for."""
    root = tmp_path / "mirror2"
    shutil.copytree(MIRROR / "state2" / "data.vinnova.se", root / "data.vinnova.se")
    for kind in ("utlysningar", "ansokningsomgangar"):
        (root / "data.vinnova.se" / "api" / kind / SINCE).rename(root / "data.vinnova.se" / "api" / kind / since)
    return root


def rows(cli_result) -> dict:
    assert cli_result.returncode == 0, cli_result.stderr
    return {r["id"]: r for r in json.loads(cli_result.stdout)}


@pytest.mark.slow
def test_crawl_state1_then_state2_by_watermark(sqlite_url, mirror, tmp_path):
    first = run_cli(*crawl_args("vinnova"))
    assert first.returncode == 0, first.stderr
    assert "vinnova: ok" in first.stderr + first.stdout and "4 new" in first.stdout
    calls = rows(run_cli("calls", "--agency", "vinnova", "--format", "json"))
    assert calls["vinnova/funding_call/2026-01001"]["deadline_time"] == "14:00"
    assert calls["vinnova/funding_call/2026-01001"]["eligibility"] == ["ideell förening", "kommun"]
    assert calls["vinnova/funding_call/2025-01004"]["region"] == "Västra Götalands län"

    watermark = (dt.datetime.now(config.timezone()).date() - dt.timedelta(days=1)).isoformat()
    mirror.set_root(serve_state2_at(tmp_path, watermark))
    second = run_cli(*crawl_args("vinnova"))
    assert second.returncode == 0, second.stderr
    assert any(e.path == f"/data.vinnova.se/api/utlysningar/{watermark}" for e in mirror.log)
    # A's round moved (updated), B went not public (updated: closed), E is new; C and D, absent
    # from the since-answer, are unchanged and not removed
    assert "1 new, 2 updated, 0 removed" in second.stdout
    calls = rows(run_cli("calls", "--agency", "vinnova", "--format", "json"))
    assert len(calls) == 5
    assert calls["vinnova/funding_call/2026-01002"]["status"] == "closed"
    assert calls["vinnova/funding_call/2026-01003"]["status"] == "planned"
    assert calls["vinnova/funding_call/2026-01001"]["deadline"] == "2027-02-17"
    third = run_cli(*crawl_args("vinnova"))  # the same answers again: nothing changes, nothing is removed
    assert "0 new, 0 updated, 0 removed" in third.stdout
    with Session(get_engine(sqlite_url)) as s:
        assert s.scalars(select(Change).where(Change.change == "removed")).all() == []
        assert s.scalars(select(Item).where(Item.status == "removed")).all() == []


@pytest.mark.slow
def test_crawl_broken_api_fails_and_changes_nothing(sqlite_url, mirror, tmp_path):
    mirror.set_root(MIRROR / "broken")
    result = run_cli(*crawl_args("vinnova"))
    assert result.returncode == 0, result.stderr
    assert "vinnova: failed" in result.stdout + result.stderr
    assert "0 items" in result.stdout + result.stderr
    assert rows(run_cli("calls", "--agency", "vinnova", "--format", "json")) == {}


def test_the_mirror_answers_a_later_since_date_with_its_newest_earlier_answer():
    """The demo's second crawl asks for changes since yesterday; the mirror holds the answer since
    2026-11-01, a superset of it. A date before every file the mirror holds stays a 404."""
    import urllib.error
    import urllib.request

    from fundwatch.mirror_server import MirrorServer

    with MirrorServer(MIRROR / "state2") as server:
        base = f"{server.url}/data.vinnova.se/api/utlysningar"
        with urllib.request.urlopen(f"{base}/2026-12-01") as later:
            assert later.read() == (MIRROR / "state2/data.vinnova.se/api/utlysningar" / SINCE).read_bytes()
        with pytest.raises(urllib.error.HTTPError) as earlier:
            urllib.request.urlopen(f"{base}/2020-01-01")
        assert earlier.value.code == 404
