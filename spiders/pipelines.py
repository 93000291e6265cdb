"""From items to history. Items are validated, given their stable id and spooled to a file
(storage/spool.py); when the spider closes, the run's outcome is decided (spiders/health.py).

The run is recorded the same way whoever starts the crawl (storage/runlife.py: begin, spool,
apply in one transaction): under `fundwatch crawl` (FUNDWATCH_RUN_ID set) the parent process has
begun the run and applies the spool and outcome when this process exits; a `scrapy crawl` on its
own makes the same calls here, beginning when the spider opens and applying when it closes.
Either way a killed crawl leaves a `running` row (later: interrupted) and nothing half-applied.
Only a `scrapy crawl` on its own imports the storage modules: SQLAlchemy would add about 0.2 s of
start-up to every `fundwatch crawl` child (bench/README.md)."""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.exceptions import DropItem

from fundwatch.items import KINDS, FundItem, item_id
from fundwatch.storage.spool import Spool, discard_run_files, run_files

if TYPE_CHECKING:
    from fundwatch.storage.runlife import Heartbeat

logger = logging.getLogger(__name__)
DEADLINE_COVERAGE_MIN = 0.9


def write_result(path: str | None, data: dict) -> None:
    """Tell the parent `fundwatch crawl` what happened (the run's outcome, or its summary)."""
    if not path:
        return
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)


class StoragePipeline:
    def __init__(self, crawler):
        settings = crawler.settings
        self.crawler = crawler
        self.result_file = settings.get("FUNDWATCH_RESULT_FILE")
        self.remove_after = settings.getint("FUNDWATCH_REMOVE_AFTER_MISSES", 2)
        # Under `fundwatch crawl`: the run it began, whose spool file it will apply.
        self.run_id: int | None = settings.getint("FUNDWATCH_RUN_ID") or None
        self.records_run = self.run_id is None  # a `scrapy crawl` on its own
        self.retry_for = 0.0
        if self.records_run:
            from fundwatch.storage.runlife import storage_retry_seconds

            self.retry_for = storage_retry_seconds()
        self.heartbeat: Heartbeat | None = None
        self.spool: Spool | None = None
        self.spool_error: OSError | None = None
        self.slugs: Counter[str] = Counter()
        self.calls = self.calls_with_deadline = 0
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def open_spider(self, spider=None) -> None:
        spider = spider or self.crawler.spider
        if self.records_run:
            if not self._begin(spider):
                return
            from fundwatch.storage.runlife import Heartbeat

            self.heartbeat = Heartbeat(self.sessions, spider.source_id).start()
        self.spool_path = run_files(self.run_id)[0]
        self.spool = Spool(self.spool_path)
        logger.info("run %s of %s started", self.run_id, spider.source_id, extra={"spider": spider})

    def _begin(self, spider) -> bool:
        from fundwatch.storage.db import get_engine, session_factory
        from fundwatch.storage.runlife import SourceLocked, begin_run

        self.sessions = session_factory(get_engine())
        try:
            self.run_id = begin_run(self.sessions, spider.source_id, spider.agency, spider.name)
        except SourceLocked as exc:
            logger.error("%s", exc, extra={"spider": spider})
            spider.source_locked = True  # its start() yields nothing: no request, no run row
            return False
        return True

    def process_item(self, item, spider=None):
        if self.spool is None:
            raise DropItem("no run: the source is locked by another crawl")
        if not isinstance(item, FundItem):
            raise DropItem(f"not a FundItem: {type(item).__name__}")
        if not item.title or not item.url or item.kind not in KINDS:
            raise DropItem(f"item without title, url or valid kind on {item.origin}")
        spider = spider or self.crawler.spider
        if spider.health.shown_elsewhere(item.origin):
            raise DropItem(f"{item.origin} is redirected elsewhere for now: what it shows is not its content")
        base = item_id(item.agency, item.kind, item.key)
        self.slugs[base] += 1
        item.id = base if self.slugs[base] == 1 else f"{base}-{self.slugs[base]}"
        if item.kind == "funding_call":
            self.calls += 1
            if item.deadline or item.deadline_text or item.deadline_rule:
                self.calls_with_deadline += 1
        try:
            self.spool.write(item)
        except OSError as exc:  # a full disk: an item not spooled must not count as missing
            self.spool_error = self.spool_error or exc
            raise DropItem(f"could not spool the item: {exc.strerror}") from None
        return item

    def spider_closed(self, spider, reason) -> None:
        if self.spool is None:
            return
        try:
            self.spool.close()
        except OSError as exc:
            self.spool_error = self.spool_error or exc
        health = spider.health
        if self.calls and self.calls_with_deadline / self.calls < DEADLINE_COVERAGE_MIN:
            health.warn("low_deadline_coverage", with_deadline=self.calls_with_deadline, total=self.calls)
        outcome = health.outcome(reason)
        if self.spool_error is not None:
            outcome.fail("disk_full", {"path": os.path.dirname(self.spool_path),
                                       "error": self.spool_error.strerror or str(self.spool_error)})
        if not self.records_run:  # the parent applies the spool; this process exits next
            write_result(self.result_file, {"run_id": self.run_id, "outcome": outcome.to_json()})
            logger.info("run %s of %s: %s, %d items spooled", self.run_id, spider.source_id, outcome.status,
                        self.spool.count, extra={"spider": spider})
            return

        from fundwatch.storage.runlife import apply_run

        self.heartbeat.stop()
        try:
            summary = apply_run(self.sessions, self.run_id, spider.source_id, outcome, self.spool_path,
                                remove_after=self.remove_after, retry_for=self.retry_for)
        finally:
            discard_run_files(self.run_id)
        write_result(self.result_file, summary)
        logger.info("run %s of %s: %s", self.run_id, spider.source_id, summary, extra={"spider": spider})
