"""Migrationsverket: AMIF calls from the page "Planerade utlysningar" and the fund news list.

The rebuilt site's address of the EU-fonder section is not known, so discovery starts at the
gzipped sitemap: keep `<loc>`s whose path holds `eu-fonder` and `utlysning` or
`nyheter-for-fonder`; the old mixed-case URL is the fallback when the sitemap fails or lists no
planned-calls page. One `funding_call` per call heading (its label/value pairs as a table, a
definition list or bold-label paragraphs, often in accordions), one `news` item per list entry.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from urllib.parse import urlsplit

from scrapy.utils.gz import gunzip
from scrapy.utils.sitemap import Sitemap

from fundwatch.labels import clean
from fundwatch.spiders import sitevision
from fundwatch.spiders.base import FundSpider
from fundwatch.swedish import parse_amount, parse_date

LABELS = {
    "amount": ("Tillgängliga medel",),
    "opens": ("Öppnar", "Utlysningen öppnar", "Ansökan öppnar"),
    "deadline": ("Stänger", "Utlysningen stänger", "Ansökan stänger", "Sista ansökningsdag"),
}
DETAIL_LABELS = ("Finansieringsalternativ", "Stöd från AMIF", "Projektstart", "Tidigast projektstart")
KEY_LABELS = {spelling.casefold(): name for name, spellings in LABELS.items() for spelling in spellings}
NO_CALLS = re.compile(r"\binga (planerade )?utlysningar\b", re.I)
ICKE = re.compile(r"\bicke[-\s]?konkurrerande\b", re.I)
KONK = re.compile(r"\bkonkurrerande\b", re.I)


def _norm_label(label: str) -> str:
    return clean(label).rstrip(":").strip()


def _last_segment(url: str) -> str:
    return urlsplit(url).path.casefold().rstrip("/").rsplit("/", 1)[-1].removesuffix(".html")


class MigrationsverketSpider(FundSpider):
    name = "migrationsverket"
    agency = "migrationsverket"
    sitemap_url = "https://www.migrationsverket.se/sitemap1.xml.gz"
    fallback_url = ("https://www.migrationsverket.se/Andra-aktorer/EU-fonder/Programperiod-2021-2027/"
                    "Utlysningar/Planerade-utlysningar.html")

    async def start(self):
        if self.source_locked:
            return
        for url in self.source.urls:
            yield self.request(url, self.parse, role="sitemap").replace(errback=self._sitemap_failed)

    # -- the sitemap ------------------------------------------------------------------------------
    def parse(self, response):
        """The sitemap: requests for the planned-calls page and the fund-news list."""
        locs = self._parse_sitemap(response)
        if locs is None:
            self.layout_changed(response, "a readable gzip or XML sitemap")
            yield self._fallback_request()
            return
        planned = [u for u in locs if _last_segment(u).startswith("planerade-utlysningar")]
        news = [u for u in locs if _last_segment(u) == "nyheter-for-fonder"]  # the list, not its items
        if not planned:
            self.layout_changed(response, "a <loc> for eu-fonder planerade-utlysningar")
            yield self._fallback_request()
        else:
            self.carried(response)
            if len(planned) > 1:
                self.logger.warning("several planned-calls pages in the sitemap, using the first: %s", planned)
            yield self.request(planned[0], self.parse_calls, role="planned-calls")
        for url in news:
            yield self.request(url, self.parse_news, role="fund-news")

    def _parse_sitemap(self, response) -> list[str] | None:
        """The kept `<loc>`s in sitemap order, or None when the body is not a sitemap."""
        body = response.body
        try:
            if body[:2] == b"\x1f\x8b":
                body = gunzip(body, max_size=self.settings.getint("DOWNLOAD_MAXSIZE") if self.settings else 0)
            sitemap = Sitemap(body)
        except (OSError, EOFError, zlib.error, ValueError, StopIteration) as exc:
            self.logger.error("sitemap %s unreadable: %s", response.url, exc)
            return None
        if sitemap.type not in ("urlset", "sitemapindex"):
            return None
        return [entry["loc"] for entry in sitemap if self._wanted(entry.get("loc", ""))]

    @staticmethod
    def _wanted(url: str) -> bool:
        path = urlsplit(url).path.casefold()
        return "eu-fonder" in path and ("utlysning" in path or "nyheter-for-fonder" in path)

    def _sitemap_failed(self, failure):
        self._on_page_error(failure)
        self.health.fell_back(failure.request.url)
        yield self._fallback_request()

    def _fallback_request(self):
        self.logger.warning("sitemap gave no planned-calls page; falling back to %s", self.fallback_url)
        return self.request(self.fallback_url, self.parse_calls, role="planned-calls")

    # -- planned calls ----------------------------------------------------------------------------
    def parse_calls(self, response):
        calls = self._parse_call_sections(response)
        if not calls:
            if NO_CALLS.search(" ".join(response.css("main ::text, [role=main] ::text").getall())):
                self.carried(response)  # "Just nu finns inga planerade utlysningar"
            else:
                self.layout_changed(response, "labels Öppnar, Stänger, Tillgängliga medel")
            return
        for group, section in calls:
            labels = section.labels(LABELS)
            yield self.make_item(
                response, kind="funding_call", key=section.heading, title=section.heading,
                opens=self._parse_opens(labels),
                deadline=self._parse_deadline(labels), deadline_text=labels.get("deadline"),
                amount_text=labels.get("amount"), amount_sek=parse_amount(labels.get("amount") or ""),
                competitive=self._parse_competitive(section.text, group),
                status="unknown", text=section.text, details=self._parse_details(section),
            )

    def _parse_call_sections(self, response) -> list[tuple[str, sitevision.Section]]:
        """(group heading, call section) per call. Calls are the headings at the level where the
        key labels sit; deeper headings belong to the call above, shallower ones are groups
        ("Konkurrerande utlysningar")."""
        flat = sitevision.sections(sitevision.content_root(response))
        levels = Counter(s.level for s in flat if s.heading and self._has_key_labels(s))
        if not levels:
            return []
        top = max(levels.values())
        call_level = min(level for level, n in levels.items() if n == top)
        calls: list[tuple[str, sitevision.Section]] = []
        group, current = "", None
        for section in flat:
            if section.level and section.level < call_level:
                group, current = section.heading, None
            elif section.level == call_level:
                current = None
                if self._has_key_labels(section):
                    current = sitevision.Section(section.heading, section.level, list(section.blocks))
                    calls.append((group, current))
            elif current is not None:  # a deeper heading inside the call: part of its text
                current.blocks.extend([section.head, *section.blocks])
        return [split for group, call in calls for split in self._split_accordions(group, call)]

    def _split_accordions(self, group: str, call: sitevision.Section) -> list[tuple[str, sitevision.Section]]:
        """A heading over several calls, each in its own accordion (a label such as Stänger more
        than once): one call per accordion that holds the labels, under the heading as group."""
        kinds = Counter(KEY_LABELS[_norm_label(label).casefold()] for label, _ in call.pairs()
                        if _norm_label(label).casefold() in KEY_LABELS)
        if not kinds or max(kinds.values()) == 1:
            return [(group, call)]
        split = []
        for block in call.blocks:
            for acc in sitevision.accordions(block):
                section = sitevision.Section(acc.title, call.level + 1, [acc.body.root])
                if acc.title and self._has_key_labels(section):
                    split.append((call.heading, section))
        return split or [(group, call)]

    @staticmethod
    def _has_key_labels(section: sitevision.Section) -> bool:
        return any(_norm_label(label).casefold() in KEY_LABELS for label, _ in section.pairs())

    @staticmethod
    def _parse_opens(labels: dict[str, str]):
        return parse_date(labels["opens"]).date if labels.get("opens") else None

    @staticmethod
    def _parse_deadline(labels: dict[str, str]):
        return parse_date(labels["deadline"]).date if labels.get("deadline") else None

    @staticmethod
    def _parse_competitive(text: str, group: str) -> bool | None:
        """The call's own words first, then its group heading; both kinds named: unknown."""
        for words in (text, group):
            icke = bool(ICKE.search(words))
            konk = bool(KONK.search(ICKE.sub(" ", words)))
            if icke != konk:
                return konk
        return None

    @staticmethod
    def _parse_details(section: sitevision.Section) -> dict[str, str]:
        wanted = {label.casefold() for label in DETAIL_LABELS}
        details: dict[str, str] = {}
        for label, value in section.pairs():
            label = _norm_label(label)
            if label.casefold() in wanted and label not in details:
                details[label] = value
        return details

    # -- fund news --------------------------------------------------------------------------------
    def parse_news(self, response):
        entries = sitevision.channel_items(response)
        if not entries:
            if sitevision.channel_lists(sitevision.content_root(response)):
                self.logger.warning("news list %s is empty", response.url)
                self.carried(response)
            else:
                self.layout_changed(response, "news list li.sv-channel-item")
            return
        for entry in entries:
            yield self.make_item(
                response, kind="news", key=entry.url, title=entry.title, url=entry.url,
                published=entry.published, text=entry.summary,
            )
