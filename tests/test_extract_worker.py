"""The page watch reads a large source's pages in a second process (spiders/extract_worker.py):
the same text and title as in the crawl's own process, an error where the crawl would have had
one, and a worker that dies costs speed, never a page."""

from __future__ import annotations

import asyncio
import logging
import shutil
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing

import pytest

from fundwatch.mirror_server import MirrorServer
from fundwatch.spiders.extract import page_text
from fundwatch.spiders.extract_worker import ExtractionError, ExtractWorker
from helpers import MIRROR, crawl_args, env_with, make_spider, mirror_response, run_cli, write_sources

PAGES = sorted(p for p in (MIRROR / "state1").rglob("*.html"))
COUNTY_PAGES = sorted((MIRROR / "state1" / "www.lansstyrelsen.se").rglob("*.html"))


def run(coro):
    """COROUTINE on a fresh event loop (a test process may already have one running)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=60)


def test_the_worker_reads_every_mirror_page_as_the_crawl_would_in_order():
    bodies = [p.read_bytes() for p in PAGES]

    async def read_all():
        worker = ExtractWorker()
        try:  # all at once: the answers must come back to the page that asked
            return await asyncio.gather(*(worker.page_text(body, "utf-8") for body in bodies))
        finally:
            await worker.close()

    assert len(bodies) > 50
    assert run(read_all()) == [page_text(body, "utf-8") for body in bodies]


def test_a_page_that_cannot_be_parsed_fails_alone():
    async def read():
        worker = ExtractWorker()
        try:
            with pytest.raises(ExtractionError, match="Document is empty"):
                await worker.page_text(b"", "utf-8")
            return await worker.page_text(PAGES[0].read_bytes(), "utf-8")
        finally:
            await worker.close()

    assert run(read()) == page_text(PAGES[0].read_bytes(), "utf-8")


def test_the_worker_exits_when_the_crawl_closes_it():
    async def start_and_close():
        worker = ExtractWorker()
        await worker.page_text(PAGES[0].read_bytes(), "utf-8")
        await worker.close()
        return worker.proc.returncode

    assert run(start_and_close()) == 0


def test_a_dead_worker_hands_its_pages_back_to_the_crawl(tmp_path, caplog):
    from fundwatch.spiders.page import PageSpider

    url = "https://www.mucf.se/bidrag/statsbidrag"
    sources = write_sources(tmp_path / "sources.toml", [{"id": "mucf", "agency": "mucf", "spider": "page", "urls": [url]}])
    spider = make_spider(PageSpider, "mucf", str(sources))
    spider.worker = worker = ExtractWorker()
    response = mirror_response("state1", url)

    async def read_twice_with_a_kill_between():
        first = await spider._read(response)
        spider.worker.proc.kill()
        await spider.worker.proc.wait()
        pages = await asyncio.gather(*(spider._read(response) for _ in range(5)))
        await worker.close()
        return first, pages

    with caplog.at_level(logging.WARNING, logger="fundwatch.spiders.page"):
        first, pages = run(read_twice_with_a_kill_between())
    assert first == page_text(response.body, "utf-8") and first[0]
    assert pages == [first] * 5  # read in the crawl's own process instead
    assert spider.worker is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "extraction worker" in warnings[0] and "own process" in warnings[0]


@pytest.mark.slow
def test_a_large_page_source_stores_the_same_pages_with_or_without_the_worker(tmp_path, monkeypatch):
    """21 county pages watched by one source: crawled with the worker (the threshold lowered) and
    without it, into two databases; every stored title and text is the same."""
    root = tmp_path / "mirror"
    shutil.copytree(MIRROR / "state1" / "www.lansstyrelsen.se", root / "www.lansstyrelsen.se")
    urls = ["https://" + str(p.relative_to(MIRROR / "state1")) for p in COUNTY_PAGES]
    sources = write_sources(tmp_path / "sources.toml", [{"id": "lst", "agency": "lst", "spider": "page", "urls": urls}])
    monkeypatch.setenv("FUNDWATCH_CACHE_DIR", str(tmp_path / "cache" / "httpcache"))
    stored, logs = {}, {}
    with MirrorServer(root) as server:
        for threshold in ("2", "0"):
            env = env_with(FUNDWATCH_MIRROR=server.url, FUNDWATCH_DATABASE_URL=f"sqlite:///{tmp_path / threshold}.db")
            result = run_cli(*crawl_args(sources=sources), "--set", f"FUNDWATCH_EXTRACT_WORKER_MIN_PAGES={threshold}",
                             env=env)
            assert result.returncode == 0 and "lst: ok" in result.stdout, result.stdout + result.stderr
            logs[threshold] = (tmp_path / "cache" / "logs" / "lst.log").read_text("utf-8")
            with closing(sqlite3.connect(tmp_path / f"{threshold}.db")) as db:
                stored[threshold] = dict((url, (title, text)) for url, title, text in
                                         db.execute("SELECT url, title, text FROM items WHERE kind = 'page'"))
    assert "reading pages in a second process" in logs["2"]
    assert "second process" not in logs["0"] and "extraction worker" not in logs["2"] + logs["0"]
    assert sorted(stored["2"]) == sorted(urls)
    assert all(title and text for title, text in stored["2"].values())
    assert stored["2"] == stored["0"]
