"""Arbetsförmedlingen: procurements for suppliers.

The hub links to the current-procurements page (one `procurement` per heading with label/value
pairs) and to the planned-procurements PDF, whose URL changes with every replacement (one
`procurement` with status `planned` per entry; its "Planerad annonsering: kvartal 1 2027" is also
details.Öppnar "kvartal 1 2027 (prel.)", never a day). The supplier news list gives `news` items.
"""

from __future__ import annotations

import io
import re
from urllib.parse import urlsplit

from pypdf import PdfReader

from fundwatch.items import OPENS_FORECAST, forecast_sv, slugify
from fundwatch.labels import clean
from fundwatch.spiders.base import FundSpider
from fundwatch.spiders.normalise import pdf_lines
from fundwatch.spiders.reader import read_calls
from fundwatch.spiders.sitevision import channel_items, content_root
from fundwatch.swedish import parse_date, parse_partial_date

CURRENT_LABELS = {
    "form": ("Upphandlingsform", "Upphandlingsförfarande"),
    "diarienummer": ("Diarienummer", "Diarienr", "Dnr"),
    "published": ("Publicerad", "Publiceringsdatum", "Annonserad"),
    "deadline": ("Sista anbudsdag", "Sista anbudsdatum", "Sista dag för anbud", "Sista dag att lämna anbud"),
}
DETAIL_NAMES = {"form": "Upphandlingsform", "diarienummer": "Diarienummer", "published": "Publicerad"}
PROCUREMENT_FIELDS = ("form", "diarienummer", "deadline")  # any of these makes a heading a procurement

PLANNED_FIELD = re.compile(r"^(upphandlingsform|planerad annonsering|beräknad avtalsstart)\s*:\s*(.*)$", re.I)
PLANNED_NAMES = {"upphandlingsform": "Upphandlingsform", "planerad annonsering": "Planerad annonsering",
                 "beräknad avtalsstart": "Beräknad avtalsstart"}
# What every page of the PDF repeats: agency, title, "Uppdaterad: …", "Sida 1 av 2" / "1 (2)".
PDF_CHROME = re.compile(
    r"Arbetsförmedlingen|Planerade upphandlingar(?:\s+\d{4})?|(?:Senast\s+)?uppdaterad\b:?[^\n]*"
    r"|Sida\s+\d+\s*(?:av|/)\s*\d+|^\d+\s*\(\d+\)$", re.I)


