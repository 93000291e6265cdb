"""The HTTP cache file: a replaced page reuses its space, and pages of URLs no longer crawled
expire (after enough finished crawls and days) and give their space back; revalidation itself is
tested against a mirror in test_crawl_health.py."""

from __future__ import annotations

import datetime as dt
import sqlite3

import time_machine
from scrapy import Spider
from scrapy.http import HtmlResponse, Request
from scrapy.utils.test import get_crawler

from fundwatch.spiders.httpcache import SqliteCacheStorage

T0 = dt.datetime(2027, 1, 4, 6, 0, tzinfo=dt.UTC)


def page(n: int, size: int = 40_000) -> tuple[Request, HtmlResponse]:
    url = f"https://www.example.se/utlysningar/{n}"
    body = (f"<html><body><h1>Utlysning {n}</h1>" + "<p>Stöd till föreningar.</p>" * (size // 28)).encode()
    return Request(url), HtmlResponse(url, body=body, headers={"ETag": f'"{n}"'})


def crawl(tmp_path, urls: range, *, reason: str = "finished", stored: bool = True):
    """One crawl that requests URLS (storing a fresh copy of each, as a 200 does)."""
    crawler = get_crawler(Spider, {"HTTPCACHE_DIR": str(tmp_path), "FUNDWATCH_CACHE_EXPIRE_RUNS": 3,
                                   "FUNDWATCH_CACHE_EXPIRE_DAYS": 10})
    spider = Spider.from_crawler(crawler, name="mv")
    storage = SqliteCacheStorage(crawler.settings)
    storage.open_spider(spider)
    for n in urls:
        request, response = page(n)
        storage.retrieve_response(spider, request)
        if stored:
            storage.store_response(spider, request, response)
    storage.close_spider(spider, reason)
    return storage


def cached(tmp_path) -> set[str]:
    with sqlite3.connect(tmp_path / "mv.sqlite3") as db:
        return {url.rsplit("/", 1)[1] for (url,) in db.execute("SELECT url FROM pages")}


def test_a_cached_page_comes_back_with_its_validators(tmp_path):
    crawl(tmp_path, range(2))
    crawler = get_crawler(Spider, {"HTTPCACHE_DIR": str(tmp_path)})
    spider = Spider.from_crawler(crawler, name="mv")
    storage = SqliteCacheStorage(crawler.settings)
    storage.open_spider(spider)
    request, response = page(1)
    hit = storage.retrieve_response(spider, request)
    assert hit.body == response.body and hit.headers[b"ETag"] == b'"1"' and hit.url == response.url
    assert storage.retrieve_response(spider, Request("https://www.example.se/annat")) is None
    storage.close_spider(spider, "finished")


def test_pages_no_longer_crawled_expire_and_the_file_shrinks(tmp_path):
    file = tmp_path / "mv.sqlite3"
    with time_machine.travel(T0, tick=False):
        crawl(tmp_path, range(100))  # 100 pages of 40 kB
    full = file.stat().st_size
    assert full > 100 * 40_000
    for day in range(1, 4):  # the site now lists 5 of them; pages are replaced in place
        with time_machine.travel(T0 + dt.timedelta(days=day), tick=False):
            crawl(tmp_path, range(5))
    assert file.stat().st_size <= full * 1.05  # replaced pages reuse their space (dbm.dumb appends)
    assert len(cached(tmp_path)) == 100  # three crawls, but only three days: kept
    with time_machine.travel(T0 + dt.timedelta(days=12), tick=False):
        crawl(tmp_path, range(5))
    assert cached(tmp_path) == {str(n) for n in range(5)}
    assert file.stat().st_size < full / 5
    assert not (tmp_path / "mv.sqlite3-wal").exists() or (tmp_path / "mv.sqlite3-wal").stat().st_size == 0


def test_an_interrupted_crawl_or_a_pause_expires_nothing(tmp_path):
    with time_machine.travel(T0, tick=False):
        crawl(tmp_path, range(10))
    with time_machine.travel(T0 + dt.timedelta(days=40), tick=False):  # long ago, but one crawl since
        crawl(tmp_path, range(2))
    assert len(cached(tmp_path)) == 10
    for day in range(41, 45):  # crawls that did not finish say nothing about which pages are gone
        with time_machine.travel(T0 + dt.timedelta(days=day), tick=False):
            crawl(tmp_path, range(2), reason="shutdown")
    assert len(cached(tmp_path)) == 10
    for day in range(45, 48):
        with time_machine.travel(T0 + dt.timedelta(days=day), tick=False):
            crawl(tmp_path, range(2))
    assert cached(tmp_path) == {"0", "1"}


def test_a_page_requested_but_answered_304_stays_cached(tmp_path):
    """A revalidated page is not stored again (the 304 has no body): being asked for keeps it."""
    with time_machine.travel(T0, tick=False):
        crawl(tmp_path, range(3))
    for day in (20, 21, 22, 23):
        with time_machine.travel(T0 + dt.timedelta(days=day), tick=False):
            crawl(tmp_path, range(3), stored=False)
    assert cached(tmp_path) == {"0", "1", "2"}


def test_sources_of_one_spider_crawling_at_once_do_not_wait_for_each_other(tmp_path):
    """The configured funders are all crawled by spider `listing`, in parallel: each source has a file
    of its own, so one crawl's open write transaction never locks another out ("database is locked")."""
    storages = []
    for source in ("arvsfonden", "esf-utlysningar"):
        crawler = get_crawler(Spider, {"HTTPCACHE_DIR": str(tmp_path)})
        spider = Spider.from_crawler(crawler, name="listing")
        spider.source_id = source
        storage = SqliteCacheStorage(crawler.settings)
        storage.open_spider(spider)
        storages.append((spider, storage))
    for n, (spider, storage) in enumerate(storages):  # both write while both transactions are open
        storage.store_response(spider, *page(n))
    for spider, storage in storages:
        storage.close_spider(spider, "finished")
    assert sorted(p.name for p in tmp_path.glob("*.sqlite3")) == ["arvsfonden.sqlite3", "esf-utlysningar.sqlite3"]
