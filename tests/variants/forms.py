"""The same three calls written in every form the site model allows (Sitevision old and new,
EPiServer, Drupal): label/value pairs as a table, a definition list, bold labels with and without a
colon, several pairs in one paragraph, label and value in separate paragraphs, plain lines, values
as lists; calls under plain headings, in an accordion each, all in one accordion; with and without
section headings. Written from the site model, not from the reader."""

from __future__ import annotations

import html

CALLS = [
    {
        "title": "Specifikt mål 1: Mottagande av asylsökande",
        "intro": "Utlysningen är konkurrerande och öppen för ideella föreningar, kommuner och regioner.",
        "facts": [("Tillgängliga medel", "Ca 500 MSEK"), ("Finansieringsalternativ", "Förenklade kostnader"),
                  ("Stöd från AMIF", "75-90 %"), ("Öppnar", "3 mars 2031"), ("Stänger", "14 april 2031")],
    },
    {
        "title": "Förstudier inom integration",
        "intro": "För organisationer som vill förbereda ett större projekt.",
        "facts": [("Tillgängliga medel", "Ca 2,3 MSEK"), ("Finansieringsalternativ", "För förstudier: Klumpsumma"),
                  ("Öppnar", "1 september 2031"), ("Stänger", "Ej bestämt")],
    },
    {
        "title": "Specifikt mål 3: Återvändande",
        "intro": "Utlysningen är icke-konkurrerande och riktar sig till Polisen och Kriminalvården.",
        "facts": [("Tillgängliga medel", "Ca 45 MSEK"), ("Öppnar", "12 oktober 2031"),
                  ("Stänger", "30 november 2031 kl. 17.00"), ("Tidigast projektstart", "1 mars 2032")],
    },
]

# What every form must give (the spider's item fields).
EXPECTED = [
    {"title": CALLS[0]["title"], "opens": "2031-03-03", "deadline": "2031-04-14", "amount_text": "Ca 500 MSEK",
     "amount_sek": 500_000_000, "competitive": True, "deadline_text": "14 april 2031"},
    {"title": CALLS[1]["title"], "opens": "2031-09-01", "deadline": None, "amount_text": "Ca 2,3 MSEK",
     "amount_sek": 2_300_000, "competitive": None, "deadline_text": "Ej bestämt"},
    {"title": CALLS[2]["title"], "opens": "2031-10-12", "deadline": "2031-11-30", "amount_text": "Ca 45 MSEK",
     "amount_sek": 45_000_000, "competitive": False, "deadline_text": "30 november 2031 kl. 17.00"},
]

e = html.escape


# -- label/value forms: the facts of one call --------------------------------------------------------
def facts_table(facts):
    rows = "".join(f'<tr><th scope="row">{e(k)}</th><td>{e(v)}</td></tr>' for k, v in facts)
    return f'<table class="sv-table"><tbody>{rows}</tbody></table>'


def facts_table_td(facts):
    rows = "".join(f"<tr><td><strong>{e(k)}</strong></td><td>{e(v)}</td></tr>" for k, v in facts)
    return f"<table><tbody>{rows}</tbody></table>"


def facts_table_header_row(facts):
    head = "".join(f"<th>{e(k)}</th>" for k, _ in facts)
    body = "".join(f"<td>{e(v)}</td>" for _, v in facts)
    return f"<table><thead><tr>{head}</tr></thead><tbody><tr>{body}</tr></tbody></table>"


def facts_dl(facts):
    return "<dl>" + "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in facts) + "</dl>"


def facts_bold_colon(facts):
    return "".join(f'<p class="mv-font-normal"><strong>{e(k)}:</strong> {e(v)}</p>' for k, v in facts)


def facts_bold_colon_outside(facts):
    return "".join(f"<p><b>{e(k)}</b>: {e(v)}</p>" for k, v in facts)


def facts_bold_no_colon(facts):
    return "".join(f"<p><strong>{e(k)}</strong> {e(v)}</p>" for k, v in facts)