class ArbetsformedlingenSpider(FundSpider):
    name = "arbetsformedlingen"

    def parse(self, response):
        if not hasattr(response, "text"):
            self.layout_changed(response, "HTML content")
            return
        if urlsplit(response.url).path.rstrip("/").endswith("/nyheter-for-leverantorer"):
            yield from self._parse_news(response)
        else:
            yield from self._parse_hub(response)

    # -- hub ------------------------------------------------------------------------------------
    def _parse_hub(self, response):
        root = content_root(response)
        current = self._link(response, root, "aktuella upphandlingar")
        planned = self._link(response, root, "planerade upphandlingar", prefer_files=True)
        missing = [name for name, url in (("Aktuella upphandlingar", current),
                                          ("Planerade upphandlingar", planned)) if not url]
        if missing:
            self.layout_changed(response, ("links " if len(missing) > 1 else "link ") + ", ".join(missing))
        else:
            self.carried(response)
        if current:
            yield self.request(current, self._parse_current, role="current-procurements")
        if planned:
            yield self.request(planned, self._parse_planned, role="planned-procurements",
                               meta={"hub_url": response.url})

    def _link(self, response, root, words: str, prefer_files: bool = False) -> str | None:
        """A link in the main content whose text holds WORDS (never its size text: "Pdf, 18 kB.")."""
        urls = [response.urljoin(a.attrib["href"]) for a in root.css("a[href]")
                if words in clean(" ".join(a.css("::text").getall())).casefold()]
        if prefer_files:
            urls.sort(key=lambda u: not re.search(r"/download/|\.pdf$", urlsplit(u).path, re.I))
        return urls[0] if urls else None

    # -- current procurements -------------------------------------------------------------------
    def _parse_current(self, response):
        if not hasattr(response, "text"):
            self.layout_changed(response, "HTML content")
            return
        found = 0
        for section in read_calls(response, CURRENT_LABELS, key_fields=PROCUREMENT_FIELDS):
            found += 1
            yield self._parse_procurement(response, section)
        if not found:
            self.layout_changed(response, "procurement headings with Upphandlingsform, Diarienummer or Sista anbudsdag")

    def _parse_procurement(self, response, section):
        labels = section.facts
        deadline_text = labels.get("deadline")
        published = labels.get("published")
        tendsign = [href for text, href in section.links if "tendsign" in (href + text).casefold()]
        page_url = response.url.split("#")[0]
        # Sitevision gives each heading an id ("h-Rustaochmatcha2"): the item's anchor on the page.
        anchor = section.anchor or slugify(section.title)
        return self.make_item(
            response, kind="procurement", key=labels.get("diarienummer") or section.key,
            title=section.title,
            url=response.urljoin(tendsign[0]) if tendsign else f"{page_url}#{anchor}",
            deadline=parse_date(deadline_text).date if deadline_text else None,
            deadline_text=deadline_text,
            published=parse_date(published).date if published else None,
            details={DETAIL_NAMES[name]: labels[name] for name in DETAIL_NAMES if name in labels},
            text="\n".join(filter(None, (section.title, section.text))), competitive=None,
        )

    # -- planned procurements (PDF) -------------------------------------------------------------
    def _parse_planned(self, response):
        try:
            if b"%PDF-" not in response.body[:1024]:
                raise ValueError("no %PDF- header")
            pages = [page.extract_text() or "" for page in PdfReader(io.BytesIO(response.body)).pages]
        except Exception as exc:  # pypdf raises many types on a damaged file
            self.logger.warning("unreadable PDF %s: %s: %s", response.url, type(exc).__name__, exc)
            self.layout_changed(response, "a readable PDF")
            return
        entries = _planned_entries(_pdf_lines(pages))
        if not entries:
            self.layout_changed(response, "planned procurements (a title line, then Upphandlingsform: …)")
            return
        # Origin and url are the HUB, not the PDF, whose URL changes with every replacement:
        # - origin: an entry dropped from a new PDF would keep the old PDF URL as its origin, a
        #   page no later run fetches, so it would never count as missing. The hub is fetched (and
        #   must carry) on every run and the PDF is resolved from it, so a healthy run that read
        #   the hub read the whole plan; when the PDF fails the run is partial, nothing is missed.
        # - url: with the PDF URL every unchanged entry would be "updated" (url) at each
        #   replacement, and removed entries would link to a file that is gone. The hub always
        #   links the current plan.
        hub_url = response.meta.get("hub_url") or response.url
        for title, details, lines in entries:
            announced = parse_partial_date(details.get("Planerad annonsering", ""))
            if announced:  # "kvartal 1 2027": when it opens for tenders, in part, never a day
                details[OPENS_FORECAST] = forecast_sv(announced)
            item = self.make_item(response, kind="procurement", key=f"planerad {title}", title=title,
                                  url=hub_url, status="planned", details=details,
                                  text="\n".join(lines), competitive=None)
            item.origin = hub_url
            yield item

    # -- supplier news --------------------------------------------------------------------------
    def _parse_news(self, response):
        news = channel_items(response)
        if not news:
            self.layout_changed(response, "news items (li.sv-channel-item)")
        for entry in news:
            yield self.make_item(response, kind="news", key=entry.url, title=entry.title, url=entry.url,
                                 published=entry.published, text=entry.summary)


def _pdf_lines(pages: list[str]) -> list[str]:
    """The PDF's text lines in order, without the header and footer every page repeats (the
    normaliser's running titles and page numbers, and this PDF's own: agency, title, stamp)."""
    return [line for line in pdf_lines(pages) if PDF_CHROME.sub("", line).strip(" -–|")]


def _planned_entries(lines: list[str]) -> list[tuple[str, dict[str, str], list[str]]]:
    """(title, details, lines) per entry: a title is the line right before a field line (so the
    preamble before the first title is skipped). A later line that is neither a field nor a title
    stays in the entry's text but not in its details (a wrapped value, or a trailing note)."""
    entries: list[tuple[str, dict[str, str], list[str]]] = []
    for n, line in enumerate(lines):
        field = PLANNED_FIELD.match(line)
        if field:
            if entries:
                name = PLANNED_NAMES[field.group(1).casefold()]
                entries[-1][1].setdefault(name, field.group(2).strip())
                entries[-1][2].append(line)
        elif n + 1 < len(lines) and PLANNED_FIELD.match(lines[n + 1]):
            entries.append((line, {}, [line]))
        elif entries:
            entries[-1][2].append(line)
    return entries

