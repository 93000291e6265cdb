"""The generic `listing` spider and its configuration: a funder added by configuration alone. The
same facts in every markup editors use, noise lines, years, yearly rules, which links are calls, and
the one-line errors of a wrong configuration."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from scrapy.http import HtmlResponse

from fundwatch.sources import SourcesError, load_sources
from fundwatch.spiders.listing import ListingSpider
from helpers import make_spider, mirror_response

NOW = "2026-12-02 10:00 +01:00"
LISTING = "https://www.example.se/bidrag/"
CALL = "https://www.example.se/bidrag/stod-till-foreningar"


def write(tmp_path, extra: str = "", calls: str = "calls = '^https://www\\.example\\.se/bidrag/[a-z-]+$'") -> str:
    path = tmp_path / "sources.toml"
    path.write_text(f"""[[source]]
id = "example"
agency = "example"
spider = "listing"
urls = ["{LISTING}"]
{calls}
{extra}
""", "utf-8")
    return str(path)


def spider_for(tmp_path, extra: str = "", **kw):
    return make_spider(ListingSpider, source="example", sources_file=write(tmp_path, extra, **kw))


def page(body: str, url: str = CALL) -> HtmlResponse:
    html = f"<html><body><header><nav><a href='/'>Start</a></nav></header><main>{body}</main></body></html>"
    return HtmlResponse(url, body=html.encode(), encoding="utf-8")


def call(spider, body: str, url: str = CALL):
    with time_machine.travel(NOW, tick=False):
        items = list(spider.parse(page(body, url)))
    return items[0] if items else None


# -- a funder by configuration: the README's test template, on a shipped source --------------------
def test_readme_template_on_a_shipped_source():
    spider = make_spider(ListingSpider, source="socialstyrelsen-statsbidrag")
    listing = mirror_response("state1", "https://statsbidrag.socialstyrelsen.se/organisationer/")
    calls = [request.url for request in spider.parse(listing)]
    item, = spider.parse_call(mirror_response("state1", calls[0]))
    assert (item.title, item.deadline, item.details["Vem kan söka"]) == (
        "Statsbidrag för att motverka ofrivillig ensamhet", dt.date(2027, 1, 15),
        "Ideella föreningar; Stiftelser utan vinstsyfte; Trossamfund och församlingar")


# -- the same facts whatever the markup ------------------------------------------------------------
FORMS = {
    "colon lines": "<p>Ansökan öppnar: 1 februari 2027</p><p>Sista ansökningsdag: 15 mars 2027</p><p>Belopp: 2 miljoner kronor</p>",
    "table": "<table><tr><th>Ansökan öppnar</th><td>1 februari 2027</td></tr><tr><th>Sista ansökningsdag</th>"
             "<td>15 mars 2027</td></tr><tr><td>Belopp</td><td>2 miljoner kronor</td></tr></table>",
    "definition list": "<dl><dt>Ansökan öppnar</dt><dd>1 februari 2027</dd><dt>Sista ansökningsdag</dt><dd>15 mars 2027</dd>"
                       "<dt>Belopp</dt><dd>2 miljoner kronor</dd></dl>",
    "bold with colon": "<p><strong>Ansökan öppnar:</strong> 1 februari 2027</p><p><strong>Sista ansökningsdag:</strong> "
                       "15 mars 2027</p><p><b>Belopp:</b> 2 miljoner kronor</p>",
    "bold without colon": "<p><strong>Ansökan öppnar</strong> 1 februari 2027</p><p><b>Sista ansökningsdag</b> 15 mars 2027</p>"
                          "<p><strong>Belopp</strong> 2 miljoner kronor</p>",
    "headings": "<h2>Ansökan öppnar</h2><p>1 februari 2027</p><h2>Sista ansökningsdag</h2><p>15 mars 2027</p>"
                "<h3>Belopp</h3><p>2 miljoner kronor</p>",
    "list items": "<ul><li>Ansökan öppnar: 1 februari 2027</li><li>Sista ansökningsdag: 15 mars 2027</li>"
                  "<li>Belopp: 2 miljoner kronor</li></ul>",
}


@pytest.mark.parametrize("form", FORMS)
def test_facts_whatever_the_markup(tmp_path, form):
    item = call(spider_for(tmp_path), f"<h1>Stöd till föreningar</h1>{FORMS[form]}")
    assert (item.title, item.opens, item.deadline, item.deadline_text) == (
        "Stöd till föreningar", dt.date(2027, 2, 1), dt.date(2027, 3, 15), "15 mars 2027")
    assert (item.amount_text, item.amount_sek, item.kind, item.key, item.url) == (
        "2 miljoner kronor", 2_000_000, "funding_call", CALL, CALL)


def test_who_may_apply_and_other_facts_go_to_details(tmp_path):
    item = call(spider_for(tmp_path), """<h1>Stöd</h1><p>Sista ansökningsdag: 1 mars 2027</p>
        <p>Krav på medfinansiering: 46 %</p><h2>Vilka kan ansöka?</h2><ul><li>Ideella föreningar</li><li>Stiftelser</li></ul>
        <h2>Beslut</h2><p>i juni 2027</p>""")
    assert item.details == {"Medfinansiering": "46 %", "Vem kan söka": "Ideella föreningar; Stiftelser", "Beslut": "i juni 2027"}


def test_a_source_adds_its_own_labels(tmp_path):
    body = "<h1>Stöd</h1><p>Sista dag för skiss: 1 mars 2027</p><p>Målgrupp: unga vuxna</p><h2>Vem kan söka?</h2><p>Föreningar</p>"
    plain = call(spider_for(tmp_path), body)
    assert (plain.deadline, plain.details) == (None, {"Vem kan söka": "Föreningar"})
    spider = spider_for(tmp_path, 'labels = { deadline = ["Sista dag för skiss"], "Målgrupp" = ["Målgrupp"] }')
    item = call(spider, body)
    assert (item.deadline, item.details) == (dt.date(2027, 3, 1), {"Målgrupp": "unga vuxna", "Vem kan söka": "Föreningar"})


# -- noise, years, rules, status words ------------------------------------------------------------
@pytest.mark.parametrize("first, second", [
    ("Tid kvar att ansöka: 12 dagar", "Tid kvar att ansöka: 11 dagar"),
    ("54 dagar kvar", "53 dagar kvar"),
    ("Granskad: 15 augusti 2026", "Granskad: 2 december 2026"),
    ("Senast uppdaterad: 2026-11-01", "Senast uppdaterad: 2026-12-01"),
])
def test_countdowns_and_stamps_are_no_change(tmp_path, first, second):
    spider = spider_for(tmp_path)
    body = "<h1>Stöd</h1><p>Sista ansökningsdag: 2027-03-01</p><p>{}</p><p>Lyssna</p>"
    one, two = call(spider, body.format(first)), call(spider, body.format(second))
    assert vars(one) == vars(two)
    assert one.text == "Stöd\nSista ansökningsdag: 2027-03-01"


def test_a_source_adds_its_own_noise(tmp_path):
    spider = spider_for(tmp_path, "noise = ['^Visningar: [0-9]+$']")
    body = "<h1>Stöd</h1><p>Sista ansökningsdag: 2027-03-01</p><p>Visningar: {}</p>"
    assert vars(call(spider, body.format(10))) == vars(call(spider, body.format(11)))


def test_a_date_without_a_year(tmp_path):
    spider = spider_for(tmp_path)
    dates = "<ul><li>Ansökan öppnar: 1 februari</li><li>Ansökan stänger: 29 februari</li></ul>"
    stated = call(spider, f"<h1>Projektbidrag 2028</h1><h2>Viktiga datum</h2>{dates}")
    assert (stated.opens, stated.deadline) == (dt.date(2028, 2, 1), dt.date(2028, 2, 29))
    in_heading = call(spider, f"<h1>Projektbidrag</h1><h2>Viktiga datum 2028</h2>{dates}")
    assert (in_heading.opens, in_heading.deadline) == (dt.date(2028, 2, 1), dt.date(2028, 2, 29))
    unstated = call(spider, f"<h1>Projektbidrag</h1><h2>Viktiga datum</h2>{dates}")
    assert (unstated.opens, unstated.deadline, unstated.deadline_text) == (None, None, "29 februari")


def test_a_yearly_rule_the_page_states(tmp_path):
    item = call(spider_for(tmp_path), "<h1>Investeringsbidrag</h1><p>Investeringsbidraget kan sökas under hösten. "
                                      "Ansökan ska vara inne senast den 1 december varje år.</p>")
    assert (item.deadline, item.deadline_rule, item.deadline_text) == (
        None, "12-01", "Ansökan ska vara inne senast den 1 december varje år.")


def test_a_dated_sentence_about_applying(tmp_path):
    spider = spider_for(tmp_path)
    item = call(spider, "<h1>Etableringsbidrag</h1><p>Ansökan ska vara SST tillhanda senast 30 september 2027.</p>"
                        "<h2>Vem kan söka?</h2><p>Församlingar</p>")
    assert (item.deadline, item.deadline_text) == (dt.date(2027, 9, 30), "Ansökan ska vara SST tillhanda senast 30 september 2027.")
    item = call(spider, "<h1>Säkerhetsbidrag</h1><p>Nästa ansökningsomgång är mellan den 20 augusti - 10 september 2027.</p>"
                        "<h2>Vem kan söka?</h2><p>Församlingar</p>")
    assert (item.opens, item.deadline) == (dt.date(2027, 8, 20), dt.date(2027, 9, 10))
    # a date in a sentence not about applying is not a deadline
    item = call(spider, "<h1>Bidrag</h1><p>Slutredovisningen ska ha kommit in senast den 31 januari 2028.</p>"
                        "<h2>Vem kan söka?</h2><p>Församlingar</p>")
    assert (item.opens, item.deadline) == (None, None)


@pytest.mark.parametrize("line", ["14 september: Sista dag för ansökan.", "14 september - sista ansökningsdag."])
def test_a_date_written_before_its_label(tmp_path, line):
    item = call(spider_for(tmp_path), f"<h1>Demokratisatsning</h1><h2>Viktiga datum</h2><h3>2027</h3><ul><li>{line}</li>"
                                      "<li>10 oktober: Beslut om bidragsfördelning fattas.</li></ul>")
    assert (item.deadline, item.deadline_text) == (dt.date(2027, 9, 14), "14 september")


TABLE = """<h1>Utlysningsplan</h1><table class="plan"><thead><tr><th>Region</th><th>Programområde</th><th>Öppnar</th>
<th>Stänger</th><th>Tid kvar</th></tr></thead><tbody>
<tr><td>Sydsverige</td><td>A</td><td>1 februari 2027</td><td>15 april 2027</td><td>{}</td></tr>
<tr><td>Norra Mellansverige</td><td><a href="/utlysningar/nm-b/">B</a></td><td>Maj 2027</td><td>Ej bestämt</td><td></td></tr>
</tbody></table>"""


def test_calls_as_table_rows(tmp_path):
    spider = spider_for(tmp_path, 'call_rows = "table.plan tbody tr"\ntitle_columns = [0, 1]', calls="")
    with time_machine.travel(NOW, tick=False):
        items = list(spider.parse(page(TABLE.format("54 dagar kvar"), LISTING)))
        again = list(spider.parse(page(TABLE.format("53 dagar kvar"), LISTING)))
    assert [(i.key, i.title, i.url, i.opens, i.deadline, i.deadline_text) for i in items] == [
        ("Sydsverige – A", "Sydsverige – A", LISTING, dt.date(2027, 2, 1), dt.date(2027, 4, 15), "15 april 2027"),
        ("Norra Mellansverige – B", "Norra Mellansverige – B", "https://www.example.se/utlysningar/nm-b/", None, None,
         "Ej bestämt"),
    ]
    assert items[0].text == "Region: Sydsverige\nProgramområde: A\nÖppnar: 1 februari 2027\nStänger: 15 april 2027"
    assert [vars(i) for i in items] == [vars(i) for i in again]  # the countdown cell is noise


def test_a_dated_deadline_wins_over_a_rule(tmp_path):
    item = call(spider_for(tmp_path), "<h1>Bidrag</h1><p>Sista ansökningsdag: 2026-12-01</p>"
                                      "<p>Ansökan ska vara inne senast den 1 december varje år.</p>")
    assert (item.deadline, item.deadline_rule) == (dt.date(2026, 12, 1), None)


@pytest.mark.parametrize("line, status", [("Stängt för ansökan", "closed"), ("Stängd för ansökan", "closed"),
                                          ("Kommande", "upcoming"), ("Öppen för ansökan", "open")])
def test_status_words(tmp_path, line, status):
    assert call(spider_for(tmp_path), f"<h1>Bidrag</h1><p class='status'>{line}</p>").status == status


def test_region_from_the_url(tmp_path):
    spider = spider_for(tmp_path, "region_from_url = '^https://www\\.example\\.se/(?P<region>[a-z-]+)/'\n"
                                  "[source.regions]\nbidrag = \"Exempellän\"")
    assert call(spider, "<h1>Bidrag</h1><p>Sista ansökningsdag: 2027-01-01</p>").details == {"Region": "Exempellän"}


# -- which links are calls --------------------------------------------------------------------------
LISTING_BODY = """<h1>Bidrag</h1><ul class="calls"><li><a href="/bidrag/stod-till-foreningar">Stöd</a></li>
<li><a href="/bidrag/lokalstod#mer">Lokalstöd</a></li><li><a href="/bidrag/stod-till-foreningar">Stöd igen</a></li></ul>
<p><a href="/om-oss">Om oss</a> <a href="/bidrag/arkiv">Arkiv</a></p>"""


def test_listing_follows_the_links_that_match_calls(tmp_path):
    spider = spider_for(tmp_path)
    requests = list(spider.parse(page(LISTING_BODY, LISTING)))
    assert [r.url for r in requests] == [CALL, "https://www.example.se/bidrag/lokalstod", "https://www.example.se/bidrag/arkiv"]
    assert spider.health.pages[LISTING].carried


def test_call_selector_narrows_the_links(tmp_path):
    spider = spider_for(tmp_path, 'call_selector = "ul.calls a"')
    assert [r.url for r in spider.parse(page(LISTING_BODY, LISTING))] == [CALL, "https://www.example.se/bidrag/lokalstod"]


def test_listing_without_call_links_is_a_layout_change(tmp_path):
    spider = spider_for(tmp_path)
    assert list(spider.parse(page("<h1>Bidrag</h1><p>Sidan är flyttad.</p>", LISTING))) == []
    assert spider.health.pages[LISTING].layout == "links to call pages"


def test_call_page_without_heading_or_facts_is_a_layout_change(tmp_path):
    spider = spider_for(tmp_path)
    assert call(spider, "<p>Sista ansökningsdag: 2027-01-01</p>") is None
    assert spider.health.pages[CALL].layout == "a main heading (h1)"
    assert call(spider, "<h1>Stöd</h1><p>Välkommen!</p>", url=CALL + "-igen") is None
    assert spider.health.pages[CALL + "-igen"].layout == "any dated fact, status or 'Vem kan söka' section"


def test_decision_kind(tmp_path):
    spider = spider_for(tmp_path, 'kind = "decision"')
    item = call(spider, "<h1>Beviljade projekt</h1><table><tr><td>Förening A</td><td>100 000 kr</td></tr></table>")
    assert (item.kind, item.title, item.text) == ("decision", "Beviljade projekt", "Beviljade projekt\nFörening A 100 000 kr")


# -- a wrong configuration: one line, found when the sources file is read --------------------------
@pytest.mark.parametrize("calls, extra, message", [
    ("", "", "a listing source needs calls (a URL pattern), call_selector or call_rows (CSS)"),
    ("calls = 'x'", "title_columns = [-1]", "title_columns must be a list of column numbers (0 is the first)"),
    ("calls = '(unclosed'", "", "calls is not a valid regular expression: missing ), unterminated subpattern"),
    ("calls = 'x'", 'kind = "page"', "kind 'page' is not one of funding_call, collaboration, news, decision"),
    ("calls = 'x'", 'labels = { deadline = "Sista dag" }', "labels must map a field to a list of label spellings"),
    ("calls = 'x'", "region_from_url = '/([a-z]+)/'", "region_from_url needs a group named region: (?P<region>...)"),
])
def test_configuration_errors(tmp_path, calls, extra, message):
    path = write(tmp_path, extra, calls=calls)
    with pytest.raises(SourcesError) as raised:
        load_sources(path)
    assert str(raised.value).startswith(f"{path}: source 'example': {message}")
    assert "\n" not in str(raised.value)


def test_shipped_listing_sources_load():
    listing = [s for s in load_sources() if s.spider == "listing"]
    assert len(listing) >= 3 and all(s.listing is not None for s in listing)
