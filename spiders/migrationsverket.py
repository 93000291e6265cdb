"""Migrationsverket: AMIF calls from the page "Planerade utlysningar" and the fund news list.

The rebuilt site's address of the EU-fonder section is not known, so discovery starts at the
gzipped sitemap: keep `<loc>`s whose path holds `eu-fonder` and `utlysning` or
`nyheter-for-fonder`; the old mixed-case URL is the fallback when the sitemap fails or lists no
planned-calls page. One `funding_call` per call the reader finds (spiders/reader.py: a heading owning
Öppnar, Stänger or Tillgängliga medel in any form), one `news` item per list entry.
"""

from __future__ import annotations

import re
import zlib
from urllib.parse import urlsplit

from scrapy.utils.gz import gunzip
from scrapy.utils.sitemap import Sitemap

from fundwatch.items import OPENS_FORECAST, forecast_sv
from fundwatch.labels import CALL_LABELS
from fundwatch.spiders import sitevision
from fundwatch.spiders.base import FundSpider
from fundwatch.spiders.reader import read_calls, split_period
from fundwatch.swedish import parse_amount, parse_date

LABELS = CALL_LABELS
DETAIL_FIELDS = ("funding", "support_rate", "project_start")  # kept under the label as written
NO_CALLS = re.compile(r"\binga (planerade )?utlysningar\b", re.I)


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
        calls = read_calls(response, LABELS)
        if not calls:
            if NO_CALLS.search(" ".join(response.css("main ::text, [role=main] ::text").getall())):
                self.carried(response)  # "Just nu finns inga planerade utlysningar"
            else:
                self.layout_changed(response, "labels Öppnar, Stänger, Tillgängliga medel")
            return
        for call in calls:
            yield self._parse_call(response, call)

    def _parse_call(self, response, call):
        facts = dict(zip(("opens", "deadline"), split_period(call.facts.get("period", "")))) | call.facts
        opens = parse_date(facts["opens"]) if facts.get("opens") else None
        deadline = self._parse_date(facts.get("deadline"))
        details = {call.labels[name]: facts[name] for name in DETAIL_FIELDS if name in facts}
        status = "closed" if call.closed else "upcoming" if call.upcoming else "unknown"
        if opens and opens.date is None and opens.partial:  # "Öppnar: Hösten 2027": a forecast, never a day
            details[OPENS_FORECAST] = forecast_sv(opens.partial)
            status = "planned" if status == "unknown" and deadline is None else status
        return self.make_item(
            response, kind="funding_call", key=call.key, title=call.title,
            opens=opens.date if opens else None, deadline=deadline, deadline_text=facts.get("deadline"),
            amount_text=facts.get("amount"), amount_sek=parse_amount(facts.get("amount") or ""),
            competitive=call.competitive, status=status, text=call.text, details=details,
        )

    @staticmethod
    def _parse_date(text: str | None):
        return parse_date(text).date if text else None

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