def facts_one_paragraph(facts):
    return "<p>" + "<br>".join(f"<strong>{e(k)}:</strong> {e(v)}" for k, v in facts) + "</p>"


def facts_one_paragraph_no_colon(facts):
    return "<p>" + "<br>\n".join(f"<strong>{e(k)}</strong> {e(v)}" for k, v in facts) + "</p>"


def facts_separate_paragraphs(facts):
    return "".join(f"<p><strong>{e(k)}</strong></p><p>{e(v)}</p>" for k, v in facts)


def facts_plain_lines(facts):
    return "<p>" + "<br>".join(f"{e(k)}: {e(v)}" for k, v in facts) + "</p>"


def facts_plain_paragraphs(facts):
    return "".join(f"<p>{e(k)}: {e(v)}</p>" for k, v in facts)


def facts_list_items(facts):
    return "<ul>" + "".join(f"<li><strong>{e(k)}:</strong> {e(v)}</li>" for k, v in facts) + "</ul>"


def facts_value_as_list(facts):
    """Each value as a one-item list under its label (Finansieringsalternativ split in two)."""
    out = []
    for k, v in facts:
        items = v.split(": ") if k == "Finansieringsalternativ" else [v]
        out.append(f"<p><strong>{e(k)}</strong></p><ul>" + "".join(f"<li>{e(i)}</li>" for i in items) + "</ul>")
    return "".join(out)


def facts_h4_labels(facts):
    return "".join(f"<h4>{e(k)}</h4><p>{e(v)}</p>" for k, v in facts)


def facts_plain_list(facts):
    """EPiServer's rich text: "Label: value" items in a plain list, no bold."""
    return "<ul>" + "".join(f"<li>{e(k)}: {e(v)}</li>" for k, v in facts) + "</ul>"


def facts_em_label(facts):
    return "".join(f"<p><em>{e(k)}:</em> {e(v)}</p>" for k, v in facts)


def facts_countdown_inside(facts):
    """Pairs in one paragraph with a countdown line under the deadline (Socialstyrelsen-like)."""
    lines = []
    for k, v in facts:
        lines.append(f"<b>{e(k)}:</b> {e(v)}")
        if k == "Stänger":
            lines.append("Tid kvar att ansöka: 12 dagar")
    return "<p>" + "<br>".join(lines) + "</p>"


FACT_FORMS = {
    "table": facts_table, "table_td": facts_table_td, "table_header_row": facts_table_header_row,
    "dl": facts_dl, "bold_colon": facts_bold_colon, "bold_colon_outside": facts_bold_colon_outside,
    "bold_no_colon": facts_bold_no_colon, "one_paragraph": facts_one_paragraph,
    "one_paragraph_no_colon": facts_one_paragraph_no_colon, "separate_paragraphs": facts_separate_paragraphs,
    "plain_lines": facts_plain_lines, "plain_paragraphs": facts_plain_paragraphs, "list_items": facts_list_items,
    "value_as_list": facts_value_as_list, "h4_labels": facts_h4_labels, "plain_list": facts_plain_list,
    "em_label": facts_em_label, "countdown_inside": facts_countdown_inside,
}


def call_body(call, form) -> str:
    return f'<p class="mv-font-normal">{e(call["intro"])}</p>' + FACT_FORMS[form](call["facts"])


# -- call layouts ------------------------------------------------------------------------------------
def sv_accordion(title, body, n):
    return (f'<div class="sv-collapsible-content"><a class="env-collapse-header env-collapse-header--is-collapsed" '
            f'href="#collapse-{n}" data-env-collapse aria-expanded="false" aria-controls="collapse-{n}">{e(title)}</a>'
            f'<div class="env-collapse" id="collapse-{n}"><div class="sv-text-portlet"><div class="sv-text-portlet-content">'
            f"{body}</div></div></div></div>")


