"""The reader (spiders/reader.py) on the variant corpus (tests/variants/): the same three calls in
every form give the same items; which heading owns a call; ids that stay put; the competitive
flag from the call's own words. The normaliser of compared text (spiders/normalise.py)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from scrapy.http import HtmlResponse, Request
from variants.forms import EXPECTED, page, sv_accordion, variants

from fundwatch.items import item_id
from fundwatch.spiders.migrationsverket import MigrationsverketSpider
from fundwatch.spiders.normalise import normalise_text, page_stamp, pdf_lines
from fundwatch.spiders.reader import read_calls, read_sections
from fundwatch.swedish import parse_date
from helpers import TESTS, make_spider

PLANNED = "https://www.migrationsverket.se/andra-aktorer/eu-fonder/utlysningar/planerade-utlysningar"
VARIANTS = variants()
NOW = "2030-11-26 10:00 +01:00"


def items_of(html: str, url: str = PLANNED):
    spider = make_spider(MigrationsverketSpider)
    response = HtmlResponse(url, body=html.encode("utf-8"), encoding="utf-8", request=Request(url))
    with time_machine.travel(NOW, tick=False):
        return list(spider.parse_calls(response)), spider


def summary(item) -> dict:
    return {"id": item_id(item.agency, item.kind, item.key), "title": item.title,
            "opens": item.opens and item.opens.isoformat(), "deadline": item.deadline and item.deadline.isoformat(),
            "deadline_text": item.deadline_text, "amount_text": item.amount_text, "amount_sek": item.amount_sek,
            "competitive": item.competitive}


EXPECTED_ITEMS = [{"id": item_id("migrationsverket", "funding_call", e["title"]), **e} for e in EXPECTED]


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_form_gives_the_same_three_calls(name):
    items, spider = items_of(VARIANTS[name])
    assert [summary(i) for i in items] == EXPECTED_ITEMS
    assert all(i.status == "unknown" for i in items)
    assert not any(p.layout for p in spider.health.pages.values())


def test_the_forms_cover_the_site_model():
    names = " ".join(VARIANTS)
    for form in ("table", "dl", "bold_colon", "bold_no_colon", "one_paragraph", "separate_paragraphs", "plain_lines",
                 "value_as_list", "accordion_each", "one_accordion", "plain_h", "mixed", "under_section",
                 "no_heading", "old_sitevision", "bootstrap", "details"):
        assert form in names


def test_details_and_text_are_the_calls_own():
    items, _ = items_of(VARIANTS["accordion_each_value_as_list"])
    assert items[0].details == {"Finansieringsalternativ": "Förenklade kostnader", "Stöd från AMIF": "75-90 %"}
    assert items[1].details == {"Finansieringsalternativ": "För förstudier; Klumpsumma"}
    assert items[2].details == {"Tidigast projektstart": "1 mars 2032"}
    assert "Ca 45 MSEK" not in items[0].text and "Ca 500 MSEK" in items[0].text
    for name in ("plain_h3_table", "old_sitevision_accordion"):
        items, _ = items_of(VARIANTS[name])
        for item in items:  # page chrome is nobody's text
            assert "Skriv ut" not in item.text and "Kontakt" not in item.text and "2031-01-15" not in item.text


def test_a_call_alone_in_its_accordion_is_owned_by_its_own_heading():
    html = (TESTS / "variants" / "closed_alone_in_accordion.html").read_text()
    items, _ = items_of(html)
    assert [(i.title, i.status, i.competitive) for i in items] == [
        ("Specifikt mål 1: Asylsystem", "unknown", True),
        ("Specifikt mål 2: Integration 2030", "closed", None),  # under "Avslutade utlysningar"
        ("Förstudier 2029", "unknown", None),  # under a year
    ]
    assert items[1].deadline == dt.date(2030, 3, 15)
    assert items[2].deadline_text == "Ej bestämt"
    sections = read_sections(html)
    assert {s.title for s in sections if not s.is_call} >= {"Om utlysningarna", "Avslutade utlysningar", "2029"}
    assert [s.context for s in sections if s.is_call][1] == ("Utlysningar", "Avslutade utlysningar")


def test_a_call_with_no_heading_before_it_is_found():
    items, spider = items_of((TESTS / "variants" / "no_heading_before.html").read_text())
    assert [(i.title, i.opens, i.deadline) for i in items] == [
        ("Specifikt mål 4: Vidarebosättning", dt.date(2031, 3, 9), dt.date(2031, 4, 20))]
    assert items[0].text == "Öppnar\n9 mars 2031\nStänger\n20 april 2031 kl. 12.00"


def test_the_flag_comes_from_the_calls_own_text_and_generic_subheadings_belong_to_the_call():
    items, _ = items_of((TESTS / "variants" / "neighbour_flag.html").read_text())
    assert [(i.title, i.competitive) for i in items] == [
        ("Specifikt mål 1: Mottagande", True), ("Specifikt mål 3: Återvändande", None),
        ("Specifikt mål 4: Vidarebosättning", False)]
    assert items[2].opens is None and items[2].deadline_text == "Ej bestämt"
    assert "Viktiga datum" in items[2].text
    assert "Frågor" not in items[2].text  # a heading at the call's level ends the call


@pytest.mark.parametrize("layout", ["plain_h3_bold_colon", "accordion_each_table", "one_accordion", "mixed"])
@pytest.mark.parametrize("where", ["above", "below"])
def test_a_second_call_added_keeps_the_first_calls_id(layout, where):
    before, _ = items_of(VARIANTS[layout])
    extra = {"title": "Ny utlysning: Tidiga insatser", "intro": "Ny.", "facts": [("Öppnar", "1 maj 2031"),
                                                                                  ("Stänger", "1 juni 2031")]}
    added = sv_accordion(extra["title"], "<p><strong>Öppnar:</strong> 1 maj 2031</p><p><strong>Stänger:</strong> 1 juni 2031</p>", 50)
    html = VARIANTS[layout]
    html = html.replace("</main>", added + "</main>") if where == "below" else html.replace(
        "<p>Här ser du vilka utlysningar vi planerar.</p>", "<p>Här ser du vilka utlysningar vi planerar.</p>" + added)
    after, _ = items_of(html)
    assert len(after) == 4
    by_id = {summary(i)["id"]: summary(i) for i in after}
    for item in before:
        assert by_id[summary(item)["id"]] == summary(item)


@pytest.mark.parametrize("title_html", ["<h3>{}</h3>", "<p><strong>{}</strong></p>", '<p class="mv-h3">{}</p>'])
def test_a_status_heading_set_as_a_bold_paragraph_gives_its_calls_their_status(title_html):
    def call(title, facts):
        return title_html.format(title) + "<p>Om utlysningen.</p>" + facts
    html = page("<p><strong>Kommande utlysningar</strong></p>"
                + call("Mål 5: Integration", "<p><strong>Öppnar:</strong> 3 mars 2031</p>")
                + "<p><strong>Stängda utlysningar</strong></p>"
                + call("Mål 6: Asyl", "<p><strong>Stänger:</strong> 1 mars 2030</p>")
                + "<p><b>Avslutade utlysningar</b></p>"
                + call("Mål 7: Återvändande", "<p><strong>Stänger:</strong> 2 mars 2030</p>"))
    items, _ = items_of(html)
    assert [(i.title, i.status) for i in items] == [
        ("Mål 5: Integration", "upcoming"), ("Mål 6: Asyl", "closed"), ("Mål 7: Återvändande", "closed")]
    assert "Stängda" not in items[0].text and "Avslutade" not in items[1].text


def test_a_bold_sentence_or_label_inside_a_call_is_no_heading():
    html = page("<h3>Mål 1: Integration</h3><p><strong>Utlysningen är konkurrerande.</strong></p>"
                "<p><strong>Öppnar</strong></p><p>3 mars 2031</p><p><strong>Stänger 14 april 2031</strong></p>")
    (call,) = read_calls(html)
    assert call.title == "Mål 1: Integration" and call.competitive is True
    assert call.facts == {"opens": "3 mars 2031", "deadline": "14 april 2031"}


def test_the_same_title_twice_gets_ids_from_its_section_not_its_order():
    planned = "<h2>Planerade utlysningar</h2><h3>Mål 1: Integration</h3><p>Öppnar: 3 mars 2032</p>"
    closed = "<h2>Avslutade utlysningar</h2><h3>Mål 1: Integration</h3><p>Stänger: 1 mars 2030</p>"

    def ids(html):
        items, _ = items_of(page(html))
        return {(i.status, i.opens or i.deadline): item_id(i.agency, i.kind, i.key) for i in items}

    alone = ids(planned)
    both, swapped = ids(planned + closed), ids(closed + planned)
    assert both == swapped and len(set(both.values())) == 2
    # the open copy keeps the id it had before the closed copy appeared
    assert both[("unknown", dt.date(2032, 3, 3))] == alone[("unknown", dt.date(2032, 3, 3))] == \
        item_id("migrationsverket", "funding_call", "Mål 1: Integration")
    assert both[("closed", dt.date(2030, 3, 1))] == item_id(
        "migrationsverket", "funding_call", "Mål 1: Integration (Avslutade utlysningar)")


def test_values_written_as_agencies_write_them():
    html = page('<h2><a href="/utlysning/mal-2">Specifikt mål 2: Integration</a></h2>'
                "<ul><li><b>Tillgängliga medel:</b> drygt 93 miljoner kronor</li>"
                "<li><b>Öppnar:</b> den 3 mars 2031 kl. 14.00</li><li><b>Stänger:</b> Ej bestämt</li>"
                "<li>Tid kvar att ansöka: 40 dagar</li></ul>")
    (item,), _ = items_of(html)
    assert summary(item) == {
        "id": item_id("migrationsverket", "funding_call", "Specifikt mål 2: Integration"),
        "title": "Specifikt mål 2: Integration", "opens": "2031-03-03", "deadline": None, "deadline_text": "Ej bestämt",
        "amount_text": "drygt 93 miljoner kronor", "amount_sek": 93_000_000, "competitive": None}
    assert "Tid kvar" not in item.text


@pytest.mark.parametrize("body, opens, deadline", [
    ("<p><strong>Ansökningsperiod:</strong> 21 mars – 5 maj 2031</p>", "2031-03-21", "2031-05-05"),
    ("<p>Ansökningstid: 3 mars–14 april 2031</p>", "2031-03-03", "2031-04-14"),
    ("<dl><dt>Utlysningsperiod</dt><dd>den 3 mars 2031 kl. 14.00 till den 14 april 2031 kl. 14.00</dd></dl>",
     "2031-03-03", "2031-04-14"),
    ('<p><span class="date">Publicerad 2031-01-01</span></p><p><em>Sök senast</em>: 14 april 2031</p>', None,
     "2031-04-14"),
])
def test_a_period_or_a_sok_senast_line_gives_the_dates(body, opens, deadline):
    (item,), _ = items_of(page(f'<h2><a href="/utlysning/mal-3">Mål 3: Återvändande</a></h2>{body}'))
    assert (summary(item)["opens"], summary(item)["deadline"]) == (opens, deadline)


def test_a_section_heading_without_facts_is_not_a_call():
    html = page("<h2>Om utlysningarna</h2><p>Inga datum här.</p><h2>Konkurrerande utlysningar</h2>"
                "<h3>Mål 1</h3><p>Öppnar: 3 mars 2031</p>")
    assert [c.title for c in read_calls(html)] == ["Mål 1"]


def test_a_heading_that_is_a_label_is_not_a_section():
    html = page("<h3>Mål 1</h3><h4>Öppnar</h4><p>3 mars 2031</p><h4>Stänger:</h4><p>4 april 2031</p>")
    (call,) = read_calls(html)
    assert call.facts == {"opens": "3 mars 2031", "deadline": "4 april 2031"}


# -- volatile text ---------------------------------------------------------------------------------
@pytest.mark.parametrize("volatile", [
    "Uppdaterad: 2031-01-15", "Sidan senast ändrad: 2030-12-01", "Granskad: 3 mars 2031 av Anna Andersson",
    "Senast uppdaterad:2018-12-19", "Tid kvar att ansöka: 7 dagar", "3 dagar kvar", "Sida 2", "Sida 2 av 3",
    "2 (3)", "Skriv ut", "Lyssna", "Dela", "Skriv ut Lyssna Dela", "Extern länk.", "External link.",
])
def test_volatile_lines_are_not_compared_text(volatile):
    assert normalise_text(f"Utlysningen öppnar i mars.\n{volatile}\nSista dag 14 april 2031.") == \
        "Utlysningen öppnar i mars.\nSista dag 14 april 2031."


def test_volatile_phrases_inside_a_line_are_removed_and_content_stays():
    assert normalise_text("Läs utlysningen hos Tillväxtverket (Extern länk.) i e-tjänsten") == \
        "Läs utlysningen hos Tillväxtverket i e-tjänsten"
    assert normalise_text("Ansökan stänger 14 april 2031 – 3 dagar kvar") == "Ansökan stänger 14 april 2031 –"
    assert normalise_text("Beslut meddelas i juni. Senast uppdaterad: 2018-12-19") == "Beslut meddelas i juni."
    # content that merely looks like the volatile words stays
    assert normalise_text("Dela ut medel till föreningar\nSida vid sida med kommunen") == \
        "Dela ut medel till föreningar\nSida vid sida med kommunen"
    assert page_stamp("text\nSidan senast ändrad: 2030-12-01") == "2030-12-01"


def test_pdf_running_title_and_page_numbers_are_dropped():
    pages = ["Arbetsförmedlingen\nPlanerade upphandlingar 2027\nRusta och matcha\nUpphandlingsform: LOV\nSida 1 av 2",
             "Arbetsförmedlingen\nPlanerade upphandlingar 2027\nTolktjänster\nUpphandlingsform: LOU\nSida 2 av 2"]
    assert pdf_lines(pages) == ["Rusta och matcha", "Upphandlingsform: LOV", "Tolktjänster", "Upphandlingsform: LOU"]


@pytest.mark.parametrize("body, facts", [
    # Socialstyrelsen's block: several pairs on one line, a countdown beside the deadline
    ("<p>Utlysningsdatum: 2024-06-28 / Sista ansökningsdag: 2024-09-20 / Tid kvar att ansöka: 59 dagar</p>",
     {"opens": "2024-06-28", "deadline": "2024-09-20"}),
    # MUCF's "Viktiga datum" under the call heading
    ("<h4>Viktiga datum</h4><ul><li>Ansökan öppnar: 17 maj 2024</li><li>Ansökan stänger: 17 juni 2024 (senast 23.59)</li>"
     "<li>Beslut meddelas: slutet av september 2024</li></ul>",
     {"opens": "17 maj 2024", "deadline": "17 juni 2024 (senast 23.59)", "decision": "slutet av september 2024"}),
    # Tillväxtverket's status lines: no colon, no bold
    ("<p>Öppnar 12 augusti 2024</p><p>Stängd 19 mars 2025</p>", {"opens": "12 augusti 2024", "deadline": "19 mars 2025"}),
    # a remark between label and colon; a layout table with the pairs in one cell
    ("<p><strong>Stänger (preliminärt):</strong> 14 april 2031</p>", {"deadline": "14 april 2031"}),
    ("<table><tr><td><strong>Öppnar:</strong> 3 mars 2031<br><strong>Stänger:</strong> Ej bestämt</td></tr></table>",
     {"opens": "3 mars 2031", "deadline": "Ej bestämt"}),
    # Drupal field markup: label and value in sibling divs
    ('<div class="field field--label-inline"><div class="field__label">Öppnar</div><div class="field__item">'
     '<time datetime="2031-03-03">3 mars 2031</time></div></div><div class="field"><div class="field__label">Sista '
     'ansökningsdag</div><div class="field__item">14 april 2031</div></div>',
     {"opens": "3 mars 2031", "deadline": "14 april 2031"}),
    # prose that starts with a label word is no fact
    ("<p>Öppnar du en ansökan sparas den automatiskt.</p><p>Stänger: 1 maj 2031</p>", {"deadline": "1 maj 2031"}),
])
def test_facts_as_other_sites_write_them(body, facts):
    (call,) = read_calls(page(f"<h2>Statsbidrag till organisationer</h2>{body}"))
    assert call.title == "Statsbidrag till organisationer"
    assert {k: v for k, v in call.facts.items() if k in ("opens", "deadline", "decision")} == facts


def test_accordion_titles_without_helper_text_give_the_same_ids():
    plain = read_calls(page("<h3>Mål 1: Integration</h3><p>Öppnar: 3 mars 2031</p>"))
    helper = read_calls(page(
        '<div class="sv-collapsible-content"><a class="env-collapse-header" href="#c" aria-expanded="false">'
        '<span aria-hidden="true">+</span> Mål 1: Integration <span class="sr-only">Visa mer</span></a>'
        '<div class="env-collapse" id="c"><p>Öppnar: 3 mars 2031</p></div></div>'))
    assert [c.title for c in helper] == [c.title for c in plain] == ["Mål 1: Integration"]


def test_a_call_per_article_with_its_title_in_the_article_header():
    html = ("<html><body><header><h1>Myndigheten</h1></header>" + "".join(
        f"<article><header><h2>Utlysning {n}</h2></header><dl><dt>Öppnar</dt><dd>{n} mars 2031</dd></dl></article>"
        for n in (1, 2)) + "<footer><h2>Kontakt</h2><p>Öppnar: 08.00</p></footer></body></html>")
    assert [(c.title, c.facts["opens"]) for c in read_calls(html)] == [("Utlysning 1", "1 mars 2031"),
                                                                         ("Utlysning 2", "2 mars 2031")]


def test_a_field_line_repeated_at_page_edges_is_not_a_running_title():
    pages = ["Planerade upphandlingar\nRusta och matcha\nUpphandlingsform: LOU",
             "Planerade upphandlingar\nTolktjänster\nUpphandlingsform: LOU",
             "Planerade upphandlingar\nStöd och matchning\nUpphandlingsform: LOV"]
    assert pdf_lines(pages) == ["Rusta och matcha", "Upphandlingsform: LOU", "Tolktjänster",
                                "Upphandlingsform: LOU", "Stöd och matchning", "Upphandlingsform: LOV"]


def test_a_call_in_an_accordion_after_another_call_takes_nothing_from_it():
    html = page("<h2>Icke-konkurrerande utlysningar</h2><h3>Mål 3: Återvändande</h3><p>Öppnar: 3 mars 2031</p>"
                + sv_accordion("Mål 1: Mottagande", "<p>Utlysningen är konkurrerande.</p><p>Öppnar: 4 mars 2031</p>", 1)
                + "<h2>Avslutade utlysningar</h2><h3>Mål 9: Gammal</h3><p>Stänger: 1 mars 2030</p>"
                + sv_accordion("Mål 8: Också gammal", "<p>Stänger: 2 mars 2030</p>", 2))
    calls = read_calls(html)
    assert [(c.title, c.competitive, c.closed) for c in calls] == [
        ("Mål 3: Återvändande", False, False), ("Mål 1: Mottagande", True, False),
        ("Mål 9: Gammal", None, True), ("Mål 8: Också gammal", None, True)]
    assert "Mål 1" not in calls[0].text and "4 mars" not in calls[0].text
    assert calls[3].context == ("Planerade utlysningar", "Avslutade utlysningar")


def test_question_accordions_after_a_call_are_neither_calls_nor_its_text():
    """FAQ accordions ("Kan vi söka om …?", "Hur ansöker vi?") after a call whose facts sit under the
    page's own heading: not calls (though an answer starts "Öppnar: kl. 8"), not the call's text; the
    call's own question ("Vem kan söka?") stays its part."""
    items, _ = items_of((TESTS / "variants" / "faq_after_call_without_heading.html").read_text())
    assert [(i.title, i.opens, i.deadline, i.amount_sek) for i in items] == [
        ("Specifikt mål 2: Integration", dt.date(2031, 2, 2), dt.date(2031, 3, 16), 120_000_000)]
    assert items[0].text.splitlines()[-2:] == ["Vem kan söka?", "Ideella föreningar, kommuner och regioner."]
    assert "Kan vi söka om" not in items[0].text and "e-tjänsten" not in items[0].text
    faq = [s for s in read_sections((TESTS / "variants" / "faq_after_call_without_heading.html").read_text()) if s.faq]
    assert [(s.title, s.is_call) for s in faq] == [("Kan vi söka om vi redan har ett projekt?", False),
                                                   ("Hur ansöker vi?", False)]
    for name in ("plain_h3_faq_accordions_after_each", "accordion_each_faq_accordions_after"):
        for item in items_of(VARIANTS[name])[0]:
            assert "handläggningen" not in item.text and "Kan vi söka om" not in item.text


