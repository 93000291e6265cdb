"""Per-host politeness at the moment a request is sent, whatever process sends it: one request at
a time per host (a lock per host, fundwatch/hosts.py, held from sending to the answer) and at least
the host's pace from one answer to the next request: DOWNLOAD_DELAY, or the Crawl-delay its robots.txt states when
longer. Scrapy's own delay and per-domain concurrency hold inside one crawler only; the sources of
a host group are crawled by several crawlers of one process, a `scrapy crawl` by hand or another
`fundwatch crawl` may run beside them, and the scheduler may start any crawl any time.

It is the download handler (below every middleware, like the mirror's) because only here is the
time a request is sent known: a middleware's request still waits in Scrapy's slot queue.

The crawlers of one crawl child (fundwatch/spiders/runner.py, FUNDWATCH_CRAWL_GROUP set) share
their turns at each host and the Crawl-delays learnt from robots.txt, which one of them fetches."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

from protego import Protego
from scrapy.http import Request, Response

from fundwatch import hosts
from fundwatch.spiders.mirror import MirrorDownloadHandler

POLL = 0.05  # seconds between tries for a host another process is asking


_groups: dict[str, tuple[dict[str, float], dict[str, asyncio.Lock]]] = {}


def _shared(crawler) -> tuple[dict[str, float], dict[str, asyncio.Lock]]:
    """(Crawl-delay per host, turn per host) of this crawler, or of all crawlers of its group."""
    group = crawler.settings.get("FUNDWATCH_CRAWL_GROUP")
    if group:
        return _groups.setdefault(group, ({}, {}))
    if not hasattr(crawler, "fundwatch_pacing"):
        crawler.fundwatch_pacing = ({}, {})
    return crawler.fundwatch_pacing


def crawl_delays(crawler) -> dict[str, float]:
    """The Crawl-delay each host's robots.txt states, for this crawl (or its group)."""
    return _shared(crawler)[0]


class PoliteDownloadHandler(MirrorDownloadHandler):
    def __init__(self, crawler):
        super().__init__(crawler)
        self.crawler = crawler
        self.delay = crawler.settings.getfloat("DOWNLOAD_DELAY")
        self.turns: dict[str, asyncio.Lock] = _shared(crawler)[1]

    def pace(self, host: str) -> float:
        return max(self.delay, crawl_delays(self.crawler).get(host, 0.0))

    async def download_request(self, request: Request) -> Response:
        host = urlsplit(request.url).netloc.lower()
        async with self.turns.setdefault(host, asyncio.Lock()):  # this crawl (or group): one at a time
            held = await self._hold(host)
            try:
                response = await super().download_request(request)
                if urlsplit(request.url).path == "/robots.txt" and 200 <= response.status < 300:
                    self._read_crawl_delay(host, response.body)  # before the host is let go: binds the next request
                return response
            finally:  # the pace runs from the answer, so the host sees at least the pace between two requests
                hosts.record_request(host, time.time(), self.pace(host))
                hosts.release(held)

    def _read_crawl_delay(self, host: str, body: bytes) -> None:
        agent = self.crawler.settings.get("ROBOTSTXT_USER_AGENT") or self.crawler.settings.get("USER_AGENT")
        delay = Protego.parse(body.decode("utf-8", "replace")).crawl_delay(agent)
        if delay:
            crawl_delays(self.crawler)[host] = float(delay)

    async def _hold(self, host: str):
        """The host's lock, once no other process is asking it and its pace has passed since the
        last answer any process got from it (or the last request sent, while one is out)."""
        while True:
            held = hosts.try_hold(host)
            if held is not None:
                last = hosts.last_request(host)
                wait = (last[0] + max(last[1], self.pace(host)) - time.time()) if last else 0.0
                if wait <= 0:
                    hosts.record_request(host, time.time(), self.pace(host))
                    return held
                hosts.release(held)  # not held while waiting: the pace binds every process alike
                await asyncio.sleep(wait)
            else:
                await asyncio.sleep(POLL)
