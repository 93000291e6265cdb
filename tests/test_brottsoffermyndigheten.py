"""Brottsoffermyndigheten spider (City Scrapers style): saved mirror pages parsed under frozen time,
every field of every item; state2 differences; the broken state; real crawls through the mirror."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import time_machine
from scrapy.http import HtmlResponse

from fundwatch.mirror_server import MirrorServer
from fundwatch.spiders.brottsoffermyndigheten import BrottsoffermyndighetenSpider
from helpers import MIRROR, make_spider, mirror_response

NOW = "2026-11-26 10:00 +01:00"
SITE = "https://www.brottsoffermyndigheten.se"
PROJECT = f"{SITE}/sok-projektmedel/brottsofferinriktade-projekt/"
RESEARCH = f"{SITE}/sok-projektmedel/forskningsprojekt/sok-forskningsmedel/"
NEWS = f"{SITE}/om-oss/aktuellt/nyheter/"


def parse_state(state: str, urls=(PROJECT, RESEARCH, NEWS)):
    spider = make_spider(BrottsoffermyndighetenSpider)
    with time_machine.travel(NOW, tick=False):
        items = {url: list(spider.parse(mirror_response(state, url))) for url in urls}
    return spider, items


spider, parsed = parse_state("state1")
project, research, news = parsed[PROJECT], parsed[RESEARCH], parsed[NEWS]

WHO_PROJECT = ("Ideella föreningar och andra organisationer i civilsamhället, offentliga verksamheter samt "
               "privata verksamheter kan söka medel från Brottsofferfonden.")
PROJECT_RULE_TEXT = ("Det går att söka medel från Brottsofferfonden två gånger per år, senast den 1 april eller "
                     "senast den 1 oktober.")
PROJECT_DECISION = "Beslutet kommer i juni om du ansöker i april och i december om du ansöker i oktober."
PROJECT_TEXT = "\n".join([
    "Brottsofferinriktade projekt",
    "Brottsofferfonden ger bidrag till projekt som stödjer brottsutsatta och deras närstående, till exempel "
    "verksamheter som ger stöd och information eller som förebygger brott.",
    "Vem kan söka?", WHO_PROJECT,
    "När kan jag söka?", f"{PROJECT_RULE_TEXT} {PROJECT_DECISION}",
    "Vad kan du få bidrag för?",
    "Du kan söka bidrag för ett år i taget. Bidraget betalas ut som ett engångsbelopp. Det går inte att överklaga beslutet.",
    "Projekt som ger stöd till brottsutsatta och deras närstående",
    "Informationsinsatser om brottsutsattas rättigheter",
    "Utbildning för personer som möter brottsutsatta i sitt arbete",
    "Så ansöker du", "Du ansöker i vår e-tjänst. Läs anvisningarna innan du börjar.",
    "Till e-tjänsten för projektmedel", "Anvisningar för ansökan om projektmedel (pdf, 312 kB)",
    "Redovisning",
    "Slutredovisningen ska ha kommit in senast den 31 januari året efter att projektet har avslutats.",
])  # the page's stamp "Senast uppdaterad:2026-09-14" is not compared text
RESEARCH_TEXT = "\n".join([
    "Sök forskningsmedel",
    "Brottsofferfonden ger bidrag till forskning som kan förbättra situationen för brottsutsatta.",
    "Vem kan söka?",
    "Forskare som är verksamma vid ett svenskt universitet, en högskola eller en annan forskningsinstitution kan söka forskningsmedel.",
    "När kan jag söka?",
    "Det går att söka forskningsmedel en gång per år. Ansökan ska ha kommit in till oss senast den 1 oktober.",
    "Beslut om forskningsmedel fattas i december.",
    "Bedömning",
    "Ansökningarna bedöms av Brottsofferfondens råd, som får hjälp av externa sakkunniga. Forskningen ska vara till nytta för brottsutsatta.",
    "Till e-tjänsten för forskningsmedel",
])

# slug, title, published, deadline, deadline_text, text
NEWS_ITEMS = [
    ("sista-ansokningsdag-for-varens-projektmedel", "Sista ansökningsdag för vårens projektmedel", dt.date(2026, 11, 20),
     dt.date(2027, 4, 1),
     "Den 1 april 2027 är sista ansökningsdag för att söka projektmedel från Brottsofferfonden i vårens ansökningsomgång.",
     "Den 1 april 2027 är sista ansökningsdag för att söka projektmedel från Brottsofferfonden i vårens ansökningsomgång."),
    # "stängde den 1 oktober 2026" names a past round, not a sista ansökningsdag: no deadline
    ("rekordmanga-ansokningar-till-brottsofferfonden", "Rekordmånga ansökningar till Brottsofferfonden", dt.date(2026, 10, 5),
     None, None,
     "Brottsofferfonden fick in 412 ansökningar i höstens ansökningsomgång, som stängde den 1 oktober 2026. Besluten meddelas i december."),
    ("brottsofferfonden-delar-ut-23-miljoner-kronor", "Brottsofferfonden delar ut 23,3 miljoner kronor", dt.date(2026, 6, 18),
     None, None, "Brottsofferfondens råd har beslutat om bidrag till 41 projekt i vårens ansökningsomgång."),
    ("snart-sista-dag-att-soka-projektmedel", "Snart sista dag att söka projektmedel", dt.date(2026, 3, 10),
     dt.date(2026, 4, 1), "Sista dag att söka projektmedel i vårens omgång är den 1 april 2026.",
     "Sista dag att söka projektmedel i vårens omgång är den 1 april 2026. Ansökan görs i e-tjänsten."),
    ("ny-kunskapsoversikt-om-brottsutsatta-aldre", "Ny kunskapsöversikt om brottsutsatta äldre", dt.date(2026, 2, 4),
     None, None, "Brottsoffermyndigheten har sammanställt forskning om våld och brott mot äldre."),
]


def assert_grant(item, url, title, rule, rule_text, details, text):
    assert item.agency == "brottsoffermyndigheten"
    assert item.source == "brottsoffermyndigheten"
    assert item.kind == "funding_call"
    assert item.key == item.title == title
    assert item.url == item.origin == url
    assert item.deadline_rule == rule
    assert item.deadline_text == rule_text
    assert item.deadline is None  # computed from the rule when read
    assert (item.opens, item.published, item.amount_text, item.amount_sek) == (None, None, None, None)
    assert item.competitive is True
    assert item.status == "unknown"
    assert item.details == details
    assert item.text == text


def assert_news(item, slug, title, published, deadline, deadline_text, text):
    assert item.agency == "brottsoffermyndigheten"
    assert item.kind == "news"
    assert item.key == item.url == f"{NEWS}{slug}/"
    assert item.origin == NEWS
    assert item.title == title
    assert item.published == published
    assert item.deadline == deadline
    assert item.deadline_text == deadline_text
    assert item.text == text
    assert (item.opens, item.deadline_rule, item.amount_text, item.amount_sek, item.competitive) == (None,) * 5
    assert item.status == "unknown"
    assert item.details == {}


# -- grant pages, state1 --------------------------------------------------------------------------
def test_grant_counts():
    assert (len(project), len(research)) == (1, 1)


def test_project_grant():
    assert_grant(project[0], PROJECT, "Brottsofferinriktade projekt", "04-01,10-01", PROJECT_RULE_TEXT,
                 {"Vem kan söka": WHO_PROJECT, "Beslut": PROJECT_DECISION}, PROJECT_TEXT)


def test_research_grant():
    assert_grant(research[0], RESEARCH, "Sök forskningsmedel", "10-01",
                 "Ansökan ska ha kommit in till oss senast den 1 oktober.",
                 {"Vem kan söka": "Forskare som är verksamma vid ett svenskt universitet, en högskola eller en "
                                  "annan forskningsinstitution kan söka forskningsmedel.",
                  "Beslut": "Beslut om forskningsmedel fattas i december."},
                 RESEARCH_TEXT)


def test_who_may_apply_is_read_into_organisation_forms():
    assert project[0].eligibility == ["ideell förening", "myndighet", "företag"]
    assert research[0].eligibility == ["forskare"]


def test_reporting_deadline_is_not_part_of_the_rule():
    # "Slutredovisningen ska ha kommit in senast den 31 januari" is on the page, but is not about applying
    assert "senast den 31 januari" in project[0].text
    assert "01-31" not in project[0].deadline_rule


# -- news, state1 ---------------------------------------------------------------------------------
def test_news_count():
    assert len(news) == 5  # the year tabs (?y=2025) are not news items


@pytest.mark.parametrize("index", range(5))
def test_news_fields(index):
    assert_news(news[index], *NEWS_ITEMS[index])


def test_pages_healthy():
    assert all(page.layout is None for page in spider.health.pages.values())


# -- state2 ---------------------------------------------------------------------------------------
def test_state2_differences():
    _, items = parse_state("state2")
    # the rule changed on the project page: an update of the same call
    assert_grant(items[PROJECT][0], PROJECT, "Brottsofferinriktade projekt", "03-15,10-01",
                 "Det går att söka medel från Brottsofferfonden två gånger per år, senast den 15 mars eller senast den 1 oktober.",
                 {"Vem kan söka": WHO_PROJECT,
                  "Beslut": "Beslutet kommer i juni om du ansöker i mars och i december om du ansöker i oktober."},
                 PROJECT_TEXT.replace("den 1 april eller", "den 15 mars eller").replace("ansöker i april", "ansöker i mars"))
    # the research page is unchanged
    assert vars(items[RESEARCH][0]) == vars(research[0])
    # a news item added on top, the others as before
    assert len(items[NEWS]) == 6
    assert_news(items[NEWS][0], "andrad-sista-ansokningsdag-for-varens-projektmedel",
                "Ändrad sista ansökningsdag för vårens projektmedel", dt.date(2026, 12, 1), dt.date(2027, 3, 15),
                "Den 15 mars 2027 är sista ansökningsdag för att söka projektmedel från Brottsofferfonden i vårens ansökningsomgång.",
                "Den 15 mars 2027 är sista ansökningsdag för att söka projektmedel från Brottsofferfonden i vårens "
                "ansökningsomgång. Tidigare angavs den 1 april.")
    assert [vars(n) for n in items[NEWS][1:]] == [vars(n) for n in news]


# -- broken ---------------------------------------------------------------------------------------
def test_broken_project_page_layout_changed():
    spider_b, items = parse_state("broken", urls=(PROJECT, NEWS))
    assert items[PROJECT] == []
    assert spider_b.health.pages[PROJECT].layout == "a deadline rule ('senast den …')"
    assert items[NEWS] == []
    assert spider_b.health.pages[NEWS].carried and spider_b.health.pages[NEWS].layout is None


def test_page_without_heading_or_rule():
    s = make_spider(BrottsoffermyndighetenSpider)
    body = "<html><body><main><p>Sidan kunde inte hittas.</p></main></body></html>".encode()
    assert list(s.parse(HtmlResponse(RESEARCH, body=body, encoding="utf-8"))) == []
    assert s.health.pages[RESEARCH].layout == "a main heading (h1) and a deadline rule ('senast den …')"


def test_news_page_without_list_is_a_layout_change():
    s = make_spider(BrottsoffermyndighetenSpider)
    body = "<html><body><main><h1>Aktuellt</h1><p>Vi har flyttat våra nyheter.</p></main></body></html>".encode()
    assert list(s.parse(HtmlResponse(NEWS, body=body, encoding="utf-8"))) == []
    assert s.health.pages[NEWS].layout == "links to news items under /om-oss/aktuellt/nyheter/"


# -- real crawls through the mirror server --------------------------------------------------------
def crawl(server: MirrorServer, tmp_path: Path) -> dict:
    result = tmp_path / "r.json"
    cmd = [sys.executable, "-m", "scrapy", "crawl", "brottsoffermyndigheten", "-s", "DOWNLOAD_DELAY=0",
           "-s", "AUTOTHROTTLE_ENABLED=0", "-s", "FUNDWATCH_BACKOFF_BASE=0", "-s", "FUNDWATCH_RETRY_AFTER_MAX=1",
           "-s", f"FUNDWATCH_RESULT_FILE={result}"]
    env = dict(os.environ, FUNDWATCH_MIRROR=server.url, FUNDWATCH_DATABASE_URL=f"sqlite:///{tmp_path / 'fw.db'}",
               FUNDWATCH_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.run(cmd, env=env, cwd=Path(__file__).parent.parent, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(result.read_text("utf-8"))


def summary(result: dict) -> dict:
    return {k: result[k] for k in ("status", "pages", "items", "new", "updated", "removed", "reappeared")}


@pytest.mark.slow
def test_crawl_state1_then_state2(tmp_path):
    with MirrorServer(MIRROR / "state1") as server:
        first = crawl(server, tmp_path)
        assert summary(first) == {"status": "ok", "pages": 3, "items": 7, "new": 7, "updated": 0, "removed": 0,
                                  "reappeared": 0}
        assert first["reason"] == ""
        server.set_root(MIRROR / "state2")
        second = crawl(server, tmp_path)
        # the project grant's rule changed (an update), one news item is new
        assert summary(second) == {"status": "ok", "pages": 3, "items": 8, "new": 1, "updated": 1, "removed": 0,
                                   "reappeared": 0}


@pytest.mark.slow
def test_crawl_broken(tmp_path):
    with MirrorServer(MIRROR / "broken") as server:
        result = crawl(server, tmp_path)
        research_answers = [e.status for e in server.log if e.path == "/www.brottsoffermyndigheten.se/sok-projektmedel/forskningsprojekt/sok-forskningsmedel/"]
    assert research_answers == [503, 503, 503]  # retried after Retry-After, then given up
    assert (result["status"], result["items"], result["removed"]) == ("failed", 0, 0)
    # a start page that errors fails the run first; the project page's layout change is logged too
    assert result["reason"] == ("https://www.brottsoffermyndigheten.se/sok-projektmedel/forskningsprojekt/"
                                "sok-forskningsmedel/ answered HTTP 503")


# -- the rule and the eligibility heading as other pages write them ---------------------------------
RULE_FORMS = {
    "eller": "<p>Det går att söka medel två gånger per år, senast den 1 april eller senast den 1 oktober.</p>",
    "respektive": ("<p>Ansökan ska ha kommit in senast den 1 april för projekt som startar under hösten "
                   "respektive den 1 oktober för projekt som startar under våren.</p>"),
    "respektive_no_den": ("<p>Du kan söka senast 1 april för höstens projekt, respektive 1 oktober för vårens "
                          "projekt.</p>"),
    "list_after_senast": "<p>Du kan ansöka två gånger per år, senast:</p><ul><li>1 april</li><li>1 oktober</li></ul>",
    "list_after_senast_den": "<p>Ansök senast den:</p><ul><li>1 april,</li><li>1 oktober.</li></ul>",
}


@pytest.mark.parametrize("form", sorted(RULE_FORMS))
@pytest.mark.parametrize("who", ["Vem kan söka?", "Vilka kan söka bidrag?"])
def test_rule_and_eligibility_in_every_form(form, who):
    html = (f"<html><body><main><h1>Brottsofferinriktade projekt</h1><h2>{who}</h2><p>Ideella föreningar.</p>"
            f"<h2>När kan jag söka?</h2>{RULE_FORMS[form]}<p>Senast uppdaterad:2018-12-19</p></main></body></html>")
    s = make_spider(BrottsoffermyndighetenSpider)
    response = HtmlResponse(PROJECT, body=html.encode(), encoding="utf-8")
    with time_machine.travel(NOW, tick=False):
        (item,) = list(s.parse(response))
    assert item.deadline_rule == "04-01,10-01"
    assert item.details["Vem kan söka"] == "Ideella föreningar."
    assert "2018-12-19" not in item.text