PROSE = "<p>Tillgängliga medel: Ca 30 MSEK</p><p>Öppnar: 1 februari 2027</p><p>{}</p>"


@pytest.mark.parametrize("layout", ["plain", "accordion", "page_heading"])
@pytest.mark.parametrize(("sentence", "deadline", "deadline_text", "time"), [
    ("Sista ansökningsdag är den 15 mars 2027.", dt.date(2027, 3, 15), "Sista ansökningsdag är den 15 mars 2027.", None),
    ("Ansökan ska vara inne senast 3 maj 2027 kl. 14.00", dt.date(2027, 5, 3),
     "Ansökan ska vara inne senast 3 maj 2027 kl. 14.00", dt.time(14, 0)),
    ("Du kan söka från den 1 februari. Sista dag att söka är 2 mars 2027.", dt.date(2027, 3, 2),
     "Sista dag att söka är 2 mars 2027.", None),
    # two dates in the sentence: the deadline's own words
    ("Utlysningen öppnar 1 februari 2027 och sista ansökningsdag är den 15 mars 2027 kl. 12.00.", dt.date(2027, 3, 15),
     "15 mars 2027 kl. 12.00", dt.time(12, 0)),
    # not about applying, or no deadline: nothing
    ("Beslut fattas senast den 1 juni 2027.", None, None, None),
    ("Slutrapporten ska vara inne senast 30 september 2028.", None, None, None),
])
def test_a_deadline_written_only_in_prose_is_the_calls_deadline(layout, sentence, deadline, deadline_text, time):
    body = PROSE.format(sentence)
    title = "Specifikt mål 5: Språkstöd"
    content = {"plain": f"<h3>{title}</h3>{body}", "accordion": sv_accordion(title, body, 5),
               "page_heading": body}[layout]
    items, _ = items_of(page(content, title=title) if layout == "page_heading" else page(content))
    (item,) = items
    assert (item.title, item.opens, item.deadline, item.deadline_text) == (title, dt.date(2027, 2, 1), deadline, deadline_text)
    assert (parse_date(item.deadline_text).time if item.deadline_text else None) == time


def test_a_labelled_deadline_wins_and_prose_alone_makes_no_call():
    items, _ = items_of(VARIANTS["prose_deadline_beside_label"])
    assert [(i.deadline, i.deadline_text) for i in items[:2]] == [(dt.date(2031, 4, 14), "14 april 2031"), (None, "Ej bestämt")]
    # a heading over a sentence about applying, with no labelled fact, is not a call
    assert read_calls(page("<h3>Nyhet: snart stänger AMIF</h3><p>Sista ansökningsdag är den 15 mars 2031.</p>")) == []