def bootstrap_accordion(title, body, n):
    return (f'<div class="accordion-item"><h3 class="accordion-header" id="h{n}"><button class="accordion-button collapsed" '
            f'type="button" data-bs-toggle="collapse" data-bs-target="#c{n}" aria-expanded="false">{e(title)}</button></h3>'
            f'<div id="c{n}" class="accordion-collapse collapse"><div class="accordion-body">{body}</div></div></div>')


def details_accordion(title, body, n):
    return f'<details class="expandable"><summary>{e(title)}</summary><div>{body}</div></details>'


def layout_plain(calls, form, level=3):
    return "".join(f'<div class="sv-text-portlet"><div class="sv-text-portlet-content"><h{level} id="h-{n}">'
                   f'{e(c["title"])}</h{level}>{call_body(c, form)}</div></div>' for n, c in enumerate(calls))


def layout_bold_titles(calls, form, title_html='<p><strong>{}</strong></p>'):
    """Titles as a bold paragraph (or a paragraph with a heading class) instead of a heading."""
    return '<div class="sv-text-portlet"><div class="sv-text-portlet-content">' + "".join(
        title_html.format(e(c["title"])) + call_body(c, form) for c in calls) + "</div></div>"


def layout_linked_h2(calls, form):
    """Drupal's teaser: the title an `<a>` inside `<h2>`, in an article each."""
    return "".join(f'<article class="node node--type-call"><h2 class="node__title"><a href="/utlysning/{n}" '
                   f'rel="bookmark"><span>{e(c["title"])}</span></a></h2><div class="node__content">'
                   f'{call_body(c, form)}</div></article>' for n, c in enumerate(calls))


TRAILING = ('<h3>Vanliga frågor</h3>' + "".join(
    f'<div class="sv-collapsible-content"><a class="env-collapse-header" href="#faq{n}" aria-expanded="false">{q}</a>'
    f'<div class="env-collapse" id="faq{n}"><p>{a}</p></div></div>' for n, (q, a) in enumerate([
        ("Hur söker jag?", "Ansökan görs i e-tjänsten. Öppnar: 08.00 varje vardag."),
        ("Kan jag ändra min ansökan?", "Kontakta handläggaren.")]))
    + '<h3>Kontakta oss</h3><p>Telefon 010-485 00 00</p><p><strong>Relaterade sidor</strong></p>'
    '<ul><li><a href="/amif">AMIF</a></li></ul>')


# Questions in accordions after a call (Sitevision's FAQ): not calls, not the call's text, though an
# answer may start with a label ("Öppnar: …").
FAQ = [("Kan vi söka om vi redan har fått stöd?", "Ja, men inte för samma verksamhet."),
       ("Hur lång tid tar handläggningen?", "Öppnar: kl. 8 varje vardag, svar inom sex månader.")]


def faq_accordions(n):
    return "".join(sv_accordion(q, f"<p>{e(a)}</p>", f"faq{n}-{k}") for k, (q, a) in enumerate(FAQ))


def layout_plain_faq_after_each(calls, form):
    return "".join(f'<h3 id="h-{n}">{e(c["title"])}</h3>{call_body(c, form)}{faq_accordions(n)}'
                   for n, c in enumerate(calls))


def layout_accordion_each(calls, form, accordion=sv_accordion):
    return "".join(accordion(c["title"], call_body(c, form), n) for n, c in enumerate(calls))


def layout_one_accordion(calls, form):
    inner = "".join(f'<h3>{e(c["title"])}</h3>{call_body(c, form)}' for c in calls)
    return sv_accordion("Utlysningar under 2031", inner, 99)


SECTION_INTRO = ('<h2>Om utlysningarna</h2><p>Vi planerar både konkurrerande och icke-konkurrerande utlysningar. '
                 "Planeringen är preliminär.</p>")


