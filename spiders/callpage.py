"""Reading one call page: its title, its labelled facts, its sections and its text without noise.

A thin adapter over the shared label helpers (`fundwatch.labels`) and the section reader
(`fundwatch.spiders.sitevision`), so the generic listing spider can move onto the project's reader of
call sections and facts by changing this module only. Facts are found whatever the markup: table rows,
definition lists, a bold label with or without a colon, "Label: value" paragraphs or list items, and
a heading naming the label followed by its value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from fundwatch.labels import clean, label_pairs
from fundwatch.spiders import sitevision
from fundwatch.spiders.extract import main_text

# The shared vocabulary: field -> label spellings. opens/deadline/period/amount become item fields;
# every other field is kept in `details` under its own (Swedish) name.
CALL_LABELS: dict[str, tuple[str, ...]] = {
    "opens": ("Utlysningsdatum", "Ansökan öppnar", "Öppnar", "Öppnar för ansökan", "Ansökningsperioden öppnar",
              "Utlysningen öppnar"),
    "deadline": ("Sista ansökningsdag", "Sista ansökningsdatum", "Ansökan stänger", "Stänger", "Sista dag att ansöka",
                 "Sista dag för ansökan", "Senaste ansökningsdatum", "Ansök senast", "Utlysningen stänger"),
    "period": ("Ansökningsperiod", "Ansökningstid", "Ansökningstider"),
    "amount": ("Tillgängliga medel", "Att fördela", "Belopp", "Budget", "Medel att fördela", "Totalt belopp"),
    "Beslut": ("Beslut", "Beslut meddelas", "Tid för beslut", "Besked", "Beslutsdatum"),
    "Medfinansiering": ("Medfinansiering", "Krav på medfinansiering"),
    "Sammanträde": ("Sammanträde", "Sammanträdesdatum", "Sammanträden"),
}
# Sections whose text is kept whole in `details` (who may apply is what subscribers filter on).
SECTION_LABELS: dict[str, tuple[str, ...]] = {
    "Vem kan söka": ("Vem kan söka", "Vilka kan söka", "Vilka kan ansöka", "Vilka som kan ansöka", "Vem kan ansöka", "Vem får söka",
                     "Vilka får söka"),
}
# Lines that change without the call changing: countdowns, review stamps, read-aloud widgets.
NOISE = tuple(re.compile(p, re.I) for p in (
    r"^tid kvar att ansöka\b",
    r"^[0-9]+ dagar? kvar\b",
    r"^(granskad|senast granskad|senast uppdaterad|sidan uppdaterades|uppdaterad)\b:?",
    r"^lyssna$",
))


def _norm_label(text: str) -> str:
    return clean(text).rstrip(":?").strip().casefold()


# "14 september: Sista dag för ansökan." / "15 juni - sista ansökningsdag." (value first, label after)
_VALUE_THEN_LABEL = re.compile(r"^(?P<value>[^:–-]+?)\s*(?::|\s[–-])\s+(?P<label>[^:]+?)\.?$")


@dataclass
class CallPage:
    title: str
    text: str  # main text, one block per line, noise lines removed
    facts: dict[str, str] = field(default_factory=dict)  # field -> value as written
    fact_sections: dict[str, str] = field(default_factory=dict)  # field -> heading of the section holding it
    sections: dict[str, str] = field(default_factory=dict)  # SECTION_LABELS name -> section text
    lines: list[str] = field(default_factory=list)
    url: str | None = None  # a row's own link (rows only)


def is_noise(line: str, extra: tuple[re.Pattern, ...] = ()) -> bool:
    return any(p.search(line) for p in NOISE + tuple(extra))


def _vocabulary(extra: dict[str, tuple[str, ...]]) -> dict[str, str]:
    wanted: dict[str, str] = {}
    for name, spellings in list(CALL_LABELS.items()) + list(extra.items()):
        for spelling in spellings:
            wanted[_norm_label(spelling)] = name
    return wanted


def read_call_page(response, labels: dict[str, tuple[str, ...]] | None = None,
                   noise: tuple[re.Pattern, ...] = ()) -> CallPage:
    root = sitevision.content_root(response)
    title = clean(" ".join(root.xpath("(.//h1)[1]//text()").getall()))
    wanted = _vocabulary(labels or {})
    page = CallPage(title=title, text="")
    for section in sitevision.sections(root):
        heading = _norm_label(section.heading)
        name = wanted.get(heading)
        if name and name not in page.facts and section.text:
            # a heading naming the label, its value the first line under it
            page.facts[name] = section.text.splitlines()[0]
            page.fact_sections[name] = section.heading
        for label, value in section.pairs():
            name = wanted.get(_norm_label(label))
            if name and name not in page.facts and not is_noise(f"{label}: {value}", noise):
                page.facts[name] = value
                page.fact_sections[name] = section.heading
        for line in section.text.splitlines():
            reversed_pair = _VALUE_THEN_LABEL.match(line)
            name = wanted.get(_norm_label(reversed_pair.group("label"))) if reversed_pair else None
            if name and name not in page.facts:
                page.facts[name] = reversed_pair.group("value")
                page.fact_sections[name] = section.heading
        for name, spellings in SECTION_LABELS.items():
            if heading in {_norm_label(s) for s in spellings} and name not in page.sections:
                # the section's prose, without a labelled fact or a page stamp that sits in it
                facts = {clean(f"{label.strip().rstrip(':')} {value}") for label, value in section.pairs()}
                lines = [line for line in section.text.splitlines()
                         if not is_noise(line, noise) and clean(line.replace(":", " ", 1)) not in facts]
                if lines:
                    page.sections[name] = "; ".join(lines)
    if not page.facts:  # pairs outside any section (no headings at all)
        for label, value in label_pairs(root):
            name = wanted.get(_norm_label(label))
            if name and name not in page.facts:
                page.facts[name] = value
    page.lines = [line for line in main_text(response.body, response.encoding).splitlines()
                  if not is_noise(line, noise)]
    page.text = "\n".join(page.lines)
    return page


def read_rows(response, selector: str, labels: dict[str, tuple[str, ...]] | None = None,
              noise: tuple[re.Pattern, ...] = (), title_columns: tuple[int, ...] = (0,)) -> list[CallPage]:
    """Each table row SELECTOR finds as a call: its cells named by the table's header row, its title the
    TITLE_COLUMNS cells; a cell that is noise (a countdown) is left out of the facts and the text."""
    wanted = _vocabulary(labels or {})
    pages: list[CallPage] = []
    for row in response.css(selector):
        table = row.xpath("ancestor::table[1]")
        headers = [clean(" ".join(th.xpath(".//text()").getall()))
                   for th in table.xpath("(.//thead//tr | .//tr[th])[1]/th")]
        cells = [clean(" ".join(cell.xpath(".//text()").getall())) for cell in row.xpath("./td|./th")]
        if not cells or cells == headers:
            continue
        title = " – ".join(cells[i] for i in title_columns if i < len(cells) and cells[i])
        page = CallPage(title=title, text="")
        for header, value in zip(headers, cells):
            if not value or is_noise(value, noise):
                continue
            page.lines.append(f"{header}: {value}")
            name = wanted.get(_norm_label(header))
            if name and name not in page.facts:
                page.facts[name] = value
        page.text = "\n".join(page.lines)
        href = row.xpath(".//a/@href").get()
        page.url = response.urljoin(href) if href else None
        pages.append(page)
    return pages
