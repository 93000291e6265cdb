"""Re-crawls where only volatile text changes — stamps, countdowns, helper text, toolbars, page
footers, PDF page furniture, the URL the page was reached by — give zero change events, for the
agency spiders and the page watch; a real edit still gives exactly one."""

from __future__ import annotations

import inspect

import pytest
import time_machine
from scrapy.http import HtmlResponse, Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from variants.forms import TRAILING, VOLATILE_A, VOLATILE_B, variants, volatile_page

from fundwatch.items import item_id
from fundwatch.spiders.arbetsformedlingen import _pdf_lines, _planned_entries
from fundwatch.spiders.brottsoffermyndigheten import BrottsoffermyndighetenSpider
from fundwatch.spiders.migrationsverket import MigrationsverketSpider
from fundwatch.spiders.page import PageSpider
from fundwatch.storage.models import Change
from fundwatch.storage.outcome import RunOutcome
from fundwatch.storage.runlife import finish_run, start_run
from helpers import make_spider, write_page_sources

PLANNED = "https://www.migrationsverket.se/andra-aktorer/eu-fonder/utlysningar/planerade-utlysningar"
OLD = ("https://www.migrationsverket.se/Andra-aktorer/EU-fonder/Programperiod-2021-2027/Utlysningar/"
       "Planerade-utlysningar.html")
GRANT = "https://www.brottsoffermyndigheten.se/sok-projektmedel/brottsofferinriktade-projekt/"
MUCF = "https://www.mucf.se/bidrag/statsbidrag"


def collect(output) -> list:
    """The items of an async callback that reads its pages in this process (it never waits)."""
    items = []
    while True:
        try:
            output.__anext__().send(None)
        except StopIteration as step:
            items.append(step.value)
        except StopAsyncIteration:
            return items
        else:
            raise AssertionError("the callback waited for something")


def parse(spider_cls, html: str, url: str, callback: str = "parse", source: str | None = None,
          sources_file: str | None = None):
    spider = make_spider(spider_cls, source=source, sources_file=sources_file)
    response = HtmlResponse(url, body=html.encode("utf-8"), encoding="utf-8", request=Request(url))
    with time_machine.travel("2030-11-26 10:00 +01:00", tick=False):
        output = getattr(spider, callback)(response)
        items = collect(output) if inspect.isasyncgen(output) else list(output)
    for item in items:
        item.id = item_id(item.agency, item.kind, item.key)
    assert items
    return items


def store(engine, source: str, items) -> dict[str, int]:
    """Apply ITEMS as a healthy run; the change events it made, by kind."""
    with Session(engine, expire_on_commit=False) as s:
        with s.begin():
            run_id = start_run(s, source, items[0].agency, source).id
        with s.begin():
            pages = {i.origin for i in items}
            finish_run(s, run_id, RunOutcome(status="ok", fetched_pages=pages), items)
        rows = s.execute(select(Change.change, func.count()).where(Change.run_id == run_id).group_by(Change.change))
        return dict(rows.all())


# -- agency spiders ---------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", ["plain_h3_table", "accordion_each_bold_colon", "old_sitevision_accordion"])
def test_migrationsverket_volatile_text_is_no_change(engine, layout):
    page_a = volatile_page(variants()[layout], VOLATILE_A)
    assert page_a.count(VOLATILE_A["countdown"]) == 3 and page_a != volatile_page(variants()[layout], VOLATILE_B)
    first = parse(MigrationsverketSpider, volatile_page(variants()[layout], VOLATILE_A), PLANNED, "parse_calls")
    assert store(engine, "migrationsverket", first) == {"new": 3}
    again = parse(MigrationsverketSpider, volatile_page(variants()[layout], VOLATILE_B), PLANNED, "parse_calls")
    assert store(engine, "migrationsverket", again) == {}
    # the same calls read from the fallback URL after the sitemap failed: no change either
    fallback = parse(MigrationsverketSpider, volatile_page(variants()[layout], VOLATILE_A), OLD, "parse_calls")
    assert store(engine, "migrationsverket", fallback) == {}
    # a real edit is one update
    edited = volatile_page(variants()[layout], VOLATILE_B).replace("14 april 2031", "21 april 2031")
    assert store(engine, "migrationsverket", parse(MigrationsverketSpider, edited, PLANNED, "parse_calls")) == {"updated": 1}