def page(content: str, *, main: bool = True, title: str = "Planerade utlysningar") -> str:
    """A Sitevision page around CONTENT: new (with main) or old (no main, toolbars, long footer)."""
    head = (f'<!DOCTYPE html><html lang="sv"><head><meta charset="utf-8"><title>{e(title)} - Migrationsverket</title>'
            '<style>.x{color:red}</style><script>var sv = {};</script></head><body>')
    chrome_top = ('<div class="sv-cookie-consent"><p>Vi använder kakor.</p><button>Godkänn</button></div>'
                  '<header class="mv-header"><nav><ul><li><a href="/">Start</a></li><li><a href="/a">Andra aktörer</a></li>'
                  '</ul></nav></header><nav class="mv-breadcrumbs"><ol><li><a href="/">Startsida</a></li>'
                  '<li>Planerade utlysningar</li></ol></nav>')
    toolbar = ('<ul class="sv-toolbar"><li><a href="#">Skriv ut</a></li><li><a href="#">Lyssna</a></li>'
               '<li><a href="#">Dela</a></li></ul>')
    footer = ('<div class="sv-page-meta"><p>Sidan senast ändrad: 2030-12-01</p></div>'
              '<footer class="mv-footer"><h2>Kontakt</h2><p>Telefon 0771-235 235</p><p>Uppdaterad: 2031-01-15</p></footer>')
    h1 = f'<div class="sv-text-portlet"><div class="sv-text-portlet-content"><h1>{e(title)}</h1><p>Här ser du vilka utlysningar vi planerar.</p></div></div>'
    if main:
        return f'{head}{chrome_top}<main id="content">{toolbar}{h1}{content}</main>{footer}</body></html>'
    return (f'{head}<div class="sv-layout" id="svid10_1">{chrome_top}<div class="sv-layout" id="svid12_2">'
            f'<div class="sv-layout sv-column-3"><ul class="sv-menu"><li><a href="/x">EU-fonder</a></li></ul></div>'
            f'<div class="sv-layout sv-column-9" id="svid94_content">{toolbar}{h1}{content}</div></div>'
            f'<div class="sv-layout mv-site-footer">{footer}</div></div></body></html>')


def _mixed(calls, form):
    forms = ["table", "bold_no_colon", "separate_paragraphs"]
    return (layout_plain(calls[:1], forms[0]) + sv_accordion(calls[1]["title"], call_body(calls[1], forms[1]), 7)
            + f'<h3>{e(calls[2]["title"])}</h3>' + call_body(calls[2], forms[2]))


