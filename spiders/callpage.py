"""Reading one call page for the generic listing spider: its title, its labelled facts (from the
project's reader of sections and facts, `fundwatch.spiders.reader`), who may apply, and its text
without volatile lines; and calls written as the rows of a table (a plan, a year overview).

Facts are found whatever the markup (the reader's forms: table rows, definition lists, bold labels
with or without a colon, "Label: value" lines, a heading naming the label); this module adds the form
where the date comes first ("14 september: Sista dag för ansökan.", "15 juni - sista ansökningsdag.").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from fundwatch.items import MEETINGS
from fundwatch.labels import CALL_LABELS, clean, vocabulary
from fundwatch.spiders import sitevision
from fundwatch.spiders.extract import main_text
from fundwatch.spiders.normalise import normalise_text
from fundwatch.spiders.reader import read_sections

# The shared vocabulary with the spellings the configured funders use. opens/deadline/period/amount
# become item fields; every other field is kept in `details` under its Swedish name.
LISTING_LABELS = vocabulary(
    CALL_LABELS,
    opens=("Utlysningen öppnar",),
    deadline=("Sista dag för ansökan", "Senaste ansökningsdatum", "Ansök senast", "Sista datum för ansökan"),
    period=("Ansökningsperiod", "Ansökningstid", "Ansökningstider"),
    amount=("Att fördela", "Medel att fördela"),
    decision=("Tid för beslut", "Beslutsdatum"),
    support_rate=("Krav på medfinansiering",),
    meeting=("Sammanträde", "Sammanträdesdatum", "Sammanträden"),
    published=("Publiceringsdatum", "Publicerad"),
)
ITEM_FIELDS = ("opens", "deadline", "period", "amount", "published")
DETAIL_NAMES = {"decision": "Beslut", "support_rate": "Medfinansiering", "funding": "Finansiering",
                "project_start": "Projektstart", "meeting": MEETINGS}
# Sections whose text is kept whole in `details` (who may apply is what subscribers filter on).
WHO = "Vem kan söka"
WHO_HEADINGS = ("vem kan söka", "vilka kan söka", "vilka kan ansöka", "vilka som kan ansöka", "vem kan ansöka",
                "vem får söka", "vilka får söka")
# "14 september: Sista dag för ansökan." / "15 juni - sista ansökningsdag." (value first, label after)
_VALUE_THEN_LABEL = re.compile(r"^(?P<value>[^:–-]+?)\s*(?::|\s[–-])\s+(?P<label>[^:]+?)\.?$")


_YEAR_LINE = re.compile(r"^(19|20)[0-9]{2}$")


def _prose_until_a_label(lines: list[str], spellings: dict[str, str], noise: tuple[re.Pattern, ...]) -> list[str]:
    """A section's lines up to the first that is (or starts with) a label: a heading that names a label
    is read as a label, not a section, so what follows it is that label's value, not this section's."""
    out = []
    for line in lines:
        norm = _norm_label(line)
        if any(norm == spelling or norm.startswith((f"{spelling}:", f"{spelling} ")) for spelling in spellings):
            break
        if not is_noise(line, noise):
            out.append(line)
    return out


def _norm_label(text: str) -> str:
    return clean(text).rstrip(":?").strip().casefold()


@dataclass
class CallPage:
    title: str
    text: str  # main text, one block per line, volatile and noise lines removed
    facts: dict[str, str] = field(default_factory=dict)  # field (or detail name) -> value as written
    fact_sections: dict[str, str] = field(default_factory=dict)  # field -> title of the section holding it
    sections: dict[str, str] = field(default_factory=dict)  # WHO -> that section's text
    lines: list[str] = field(default_factory=list)
    url: str | None = None  # a row's own link (rows only)


def is_noise(line: str, extra: tuple[re.Pattern, ...] = ()) -> bool:
    return not normalise_text(line) or any(p.search(line) for p in extra)


def _vocabulary(extra: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    return vocabulary(LISTING_LABELS, **extra) if extra else LISTING_LABELS


def _spellings(vocab: dict[str, tuple[str, ...]]) -> dict[str, str]:
    return {_norm_label(spelling): name for name, spellings in vocab.items() for spelling in spellings}


def detail_name(name: str) -> str:
    return DETAIL_NAMES.get(name, name)


def read_call_page(response, labels: dict[str, tuple[str, ...]] | None = None,
                   noise: tuple[re.Pattern, ...] = ()) -> CallPage:
    vocab = _vocabulary(labels or {})
    spellings = _spellings(vocab)
    root = sitevision.content_root(response)
    page = CallPage(title=clean(" ".join(root.xpath("(.//h1)[1]//text()").getall())), text="")
    for section in read_sections(response, vocab):
        if section.faq:  # "Kan vi söka om …?": a question's answer is no fact of the call
            continue
        for name, value in section.facts.items():
            if name not in page.facts and value and not any(p.search(value) for p in noise):
                page.facts[name] = value
                page.fact_sections[name] = section.title
        heading = section.title
        for line in section.text.splitlines():
            if _YEAR_LINE.match(line):
                heading = line  # "Viktiga datum / 2027 / 15 juni - sista ansökningsdag."
            reversed_pair = _VALUE_THEN_LABEL.match(line)
            name = spellings.get(_norm_label(reversed_pair.group("label"))) if reversed_pair else None
            if name and name not in page.facts:
                page.facts[name] = reversed_pair.group("value")
                page.fact_sections[name] = heading
        if _norm_label(section.title) in WHO_HEADINGS and WHO not in page.sections:
            lines = _prose_until_a_label(section.text.splitlines(), spellings, noise)
            if lines:
                page.sections[WHO] = "; ".join(lines)
    page.lines = [line for line in normalise_text(main_text(response.body, response.encoding)).splitlines()
                  if not is_noise(line, noise)]
    page.text = "\n".join(page.lines)
    return page


def read_rows(response, selector: str, labels: dict[str, tuple[str, ...]] | None = None,
              noise: tuple[re.Pattern, ...] = (), title_columns: tuple[int, ...] = (0,)) -> list[CallPage]:
    """Each table row SELECTOR finds as a call: its cells named by the table's header row, its title the
    TITLE_COLUMNS cells; a cell that is volatile (a countdown) is left out of the facts and the text."""
    spellings = _spellings(_vocabulary(labels or {}))
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
            name = spellings.get(_norm_label(header))
            if name and name not in page.facts:
                page.facts[name] = value
        page.text = "\n".join(page.lines)
        href = row.xpath(".//a/@href").get()
        page.url = response.urljoin(href) if href else None
        pages.append(page)
    return pages
