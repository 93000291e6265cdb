"""An HTTP cache that only ever saves bandwidth, never freshness. A monitor must ask the server
every run: RFC2616Policy serves heuristically fresh pages without asking (a missed change), sends
no validators after `Cache-Control: no-cache`, serves the cached copy on 5xx, and the middleware
serves it on a download error (an outage that looks like "no change")."""

from __future__ import annotations

import pickle
import sqlite3
import time
from pathlib import Path

from scrapy.downloadermiddlewares.httpcache import HttpCacheMiddleware
from scrapy.extensions.httpcache import RFC2616Policy
from scrapy.utils.project import data_path
from scrapy.utils.response import response_from_dict

REVALIDATED = "fundwatch_revalidated"  # request.meta flag: the server answered 304


class AlwaysRevalidatePolicy(RFC2616Policy):
    def should_cache_response(self, response, request) -> bool:
        # Keep every 200 with a validator: that is what makes a 304 possible next run.
        # never a body cut off by a dropped connection (flag `partial`): a 304 would hand it back
        return (response.status == 200 and "partial" not in response.flags
                and (b"ETag" in response.headers or b"Last-Modified" in response.headers))

    def is_cached_response_fresh(self, cachedresponse, request) -> bool:
        self._set_conditional_validators(request, cachedresponse)  # always ask
        return False

    def _set_conditional_validators(self, request, cachedresponse) -> None:
        if b"Last-Modified" in cachedresponse.headers:
            request.headers[b"If-Modified-Since"] = cachedresponse.headers[b"Last-Modified"]
        if b"ETag" in cachedresponse.headers:
            request.headers[b"If-None-Match"] = cachedresponse.headers[b"ETag"]

    def is_cached_response_valid(self, cachedresponse, response, request) -> bool:
        return response.status == 304  # never a stale copy in place of a 5xx


class RevalidatingCacheMiddleware(HttpCacheMiddleware):
    def spider_closed(self, spider, reason=None):  # Scrapy's passes no reason; our storage needs it
        if isinstance(self.storage, SqliteCacheStorage):
            self.storage.close_spider(spider, reason)
        else:
            self.storage.close_spider(spider)

    def process_response(self, request, response, spider=None):
        if response.status == 304 and request.meta.get("cached_response") is not None:
            request.meta[REVALIDATED] = True
            self.stats.inc_value("fundwatch/revalidated_304")
        return super().process_response(request, response)

    def process_exception(self, request, exception, spider=None):
        request.meta.pop("cached_response", None)  # no error recovery from cache: a failure is a failure
        return None


class SqliteCacheStorage:
    """Scrapy cache storage in one SQLite file per source (stdlib sqlite3, WAL). Unlike dbm.dumb,
    which only ever appends, a replaced page reuses its space, and the entries of URLs no longer
    crawled expire: not requested in the last FUNDWATCH_CACHE_EXPIRE_RUNS crawls that finished
    and not for FUNDWATCH_CACHE_EXPIRE_DAYS days (both, so an outage or a paused source keeps its
    validators); the freed pages are returned to the file system.

    Per source, not per spider: a crawl holds its file's write lock from its first stored page to
    its end, and the sources read by one spider (the configured funders' `listing`) crawl in
    parallel."""

    def __init__(self, settings):
        self.cachedir = Path(data_path(settings["HTTPCACHE_DIR"], createdir=True))
        self.expire_runs = settings.getint("FUNDWATCH_CACHE_EXPIRE_RUNS", 5)
        self.expire_secs = settings.getfloat("FUNDWATCH_CACHE_EXPIRE_DAYS", 30) * 86400
        self.db: sqlite3.Connection | None = None
        self.run = 0
        self.unsaved = 0

    def open_spider(self, spider) -> None:
        self.fingerprint = spider.crawler.request_fingerprinter.fingerprint
        # One file per source: the crawlers of a host group share a process, and two connections
        # of one thread to one file would wait on each other's write transaction.
        name = getattr(spider, "source_id", None) or spider.name
        self.db = sqlite3.connect(self.cachedir / f"{name}.sqlite3", timeout=30, isolation_level=None)
        self.db.execute("PRAGMA auto_vacuum = INCREMENTAL")  # takes effect when the file is new
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")  # a cache: losing the last pages to a power cut is harmless
        self.db.executescript(
            "CREATE TABLE IF NOT EXISTS runs (n INTEGER PRIMARY KEY);"
            "CREATE TABLE IF NOT EXISTS pages (key TEXT PRIMARY KEY, url TEXT NOT NULL, response BLOB NOT NULL,"
            " stored REAL NOT NULL, seen REAL NOT NULL, seen_run INTEGER NOT NULL);")
        with self.db:
            self.run = self.db.execute("INSERT INTO runs DEFAULT VALUES").lastrowid
        self.db.execute("BEGIN")

    def close_spider(self, spider, reason: str | None = None) -> None:
        self.db.execute("COMMIT")
        if reason in (None, "finished"):  # only a whole crawl says which URLs are gone
            self.expire()
        self.db.close()
        self.db = None

    def expire(self, now: float | None = None) -> int:
        now = time.time() if now is None else now
        with self.db:
            gone = self.db.execute("DELETE FROM pages WHERE seen_run <= ? AND seen < ?",
                                   (self.run - self.expire_runs, now - self.expire_secs)).rowcount
            self.db.execute("DELETE FROM runs WHERE n < ?", (self.run - self.expire_runs,))
        if gone:
            self.db.executescript("PRAGMA incremental_vacuum;")  # execute() would free one page only
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return gone

    def _key(self, request) -> str:
        return self.fingerprint(request).hex()

    def retrieve_response(self, spider, request):
        key = self._key(request)
        row = self.db.execute("SELECT response, stored FROM pages WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        self.db.execute("UPDATE pages SET seen = ?, seen_run = ? WHERE key = ?", (time.time(), self.run, key))
        request.meta["cache_timestamp"] = row[1]
        return response_from_dict(pickle.loads(row[0]))  # noqa: S301 - our own file, as Scrapy's storages

    def store_response(self, spider, request, response) -> None:
        now = time.time()
        self.db.execute("INSERT OR REPLACE INTO pages VALUES (?, ?, ?, ?, ?, ?)",
                        (self._key(request), response.url, pickle.dumps(response.to_dict(), protocol=4), now, now,
                         self.run))
        self.unsaved += 1
        if self.unsaved >= 100:  # a killed crawl keeps most of what it fetched
            self.db.execute("COMMIT")
            self.db.execute("BEGIN")
            self.unsaved = 0