def variants() -> dict[str, str]:
    """name -> page HTML, every one carrying the three CALLS."""
    out = {}
    for form in FACT_FORMS:
        out[f"plain_h3_{form}"] = page(layout_plain(CALLS, form))
        out[f"accordion_each_{form}"] = page(layout_accordion_each(CALLS, form))
    out["plain_h2"] = page(layout_plain(CALLS, "table", level=2))
    out["plain_h4"] = page(layout_plain(CALLS, "bold_colon", level=4))
    out["plain_h2_under_section"] = page(SECTION_INTRO + layout_plain(CALLS, "dl", level=2))
    out["plain_h3_under_section"] = page(SECTION_INTRO + layout_plain(CALLS, "dl"))
    out["year_heading"] = page("<h2>2031</h2>" + layout_plain(CALLS, "bold_colon"))
    out["accordion_each_under_section"] = page(SECTION_INTRO + layout_accordion_each(CALLS, "table"))
    out["accordion_each_under_year"] = page("<h2>2031</h2>" + layout_accordion_each(CALLS, "one_paragraph"))
    out["accordion_each_no_heading"] = page(layout_accordion_each(CALLS, "dl")).replace(
        "<h1>Planerade utlysningar</h1>", "")
    out["accordion_each_one_per_section"] = page(
        SECTION_INTRO + layout_accordion_each(CALLS[:1], "table") + "<h2>Fler utlysningar</h2>"
        + layout_accordion_each(CALLS[1:], "table"))
    out["one_accordion"] = page(layout_one_accordion(CALLS, "bold_colon"))
    out["one_accordion_under_section"] = page(SECTION_INTRO + layout_one_accordion(CALLS, "separate_paragraphs"))
    out["bootstrap_accordion"] = page(layout_accordion_each(CALLS, "dl", bootstrap_accordion))
    out["details_accordion"] = page(layout_accordion_each(CALLS, "bold_no_colon", details_accordion))
    out["mixed"] = page(_mixed(CALLS, None))
    out["mixed_under_section"] = page(SECTION_INTRO + _mixed(CALLS, None))
    out["old_sitevision_plain"] = page(layout_plain(CALLS, "bold_colon"), main=False)
    out["old_sitevision_accordion"] = page(SECTION_INTRO + layout_accordion_each(CALLS, "table"), main=False)
    out["old_sitevision_mixed"] = page(_mixed(CALLS, None), main=False)
    out["bold_paragraph_titles"] = page(layout_bold_titles(CALLS, "bold_colon"))
    out["bold_paragraph_titles_separate_paragraphs"] = page(layout_bold_titles(CALLS, "separate_paragraphs"))
    out["class_h3_titles"] = page(layout_bold_titles(CALLS, "table", '<p class="mv-h3">{}</p>'))
    out["bold_paragraph_titles_under_section"] = page(
        "<p><strong>Planerade utlysningar 2031</strong></p>" + layout_bold_titles(CALLS, "dl"), main=False)
    out["linked_h2_articles"] = page(layout_linked_h2(CALLS, "dl"))
    out["trailing_faq_and_contact"] = page(layout_plain(CALLS, "bold_colon", level=2) + TRAILING)
    out["accordion_each_trailing_faq"] = page(layout_accordion_each(CALLS, "table") + TRAILING)
    out["plain_h3_faq_accordions_after_each"] = page(layout_plain_faq_after_each(CALLS, "bold_colon"))
    out["accordion_each_faq_accordions_after"] = page(layout_accordion_each(CALLS, "table") + faq_accordions(9))
    # a deadline also said in a sentence: the labelled one wins ("Ej bestämt" too)
    out["prose_deadline_beside_label"] = page(layout_plain(CALLS, "dl").replace(
        e(CALLS[0]["intro"]), e(CALLS[0]["intro"]) + " Ansökan ska vara inne senast den 30 april 2031.").replace(
        e(CALLS[1]["intro"]), e(CALLS[1]["intro"]) + " Sista ansökningsdag är den 1 oktober 2031."))
    return out


# -- volatile text: what changes between two crawls without the content changing --------------------
VOLATILE_A = dict(stamp="2031-01-15", countdown="Tid kvar att ansöka: 7 dagar", helper="Extern länk.",
                  toolbar="Skriv ut", footer="2030-12-01", reviewed="Granskad: 3 mars 2031")
VOLATILE_B = dict(stamp="2031-02-20", countdown="3 dagar kvar", helper="External link.",
                  toolbar="Lyssna Dela", footer="2031-02-19", reviewed="Granskad: 20 februari 2031 av Anna")


def volatile_page(html_page: str, v: dict) -> str:
    """HTML_PAGE with volatile text in and around every call: a stamp, a countdown, helper text."""
    out = html_page.replace("Uppdaterad: 2031-01-15", f"Uppdaterad: {v['stamp']}")
    out = out.replace("Sidan senast ändrad: 2030-12-01", f"Sidan senast ändrad: {v['footer']}")
    out = out.replace(">Skriv ut<", f">{v['toolbar']}<")
    for call in CALLS:
        out = out.replace(e(call["intro"]), e(call["intro"]) + f' <a href="https://tillvaxtverket.se">Min ansökan '
                          f'<span class="sr-only">{v["helper"]}</span></a><br>{v["countdown"]}<br>{v["reviewed"]}', 1)
    return out