@pytest.mark.parametrize("layout", ["trailing_faq_and_contact", "accordion_each_trailing_faq"])
def test_a_call_added_after_the_last_one_leaves_it_unchanged(engine, layout):
    """Text after the last call (FAQ, "Kontakta oss", "Relaterade sidor") is none of its text, so a
    new call between them is one new item and no update of the call above it."""
    html = variants()[layout]
    first = parse(MigrationsverketSpider, html, PLANNED, "parse_calls")
    assert not any(word in first[-1].text for word in ("Hur söker jag", "010-485", "Relaterade", "AMIF"))
    assert store(engine, "migrationsverket", first) == {"new": 3}
    added = ('<h2 id="ny">Specifikt mål 4: Vidarebosättning</h2><p><strong>Öppnar:</strong> 2 februari 2032</p>'
             '<p><strong>Stänger:</strong> 2 mars 2032</p>')
    again = parse(MigrationsverketSpider, html.replace(TRAILING, added + TRAILING), PLANNED, "parse_calls")
    assert [i.title for i in again][-1] == "Specifikt mål 4: Vidarebosättning"
    assert store(engine, "migrationsverket", again) == {"new": 1}


GRANT_PAGE = """<html><body><header><nav><a href="/">Start</a></nav></header><main>
<div class="toolbar"><a href="#">{toolbar}</a></div>
<h1>Brottsofferinriktade projekt</h1><h2>Vem kan söka?</h2><p>Ideella föreningar.</p>
<h2>När kan jag söka?</h2><p>Det går att söka medel två gånger per år, senast den 1 april eller senast den 1 oktober.</p>
<p>Läs mer hos Kammarkollegiet {helper}</p><p>{countdown}</p><p>Senast uppdaterad:{stamp}</p></main>
<footer><p>Sidan granskades {stamp}</p></footer></body></html>"""


def test_brottsoffermyndigheten_volatile_text_is_no_change(engine):
    a = GRANT_PAGE.format(toolbar="Skriv ut", helper="(Extern länk.)", countdown="Tid kvar att ansöka: 7 dagar",
                          stamp="2018-12-19")
    b = GRANT_PAGE.format(toolbar="Lyssna", helper="(External link.)", countdown="Tid kvar att ansöka: 6 dagar",
                          stamp="2019-01-05")
    assert store(engine, "brottsoffermyndigheten", parse(BrottsoffermyndighetenSpider, a, GRANT)) == {"new": 1}
    assert store(engine, "brottsoffermyndigheten", parse(BrottsoffermyndighetenSpider, b, GRANT)) == {}
    edited = b.replace("1 oktober", "15 oktober")
    assert store(engine, "brottsoffermyndigheten", parse(BrottsoffermyndighetenSpider, edited, GRANT)) == {"updated": 1}


def test_arbetsformedlingen_pdf_page_furniture_is_no_change():
    one = ["Arbetsförmedlingen Sida 1 av 2\nPlanerade upphandlingar 2027\nUppdaterad: 2026-10-27\n"
           "Rusta och matcha 3\nUpphandlingsform: LOV\nPlanerad annonsering: kvartal 1 2027\nSida 1 av 2",
           "Arbetsförmedlingen\nPlanerade upphandlingar 2027\nTolktjänster\nUpphandlingsform: LOU\n"
           "Beräknad avtalsstart: hösten 2027\nSida 2 av 2"]
    two = ["Arbetsförmedlingen\nPlanerade upphandlingar 2027\nUppdaterad: 2026-11-30\nRusta och matcha 3\n"
           "Upphandlingsform: LOV\n1 (3)",
           "Arbetsförmedlingen\nPlanerade upphandlingar 2027\nPlanerad annonsering: kvartal 1 2027\n2 (3)",
           "Arbetsförmedlingen\nPlanerade upphandlingar 2027\nTolktjänster\nUpphandlingsform: LOU\n"
           "Beräknad avtalsstart: hösten 2027\nSida 3"]
    assert _planned_entries(_pdf_lines(one)) == _planned_entries(_pdf_lines(two))
    assert [title for title, _, _ in _planned_entries(_pdf_lines(two))] == ["Rusta och matcha 3", "Tolktjänster"]


