"""Generic page watch: one `page` item per URL holding the page's main text. Watching one more
page of any site is one [[source]] with spider = "page" in the sources file.

The item keeps the identity of the configured URL. When that URL redirects to another page, the
target stands for it only if it carries the watched page: its title, or most of its words, as last
stored (a moved page). A target that does not (a maintenance page) is a layout change of the
watched page, so the run's health says `redirected` and nothing of the target is stored, as for
the structured spiders; a temporary redirect elsewhere is that already (spiders/health.py)."""

from __future__ import annotations

import logging
import os
import re
from collections import Counter

from scrapy import signals
from scrapy.http import TextResponse

from fundwatch.errors import UserError
from fundwatch.items import item_id
from fundwatch.spiders.base import FundSpider
from fundwatch.spiders.extract import page_text
from fundwatch.spiders.extract_worker import ExtractWorker, WorkerGone
from fundwatch.spiders.health import same_page
from fundwatch.spiders.normalise import normalise_text

logger = logging.getLogger(__name__)
SHARED_WORDS_MIN = 0.5  # of the longer text's words: a moved page keeps most of them, a maintenance page few
_WORD = re.compile(r"\w+")


def carries(before: tuple[str, str], title: str, text: str) -> bool:
    """Whether a page with TITLE and TEXT is the page last stored as BEFORE (title, text)."""
    if " ".join(title.split()).casefold() == " ".join(before[0].split()).casefold():
        return True
    old, new = (Counter(_WORD.findall(t.casefold())) for t in (before[1], text))
    longer = max(sum(old.values()), sum(new.values()))
    return longer > 0 and sum((old & new).values()) / longer >= SHARED_WORDS_MIN


class PageSpider(FundSpider):
    name = "page"
    worker: ExtractWorker | None = None

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        many = crawler.settings.getint("FUNDWATCH_EXTRACT_WORKER_MIN_PAGES")
        if many and len(spider.source.urls) >= many and (os.cpu_count() or 1) > 1:
            spider.worker = ExtractWorker()
            crawler.signals.connect(spider.worker.close, signal=signals.spider_closed)
        return spider

    async def parse(self, response):
        if not isinstance(response, TextResponse):  # a PDF or image is not a page to diff
            self.layout_changed(response, "HTML content")
            return
        text, title = await self._read(response)
        if not text:
            self.layout_changed(response, "any main-content text")
            return
        watched = self.page_url(response)
        title = title or response.url
        if not same_page(watched, response.url) and not self._stands_for(watched, title, normalise_text(text)):
            self.layout_changed(response, "the watched page's title and text")
            return
        yield self.make_item(response, kind="page", key=watched, title=title, text=text)

    async def _read(self, response) -> tuple[str, str]:
        """(main text, title) of the page: from the worker when there is one; in this process when
        there is none or it has gone (the crawl goes on, a little slower)."""
        worker = self.worker
        if worker is not None:
            try:
                return await worker.page_text(response.body, response.encoding)
            except WorkerGone as exc:
                if self.worker is worker:  # once, not for every page that was waiting on it
                    logger.warning("%s; reading the pages in the crawl's own process", exc)
                    self.worker = None
        return page_text(response.body, response.encoding)

    def _stands_for(self, watched: str, title: str, text: str) -> bool:
        """A redirect target stands for the watched page when it carries what was last stored of it;
        a page never stored yet has nothing to compare with. A database that cannot be read makes
        it not stand for it: a false `redirected` is safe, a maintenance page stored is not."""
        # Imported here, on a redirect only: the crawl child otherwise never loads SQLAlchemy (its start-up).
        from sqlalchemy.exc import SQLAlchemyError

        from fundwatch.storage.db import get_engine, session_factory
        from fundwatch.storage.queries import stored_content

        try:
            with session_factory(get_engine(migrate=False))() as session:
                before = stored_content(session, item_id(self.agency, "page", watched))
        except (SQLAlchemyError, UserError) as exc:
            logger.error("cannot compare %s with the page last stored: %s", watched, str(exc).splitlines()[0])
            return False
        return before is None or carries(before, title, text)
