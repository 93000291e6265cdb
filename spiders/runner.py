"""The crawl child of `fundwatch crawl`: several sources crawled in one process, one Scrapy crawler
per source in one reactor, so the sources of one host group pay Scrapy's start-up once.

    python -m fundwatch.spiders.runner '{"sources_file": ..., "settings": {...}, "crawls": [...]}'

Each entry of "crawls" is one source: its spider, its own settings (the run id, the result file the
storage pipeline reports its outcome to, FUNDWATCH_SINCE ...) and its own log file. The parent
(fundwatch/crawl.py) has begun every run and applies each one as its result file appears; a
crawler that fails to start reports nothing and its run is closed by the parent as crashed.

Per-host politeness holds between the crawlers of this process as between processes: the host's
lock and pace are taken at the moment a request is sent (spiders/pacing.py). A `scrapy crawl` by
hand is untouched by this module."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from typing import Any

from scrapy.crawler import AsyncCrawlerProcess, Crawler
from scrapy.utils.project import get_project_settings

# The crawler whose code is running: set while each crawler's task is created, so everything that
# task and its children log is that crawler's (asyncio copies the context into each task).
_current_crawler: contextvars.ContextVar[Crawler | None] = contextvars.ContextVar("fundwatch_crawler", default=None)
SHARED_SETTING = "FUNDWATCH_CRAWL_GROUP"  # set on every crawler of this process: they may share state


class OneCrawlerOnly(logging.Filter):
    """The records of one crawler: those naming its spider (Scrapy's own name the spider they are
    about), else those logged from its task."""

    def __init__(self, crawler: Crawler):
        super().__init__()
        self.crawler = crawler

    def filter(self, record: logging.LogRecord) -> bool:
        spider = getattr(record, "spider", None)
        if spider is not None:
            return getattr(spider, "crawler", None) is self.crawler
        return _current_crawler.get() is self.crawler


def log_to_file(crawler: Crawler, path: str) -> logging.Handler:
    settings = crawler.settings
    handler = logging.FileHandler(path, mode="w", encoding=settings.get("LOG_ENCODING") or "utf-8")
    handler.setFormatter(logging.Formatter(settings.get("LOG_FORMAT"), settings.get("LOG_DATEFORMAT")))
    handler.setLevel(settings.get("LOG_LEVEL"))
    handler.addFilter(OneCrawlerOnly(crawler))
    logging.root.addHandler(handler)
    return handler


def run(spec: dict[str, Any]) -> int:
    settings = get_project_settings()
    settings.setdict(spec.get("settings") or {}, priority="cmdline")
    settings.set(SHARED_SETTING, str(spec.get("group") or "group"), priority="cmdline")
    process = AsyncCrawlerProcess(settings)
    for crawl in spec["crawls"]:
        crawler = process.create_crawler(crawl["spider"])
        crawler.settings.setdict(crawl.get("settings") or {}, priority="cmdline")
        if crawl.get("log_file"):
            log_to_file(crawler, crawl["log_file"])
        token = _current_crawler.set(crawler)
        try:
            process.crawl(crawler, source=crawl["source"], sources_file=spec.get("sources_file"))
        finally:
            _current_crawler.reset(token)
    process.start()
    return 1 if process.bootstrap_failed else 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m fundwatch.spiders.runner SPEC_JSON", file=sys.stderr)
        return 2
    return run(json.loads(args[0]))


if __name__ == "__main__":
    sys.exit(main())