# -- the page watch ---------------------------------------------------------------------------------
OLD_SITEVISION = """<!DOCTYPE html><html lang="sv"><head><title>Statsbidrag - MUCF</title>
<style>body{{font-family:Arial}}</style><script>var s = "{stamp}";</script></head><body>
<div class="sv-layout" id="svid10_1"><div class="sv-layout header-area"><a href="/">MUCF</a>
<ul class="sv-menu"><li><a href="/a">Bidrag</a></li><li><a href="/b">Kunskap</a></li></ul></div>
<div class="sv-layout" id="svid12_2"><div class="sv-layout sv-column-3"><ul class="left-nav"><li><a href="/x">Statsbidrag</a></li></ul></div>
<div class="sv-layout sv-column-9" id="svid94_content">
<div class="sv-toolbar"><a href="#">{toolbar}</a></div>
<ol class="breadcrumbs"><li><a href="/">Start</a></li><li>{crumb}</li></ol>
<h1>Statsbidrag till organisationer</h1>
<p>Ansökan öppnar: 17 maj 2031</p><p>Ansökan stänger: 17 juni 2031 kl. 23.59</p><p>{countdown}</p>
<p>Beslut meddelas i slutet av september 2031. <a href="https://x.se">Läs mer {helper}</a></p>
<ul class="share-list"><li><a href="#">{share}</a></li></ul>
<p class="lastmodified">Sidan uppdaterades: {stamp}</p></div></div>
<div class="sv-layout sv-footer-area"><p>Myndigheten för ungdoms- och civilsamhällesfrågor</p><p>Uppdaterad {stamp}</p>
<p>Telefon 08-566 219 00 · {footer}</p></div></div></body></html>"""
PAGE_A = dict(toolbar="Skriv ut", crumb="Statsbidrag", countdown="Tid kvar att ansöka: 59 dagar", helper="Extern länk.",
              share="Dela på Facebook", stamp="2031-01-15", footer="Öppet 9-16")
PAGE_B = dict(toolbar="Lyssna", crumb="Statsbidrag till organisationer", countdown="3 dagar kvar",
              helper="External link.", share="Dela på LinkedIn", stamp="2031-02-01", footer="Öppet 10-15")


def test_page_watch_without_main_finds_the_content_block_and_ignores_chrome(engine, tmp_path):
    watch = write_page_sources(tmp_path, [{"id": "mucf-statsbidrag"}])
    a = parse(PageSpider, OLD_SITEVISION.format(**PAGE_A), MUCF, source="mucf-statsbidrag", sources_file=watch)
    assert a[0].text == ("Statsbidrag till organisationer\nAnsökan öppnar: 17 maj 2031\n"
                         "Ansökan stänger: 17 juni 2031 kl. 23.59\nBeslut meddelas i slutet av september 2031. Läs mer")
    assert store(engine, "mucf-statsbidrag", a) == {"new": 1}
    b = parse(PageSpider, OLD_SITEVISION.format(**PAGE_B), MUCF, source="mucf-statsbidrag", sources_file=watch)
    assert store(engine, "mucf-statsbidrag", b) == {}
    edited = OLD_SITEVISION.format(**PAGE_B).replace("17 juni 2031", "24 juni 2031")
    assert store(engine, "mucf-statsbidrag", parse(PageSpider, edited, MUCF, source="mucf-statsbidrag",
                                                   sources_file=watch)) == {"updated": 1}
