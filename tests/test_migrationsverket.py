"""Migrationsverket spider (City Scrapers style): saved mirror pages parsed under frozen time, every
field of every item; state2 differences; the broken state; the sitemap fallback; real crawls
through the mirror server."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import time_machine
from scrapy.http import HtmlResponse, Request, Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from fundwatch.mirror_server import MirrorServer
from fundwatch.spiders.migrationsverket import MigrationsverketSpider
from helpers import MIRROR, make_spider, mirror_response

NOW = "2026-11-26 10:00 +01:00"
SITE = "https://www.migrationsverket.se"
SITEMAP = f"{SITE}/sitemap1.xml.gz"
PLANNED = f"{SITE}/andra-aktorer/eu-fonder/utlysningar/planerade-utlysningar"
NEWS = f"{SITE}/andra-aktorer/eu-fonder/nyheter-for-fonder"
OLD = f"{SITE}/Andra-aktorer/EU-fonder/Programperiod-2021-2027/Utlysningar/Planerade-utlysningar.html"
LAYOUT = "labels Öppnar, Stänger, Tillgängliga medel"


def parse_state(state: str):
    spider = make_spider(MigrationsverketSpider)
    with time_machine.travel(NOW, tick=False):
        requests = list(spider.parse(mirror_response(state, SITEMAP)))
        calls = list(spider.parse_calls(mirror_response(state, PLANNED)))
        news = list(spider.parse_news(mirror_response(state, NEWS)))
    return spider, requests, calls, news


spider, requests, calls, news = parse_state("state1")

# -- expected state1 items ------------------------------------------------------------------------
CALL_A = dict(
    title="Specifikt mål 2: Integration av tredjelandsmedborgare",
    opens=dt.date(2027, 2, 1), deadline=dt.date(2027, 3, 15), deadline_text="15 mars 2027 kl. 23.59",
    amount_text="Ca 120 MSEK", amount_sek=120_000_000, competitive=True,
    details={"Finansieringsalternativ": "Förenklade kostnader", "Stöd från AMIF": "75-90 %",
             "Tidigast projektstart": "Tidigast 1 september 2027. Projekten kan pågå i högst tre år."},
    text="Utlysningen ska stärka integrationen av tredjelandsmedborgare genom insatser för språk, samhällsorientering och vägar till arbete.\n"
         "Tillgängliga medel Ca 120 MSEK\nFinansieringsalternativ Förenklade kostnader\nStöd från AMIF 75-90 %\n"
         "Öppnar 1 februari 2027\nStänger 15 mars 2027 kl. 23.59\n"
         "Tidigast projektstart Tidigast 1 september 2027. Projekten kan pågå i högst tre år.\n"
         "Vem kan söka?\n"
         "Utlysningen är konkurrerande. Alla juridiska personer kan söka, till exempel ideella föreningar, stiftelser, kommuner och regioner. Enskilda näringsidkare kan inte söka.\n"
         "Dokument\nPreliminär utlysningstext för specifikt mål 2",
)
CALL_B = dict(
    title="Förstudier inom integration",
    opens=dt.date(2026, 12, 1), deadline=None, deadline_text="Ej bestämt",
    amount_text="Ca 2,3 MSEK", amount_sek=2_300_000, competitive=True,
    details={"Finansieringsalternativ": "För förstudier: Klumpsumma", "Stöd från AMIF": "90 %", "Projektstart": "Våren 2027"},
    text="För organisationer som vill förbereda ett större projekt går det att söka medel för en förstudie på högst sex månader.\n"
         "Tillgängliga medel\nCa 2,3 MSEK\nFinansieringsalternativ\nFör förstudier: Klumpsumma\nStöd från AMIF\n90 %\n"
         "Öppnar\n1 december 2026\nStänger\nEj bestämt\nProjektstart\nVåren 2027",
)
CALL_C = dict(
    title="Specifikt mål 1: Stärkt mottagande av ensamkommande barn",
    opens=dt.date(2026, 10, 12), deadline=dt.date(2026, 11, 30), deadline_text="30 november 2026 kl. 17.00",
    amount_text="Ca 45 MSEK", amount_sek=45_000_000, competitive=True,
    details={"Finansieringsalternativ": "Förenklade kostnader", "Stöd från AMIF": "75 %", "Projektstart": "1 mars 2027"},
    text="Utlysningen gäller insatser som förbättrar mottagandet av ensamkommande barn och unga.\n"
         "Tillgängliga medel: Ca 45 MSEK\nFinansieringsalternativ: Förenklade kostnader\nStöd från AMIF: 75 %\n"
         "Öppnar: 12 oktober 2026\nStänger: 30 november 2026 kl. 17.00\nProjektstart: 1 mars 2027\n"
         "Vem kan söka?\nUtlysningen är konkurrerande och öppen för ideella föreningar, kommuner, regioner och myndigheter.",
)
CALL_D = dict(
    title="Specifikt mål 3: Självmant återvändande",
    opens=dt.date(2027, 3, 9), deadline=dt.date(2027, 4, 20), deadline_text="20 april 2027 kl. 12.00",
    amount_text="Ca 500 MSEK", amount_sek=500_000_000, competitive=False,
    details={"Finansieringsalternativ": "Faktiska kostnader", "Stöd från AMIF": "90 %", "Projektstart": "1 januari 2028"},
    text="Utlysningen är icke-konkurrerande. Medlen går till att utveckla arbetet med självmant återvändande.\n"
         "Tillgängliga medel Ca 500 MSEK\nFinansieringsalternativ Faktiska kostnader\nStöd från AMIF 90 %\n"
         "Öppnar 9 mars 2027\nStänger 20 april 2027 kl. 12.00\nProjektstart 1 januari 2028",
)
CALL_E = dict(  # labels partly in an accordion; "Januari 2027" names no day: no date invented, a planned call
    title="Specifikt mål 4: Vidarebosättning av kvotflyktingar",
    opens=None, deadline=None, deadline_text="Ej bestämt", status="planned",
    amount_text="Ca 60 MSEK", amount_sek=60_000_000, competitive=False,  # from its group heading
    details={"Öppnar": "januari 2027 (prel.)"},
    text="Medel för att ta emot kvotflyktingar inom ramen för EU:s vidarebosättningsprogram.\n"
         "Tillgängliga medel: Ca 60 MSEK\nViktiga datum\nÖppnar Januari 2027\nStänger Ej bestämt",
)
CALL_F = dict(  # under "Övriga planerade utlysningar", no word on competition: unknown
    title="Specifikt mål 2: Samverkan om tidiga insatser för asylsökande",
    opens=dt.date(2027, 5, 3), deadline=dt.date(2027, 6, 14), deadline_text="14 juni 2027",
    amount_text="Ca 30 MSEK", amount_sek=30_000_000, competitive=None,
    details={"Stöd från AMIF": "Max 75 procent", "Tidigast projektstart": "Januari 2028"},
    text="Planeringen av utlysningen pågår. Mer information om vem som kan söka publiceras när utlysningen öppnar.\n"
         "Tillgängliga medel\nCa 30 MSEK\nStöd från AMIF\nMax 75 procent\nÖppnar\n3 maj 2027\nStänger\n14 juni 2027\n"
         "Tidigast projektstart\nJanuari 2028",
)
STATE1_CALLS = [CALL_A, CALL_B, CALL_C, CALL_D, CALL_E, CALL_F]

NEWS_ITEMS = [
    ("2026-11-12-planerade-utlysningar-for-2027-ar-publicerade", "Planerade utlysningar för 2027 är publicerade",
     dt.date(2026, 11, 12), "Nu kan du läsa om de utlysningar inom AMIF som vi planerar att öppna under 2027."),
    ("2026-10-12-utlysningen-for-ensamkommande-barn-har-oppnat", "Utlysningen för ensamkommande barn har öppnat",
     dt.date(2026, 10, 12), "Nu går det att söka medel inom specifikt mål 1. Utlysningen stänger den 30 november 2026."),
    ("2026-08-06-slutrapporter-for-projekt-som-avslutades-i-juni", "Slutrapporter för projekt som avslutades i juni",
     dt.date(2026, 8, 6), "Projekt som avslutades den 30 juni 2026 ska lämna slutrapport senast den 30 september 2026."),
    # datetime="2026-03-23T23:30:00Z" is 00:30 on 24 March in Stockholm
    ("2026-03-24-webbinarium-om-amif-for-ideella-organisationer", "Webbinarium om AMIF för ideella organisationer",
     dt.date(2026, 3, 24), "Välkommen till ett webbinarium om hur ideella organisationer kan söka medel ur fonden."),
]


def assert_call(item, expected, page=PLANNED):
    assert item.agency == "migrationsverket"
    assert item.source == "migrationsverket"
    assert item.kind == "funding_call"
    assert item.key == expected["title"]
    assert item.url == page
    assert item.origin == page
    assert item.status == expected.get("status", "unknown")
    assert item.published is None
    assert item.deadline_rule is None
    assert item.id == ""
    for name, value in expected.items():
        assert getattr(item, name) == value, name


# -- the sitemap ----------------------------------------------------------------------------------
def test_sitemap_requests():
    assert [(r.url, r.meta["page_role"], r.callback.__name__) for r in requests] == [
        (PLANNED, "planned-calls", "parse_calls"),
        (NEWS, "fund-news", "parse_news"),
    ]
    assert spider.health.pages[SITEMAP].carried
    assert spider.health.pages[SITEMAP].layout is None


@pytest.mark.parametrize("url, wanted", [
    (PLANNED, True),
    (NEWS, True),
    (f"{NEWS}/2026-11-12-planerade-utlysningar-for-2027-ar-publicerade", True),
    (OLD, True),
    (f"{SITE}/andra-aktorer/eu-fonder/amif", False),
    (f"{SITE}/andra-aktorer/isf/planerade-utlysningar", False),
    (f"{SITE}/om-migrationsverket/pressrum/nyhetsarkiv/2026-10-01-ny-utlysning-for-forvarsverksamhet", False),
])
def test_sitemap_filter(url, wanted):
    assert MigrationsverketSpider._wanted(url) is wanted


# -- planned calls, state1 ------------------------------------------------------------------------
def test_call_count():
    assert len(calls) == 6


@pytest.mark.parametrize("index", range(6))
def test_call_fields(index):
    assert_call(calls[index], STATE1_CALLS[index])


def test_planned_page_health():
    page = spider.health.pages[PLANNED]
    assert page.role == "planned-calls"
    assert page.layout is None


# -- fund news, state1 ----------------------------------------------------------------------------
def test_news_count():
    assert len(news) == 4


@pytest.mark.parametrize("index", range(4))
def test_news_fields(index):
    slug, title, published, text = NEWS_ITEMS[index]
    item = news[index]
    assert item.agency == "migrationsverket"
    assert item.kind == "news"
    assert item.key == item.url == f"{NEWS}/{slug}"
    assert item.title == title
    assert item.origin == NEWS
    assert item.published == published
    assert item.text == text
    assert (item.opens, item.deadline, item.deadline_text, item.deadline_rule) == (None, None, None, None)
    assert (item.amount_text, item.amount_sek, item.competitive) == (None, None, None)
    assert item.status == "unknown"
    assert item.details == {}


# -- state2: the plan edited in place -------------------------------------------------------------
def test_state2_differences():
    _, requests2, calls2, news2 = parse_state("state2")
    assert [r.url for r in requests2] == [PLANNED, NEWS]
    by_title = {c.title: c for c in calls2}
    assert len(calls2) == 6
    # removed
    assert CALL_C["title"] not in by_title
    # added
    assert_call(by_title["Specifikt mål 2: Tidiga insatser för nyanlända kvinnor"], dict(
        title="Specifikt mål 2: Tidiga insatser för nyanlända kvinnor",
        opens=dt.date(2027, 4, 15), deadline=dt.date(2027, 5, 27), deadline_text="27 maj 2027 kl. 23.59",
        amount_text="Ca 35 MSEK", amount_sek=35_000_000, competitive=True,
        details={"Finansieringsalternativ": "Förenklade kostnader", "Stöd från AMIF": "75-90 %",
                 "Tidigast projektstart": "Tidigast 1 januari 2028."},
    ))
    # closing date moved: the same call (same key), a new deadline
    moved = by_title[CALL_A["title"]]
    assert (moved.deadline, moved.deadline_text) == (dt.date(2027, 3, 29), "29 mars 2027 kl. 23.59")
    assert moved.text == CALL_A["text"].replace("15 mars 2027", "29 mars 2027")
    # amount changed
    changed = by_title[CALL_B["title"]]
    assert (changed.amount_text, changed.amount_sek) == ("Ca 3,1 MSEK", 3_100_000)
    # the others as in state1
    for expected in (CALL_D, CALL_E, CALL_F):
        assert_call(by_title[expected["title"]], expected)
    # one news item added, on top
    assert len(news2) == 5
    assert (news2[0].title, news2[0].published, news2[0].url) == (
        "Utlysningen inom specifikt mål 2 stänger senare", dt.date(2026, 12, 2),
        f"{NEWS}/2026-12-02-utlysningen-inom-specifikt-mal-2-stanger-senare")
    assert [n.url for n in news2[1:]] == [n.url for n in news]


# -- broken: redesigned planned-calls page, empty news list ---------------------------------------
def test_broken_layout_changed():
    spider_b, requests_b, calls_b, news_b = parse_state("broken")
    assert [r.url for r in requests_b] == [PLANNED, NEWS]
    assert calls_b == []
    assert spider_b.health.pages[PLANNED].layout == LAYOUT
    assert news_b == []
    assert spider_b.health.pages[NEWS].layout is None
    assert spider_b.health.pages[NEWS].carried  # an empty list is legitimate


def test_no_planned_calls_announced_is_not_a_layout_change():
    body = ("<html><body><main><h1>Planerade utlysningar</h1><p>Just nu finns inga planerade utlysningar.</p>"
            "</main></body></html>").encode()
    s = make_spider(MigrationsverketSpider)
    assert list(s.parse_calls(HtmlResponse(PLANNED, body=body, encoding="utf-8"))) == []
    assert s.health.pages[PLANNED].layout is None and s.health.pages[PLANNED].carried


def test_a_call_planned_for_a_season_keeps_it_partial():
    """"Öppnar: Hösten 2027" (a year-only forecast) is never made a day: the call is planned and says
    "Öppnar: hösten 2027 (prel.)"; "Projektstart: Våren 2027" stays as written."""
    body = ("<html><body><main><h1>Planerade utlysningar</h1><h2>Specifikt mål 3: Återvändande</h2>"
            "<p><strong>Tillgängliga medel:</strong> Ca 30 MSEK</p><p><strong>Öppnar:</strong> Hösten 2027</p>"
            "<p><strong>Stänger:</strong> Ej bestämt</p><p><strong>Projektstart:</strong> Våren 2028</p>"
            "</main></body></html>").encode()
    s = make_spider(MigrationsverketSpider)
    (call,) = s.parse_calls(HtmlResponse(PLANNED, body=body, encoding="utf-8"))
    assert (call.opens, call.deadline, call.deadline_text, call.status) == (None, None, "Ej bestämt", "planned")
    assert call.details == {"Projektstart": "Våren 2028", "Öppnar": "hösten 2027 (prel.)"}


def test_news_list_gone_is_a_layout_change():
    body = b"<html><body><main><h1>Nyheter f\xc3\xb6r fonder</h1><p>Sidan har flyttat.</p></main></body></html>"
    s = make_spider(MigrationsverketSpider)
    assert list(s.parse_news(HtmlResponse(NEWS, body=body, encoding="utf-8"))) == []
    assert s.health.pages[NEWS].layout == "news list li.sv-channel-item"


# -- the fallback to the old URL ------------------------------------------------------------------
def test_sitemap_error_falls_back_to_old_url():
    s = make_spider(MigrationsverketSpider)
    request = s.request(SITEMAP, s.parse, role="sitemap")
    failure = Failure(HttpError(Response(SITEMAP, status=503, request=request)))
    failure.request = request
    out = list(s._sitemap_failed(failure))
    assert [(r.url, r.meta["page_role"], r.callback.__name__) for r in out] == [(OLD, "planned-calls", "parse_calls")]
    assert (s.health.pages[SITEMAP].status, s.health.pages[SITEMAP].error) == (503, "HTTP 503")
    # the old page (state1) carries the same calls
    with time_machine.travel(NOW, tick=False):
        old_calls = list(s.parse_calls(mirror_response("state1", OLD)))
    assert len(old_calls) == 6
    for item, expected in zip(old_calls, STATE1_CALLS):
        assert_call(item, expected, page=OLD)


def _gz(xml: str) -> bytes:
    return gzip.compress(xml.encode(), mtime=0)


@pytest.mark.parametrize("body, missing", [
    (_gz('<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
         f"<url><loc>{SITE}/privatpersoner</loc></url><url><loc>{NEWS}</loc></url></urlset>"),
     "a <loc> for eu-fonder planerade-utlysningar"),
    (b"\x1f\x8b\x08\x00broken", "a readable gzip or XML sitemap"),
    (b"<html><body>Sidan finns inte</body></html>", "a readable gzip or XML sitemap"),
])
def test_sitemap_without_planned_calls_falls_back(body, missing):
    s = make_spider(MigrationsverketSpider)
    out = list(s.parse(Response(SITEMAP, body=body, request=Request(SITEMAP))))
    assert out[0].url == OLD and out[0].meta["page_role"] == "planned-calls"
    assert s.health.pages[SITEMAP].layout == missing


# -- real crawls through the mirror server --------------------------------------------------------
def crawl(server: MirrorServer, tmp_path: Path, *settings: str) -> dict:
    result = tmp_path / "r.json"
    cmd = [sys.executable, "-m", "scrapy", "crawl", "migrationsverket", "-s", "DOWNLOAD_DELAY=0",
           "-s", "AUTOTHROTTLE_ENABLED=0", "-s", "FUNDWATCH_BACKOFF_BASE=0", "-s", "FUNDWATCH_RETRY_AFTER_MAX=1",
           "-s", f"FUNDWATCH_RESULT_FILE={result}"]
    for setting in settings:
        cmd += ["-s", setting]
    env = dict(os.environ, FUNDWATCH_MIRROR=server.url, FUNDWATCH_DATABASE_URL=f"sqlite:///{tmp_path / 'fw.db'}",
               FUNDWATCH_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.run(cmd, env=env, cwd=Path(__file__).parent.parent, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(result.read_text("utf-8"))


@pytest.mark.slow
def test_crawl_state1_then_state2(tmp_path):
    with MirrorServer(MIRROR / "state1") as server:
        first = crawl(server, tmp_path, "FUNDWATCH_REMOVE_AFTER_MISSES=1")
        assert {k: first[k] for k in ("status", "pages", "items", "new", "updated", "removed", "reason")} == {
            "status": "ok", "pages": 3, "items": 10, "new": 10, "updated": 0, "removed": 0, "reason": ""}
        server.set_root(MIRROR / "state2")
        second = crawl(server, tmp_path, "FUNDWATCH_REMOVE_AFTER_MISSES=1")
        # new: a call and a news item; updated: the moved deadline and the changed amount; removed: one call
        assert {k: second[k] for k in ("status", "items", "new", "updated", "removed", "reappeared")} == {
            "status": "ok", "items": 11, "new": 2, "updated": 2, "removed": 1, "reappeared": 0}


@pytest.mark.slow
def test_crawl_sitemap_404_falls_back(tmp_path):
    root = tmp_path / "mirror"
    shutil.copytree(MIRROR / "state1" / "www.migrationsverket.se", root / "www.migrationsverket.se")
    (root / "_responses.toml").write_text('["www.migrationsverket.se/sitemap1.xml.gz"]\nstatus = 404\n', "utf-8")
    with MirrorServer(root) as server:
        result = crawl(server, tmp_path)
        paths = [entry.path for entry in server.log]
    assert "/www.migrationsverket.se/Andra-aktorer/EU-fonder/Programperiod-2021-2027/Utlysningar/Planerade-utlysningar.html" in paths
    # the calls came from the old page; the failed sitemap makes the run partial, not failed
    assert {k: result[k] for k in ("status", "items", "new")} == {"status": "partial", "items": 6, "new": 6}
    assert result["reason"] == f"1 other page(s) failed, first {SITEMAP}: HTTP 404"


# -- the shared Sitevision helpers on the saved page ----------------------------------------------
def test_sitevision_accordions_and_file_links():
    from fundwatch.spiders import sitevision
    from fundwatch.spiders.reader import read_sections

    response = mirror_response("state1", PLANNED)
    accordions = [(s.title, s.text, s.context[-1]) for s in read_sections(response) if s.level % 1]
    assert accordions == [
        ("Vem kan söka?", "Utlysningen är konkurrerande. Alla juridiska personer kan söka, till exempel ideella "
                          "föreningar, stiftelser, kommuner och regioner. Enskilda näringsidkare kan inte söka.",
         "Specifikt mål 2: Integration av tredjelandsmedborgare"),
        ("Dokument", "Preliminär utlysningstext för specifikt mål 2", "Specifikt mål 2: Integration av tredjelandsmedborgare"),
        ("Vem kan söka?", "Utlysningen är konkurrerande och öppen för ideella föreningar, kommuner, regioner och myndigheter.",
         "Specifikt mål 1: Stärkt mottagande av ensamkommande barn"),
        ("Viktiga datum", "Öppnar Januari 2027\nStänger Ej bestämt", "Specifikt mål 4: Vidarebosättning av kvotflyktingar"),
    ]
    assert sitevision.file_links(response) == [sitevision.FileLink(
        url=f"{SITE}/download/18.6f1c2b3a18f2b1d0c3f01/1731400000000/preliminar-utlysningstext-specifikt-mal-2-2027.pdf",
        text="Preliminär utlysningstext för specifikt mål 2", title="pdf, 458.9 kB, öppnas i nytt fönster",
        name="preliminar-utlysningstext-specifikt-mal-2-2027.pdf")]
    # the related-news list in the aside is chrome: only main is read
    assert sitevision.channel_items(response) == []
    assert len(sitevision.channel_items(response, root=response)) == 1


def _page(main: str) -> HtmlResponse:
    return HtmlResponse(PLANNED, body=f"<html><body><main>{main}</main></body></html>".encode(), encoding="utf-8")


def test_calls_each_in_an_accordion_are_split():
    acc = ('<div class="sv-collapsible-content"><a class="env-collapse-header" href="#c{n}">{title}</a>'
           '<div class="env-collapse" id="c{n}"><p><strong>Öppnar</strong> {opens}</p><p><strong>Stänger</strong> {closes}</p>'
           '</div></div>')
    main = ('<h1>Planerade utlysningar</h1><h2>Icke-konkurrerande utlysningar</h2>'
            + acc.format(n=1, title="Gränsnära återvändande", opens="1 mars 2027", closes="1 april 2027")
            + acc.format(n=2, title="Förvar", opens="2 mars 2027", closes="Ej bestämt"))
    s = make_spider(MigrationsverketSpider)
    items = list(s.parse_calls(_page(main)))
    assert [(i.title, i.opens, i.deadline, i.deadline_text, i.competitive, i.text) for i in items] == [
        ("Gränsnära återvändande", dt.date(2027, 3, 1), dt.date(2027, 4, 1), "1 april 2027", False,
         "Öppnar 1 mars 2027\nStänger 1 april 2027"),
        ("Förvar", dt.date(2027, 3, 2), None, "Ej bestämt", False, "Öppnar 2 mars 2027\nStänger Ej bestämt"),
    ]


def test_deeper_heading_belongs_to_the_call():
    main = ("<h1>Planerade utlysningar</h1>"
            "<h2>Utlysning A</h2><p>Öppnar: 1 mars 2027</p><h3>Mer om utlysningen</h3><p>Läs utlysningstexten.</p>"
            "<h2>Utlysning B</h2><p>Stänger: 2 april 2027</p><h2>Kontakt</h2><p>fonderna@migrationsverket.se</p>")
    items = list(make_spider(MigrationsverketSpider).parse_calls(_page(main)))
    assert [(i.title, i.text, i.competitive) for i in items] == [
        ("Utlysning A", "Öppnar: 1 mars 2027\nMer om utlysningen\nLäs utlysningstexten.", None),
        ("Utlysning B", "Stänger: 2 april 2027", None),
    ]
