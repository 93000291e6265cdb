"""From items to history. When the spider opens: take the source's lock and commit a `running`
run. Items are validated, given their stable id and staged in short batches. When the spider
closes: the run's health and its items are applied in one transaction (storage/runs.py), so a
killed crawl leaves a `running` row (later: interrupted) and nothing half-applied."""

from __future__ import annotations

import gc
import json
import logging
import os
from collections import Counter

from scrapy import signals
from scrapy.exceptions import DropItem

from spiders.items import KINDS, FundItem, item_id
from storage import locks
from storage.db import get_engine, session_factory
from storage.reasons import reason_en
from storage.runs import finish_run, recover_interrupted, stage_items, start_run, fail_run

logger = logging.getLogger(__name__)
STAGE_BATCH = 200
DEADLINE_COVERAGE_MIN = 0.9


def write_result(path: str | None, data: dict) -> None:
    """Tell the parent `fundwatch crawl` what happened (run id, status, or the lock holder)."""
    if not path:
        return
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)


class StoragePipeline:
    def __init__(self, crawler):
        self.crawler = crawler
        self.result_file = crawler.settings.get("FUNDWATCH_RESULT_FILE")
        self.remove_after = crawler.settings.getint("FUNDWATCH_REMOVE_AFTER_MISSES", 2)
        self.stage_batch = crawler.settings.getint("FUNDWATCH_STAGE_BATCH", STAGE_BATCH)
        self.run_id: int | None = None
        self.buffer: list[FundItem] = []
        self.slugs: Counter[str] = Counter()
        self.calls = self.calls_with_deadline = 0
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def open_spider(self, spider=None) -> None:
        spider = spider or self.crawler.spider
        # FUNDWATCH_SCHEMA_READY: set by crawl_source, whose process has migrated the database
        self.engine = get_engine(migrate=not self.crawler.settings.getbool("FUNDWATCH_SCHEMA_READY"))
        self.sessions = session_factory(self.engine)
        with self.sessions() as session, session.begin():
            recover_interrupted(session)
        try:
            locks.acquire(self.sessions, spider.source_id)
        except locks.SourceLocked as exc:
            logger.error("%s", exc)
            write_result(self.result_file, {"locked": True, "message": str(exc)})
            spider.source_locked = True  # its start() yields nothing: no request, no run row
            return
        with self.sessions() as session, session.begin():
            run = start_run(session, spider.source_id, spider.agency, spider.name)
            locks.attach_run(session, spider.source_id, run.id)
            self.run_id = run.id
        write_result(self.result_file, {"run_id": self.run_id})
        logger.info("run %s of %s started", self.run_id, spider.source_id)
        if self.result_file:
            # A `fundwatch crawl` child: everything imported and built so far lives until the
            # process exits. Out of the collector's way, the crawl's collections stay small
            # (GC time of a 1,000-page crawl 0.31-0.37 s -> 0.14-0.16 s, bench/run.py).
            gc.freeze()

    def process_item(self, item, spider=None):
        if self.run_id is None:
            raise DropItem("no run: the source is locked by another crawl")
        if not isinstance(item, FundItem):
            raise DropItem(f"not a FundItem: {type(item).__name__}")
        if not item.title or not item.url or item.kind not in KINDS:
            raise DropItem(f"item without title, url or valid kind on {item.origin}")
        base = item_id(item.agency, item.kind, item.key)
        self.slugs[base] += 1
        item.id = base if self.slugs[base] == 1 else f"{base}-{self.slugs[base]}"
        if item.kind == "funding_call":
            self.calls += 1
            if item.deadline or item.deadline_text or item.deadline_rule:
                self.calls_with_deadline += 1
        self.buffer.append(item)
        if len(self.buffer) >= self.stage_batch:
            self._flush()
        return item

    def _flush(self) -> None:
        if self.buffer and self.run_id is not None:
            with self.sessions() as session, session.begin():
                stage_items(session, self.run_id, self.buffer)
            self.buffer = []

    def spider_closed(self, spider, reason) -> None:
        if self.run_id is None:
            return
        try:
            self._flush()
            health = spider.health
            if self.calls and self.calls_with_deadline / self.calls < DEADLINE_COVERAGE_MIN:
                health.warn("low_deadline_coverage", with_deadline=self.calls_with_deadline, total=self.calls)
            outcome = health.outcome(reason)
            with self.sessions() as session, session.begin():
                run = finish_run(session, self.run_id, outcome, remove_after=self.remove_after)
                locks.release(session, spider.source_id)
                summary = {
                    "run_id": run.id, "status": run.status, "pages": run.pages, "items": run.items,
                    "new": run.new, "updated": run.updated, "removed": run.removed,
                    "reappeared": run.reappeared, "reason": reason_en(run.reason_code, run.reason_params),
                }
        except Exception as exc:
            logger.exception("applying run %s failed", self.run_id)
            with self.sessions() as session, session.begin():
                fail_run(session, self.run_id, "callback_error", {"url": "(storage)", "error": str(exc)})
                locks.release(session, spider.source_id)
            summary = {"run_id": self.run_id, "status": "failed", "reason": f"storage error: {exc}"}
        write_result(self.result_file, summary)
        logger.info("run %s of %s: %s", self.run_id, spider.source_id, summary)
        if self.result_file:  # a `fundwatch crawl` child process, which exits once the spider closes
            self._before_exit()

    def _before_exit(self) -> None:
        """Close the database connections now (SQLite checkpoints its WAL here, not at exit), then
        freeze the garbage collector: the interpreter's collections at exit traverse the whole
        heap of Scrapy, Twisted, SQLAlchemy and lxml objects, ~0.3 s of a 1,000-page crawl's 4 s
        (bench/run.py). Objects created after this are collected as usual; nothing frozen holds
        data to flush (result file, log and database are closed explicitly). Only in the child
        process of crawl_source (FUNDWATCH_RESULT_FILE set), never in a long-lived process."""
        self.engine.dispose()
        gc.freeze()
