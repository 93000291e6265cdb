"""What every fundwatch spider shares: its source from the sources file, requests that report to
the run's health, and items with their origin page. An agency spider sets `name` and `agency` and
builds `parse()` from small `_parse_*` helpers (City Scrapers style)."""

from __future__ import annotations

from typing import Any

import scrapy
from scrapy import signals
from scrapy.spidermiddlewares.httperror import HttpError

from fundwatch.items import FundItem
from fundwatch.sources import Source, load_sources
from fundwatch.spiders.health import RunHealth
from fundwatch.spiders.httpcache import REVALIDATED
from fundwatch.spiders.middlewares import describe_error
from fundwatch.spiders.normalise import normalise_text


class FundSpider(scrapy.Spider):
    agency: str = ""

    def __init__(self, source: str | None = None, sources_file: str | None = None, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.source_id = source or self.name
        self.sources_file = sources_file
        self.source: Source | None = None
        self.health = RunHealth()

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        sources = load_sources(spider.sources_file or crawler.settings.get("FUNDWATCH_SOURCES") or None)
        spider.source = sources.get(spider.source_id)
        if spider.source.spider != spider.name:
            raise ValueError(f"source {spider.source_id!r} is crawled by spider {spider.source.spider!r}, not {spider.name!r}")
        spider.agency = spider.source.agency
        spider.health.must_carry = spider.source.must_carry
        spider.health.start_pages = set(spider.source.urls)
        crawler.signals.connect(spider._on_response, signal=signals.response_received)
        crawler.signals.connect(spider._on_error, signal=signals.spider_error)
        crawler.signals.connect(spider._on_item, signal=signals.item_scraped)
        return spider

    # -- requests -------------------------------------------------------------------------------
    source_locked = False  # set by the storage pipeline when another crawl holds the source

    async def start(self):
        if self.source_locked:
            return
        for url in self.source.urls:
            yield self.request(url, self.parse)

    def request(self, url: str, callback, role: str | None = None, **kwargs: Any) -> scrapy.Request:
        meta = kwargs.pop("meta", {})
        meta["page_role"] = role
        self.health.page(url, role)
        return scrapy.Request(url, callback=callback, errback=self._on_page_error, meta=meta, **kwargs)

    def _page_url(self, request) -> str:
        return (request.meta.get("redirect_urls") or [request.url])[0]

    def _on_response(self, response, request, spider) -> None:
        if request.meta.get("dont_obey_robotstxt") or not 200 <= response.status < 300:
            return  # robots.txt is tracked by its middleware; errors by the errback
        self.health.page_ok(self._page_url(request), response.status, response.url,
                            request.meta.get("page_role"), bool(request.meta.get(REVALIDATED)),
                            tuple(request.meta.get("redirect_reasons") or ()))

    def _on_page_error(self, failure) -> None:
        request = failure.request
        status = failure.value.response.status if failure.check(HttpError) else None
        error = f"HTTP {status}" if status else describe_error(failure.value)
        self.health.page_failed(self._page_url(request), status, error, request.meta.get("page_role"))
        self.logger.error("page failed: %s: %s", request.url, error)

    def _on_error(self, failure, response, spider) -> None:
        self.health.callback_error(response.url, f"{failure.type.__name__}: {failure.value}")

    def _on_item(self, item, response, spider) -> None:
        self.health.item_from(item.origin)
        # "Ej bestämt" is a deadline as stated; a recurring rule is one too
        self.health.item_fields(item.kind, bool(item.deadline or item.deadline_text or item.deadline_rule),
                                bool(item.opens), bool(item.amount_text or item.amount_sek))

    # -- items and page checks ------------------------------------------------------------------
    def page_url(self, response) -> str:
        """The URL the spider asked for, before any redirect: the page's identity."""
        return self._page_url(response.request) if response.request is not None else response.url

    def make_item(self, response, *, kind: str, key: str, title: str, url: str | None = None, **fields: Any) -> FundItem:
        """The item, its text without volatile phrases (stamps, countdowns, toolbars): compared text."""
        fields["text"] = normalise_text(fields.get("text"))
        return FundItem(agency=self.agency, kind=kind, key=key, title=title,
                        url=url or response.url, origin=response.url, source=self.source_id, **fields)

    def carried(self, response) -> None:
        """The page held what was expected, though it yields no items itself (a hub of links)."""
        self.health.carried(self.page_url(response))

    def layout_changed(self, response, missing: str) -> None:
        """The page no longer looks as expected: the run fails with this reason, nothing is removed."""
        self.health.layout_changed(self.page_url(response), missing)
        self.logger.error("layout changed on %s: missing %s", response.url, missing)
