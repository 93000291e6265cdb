"""Per-host politeness at the moment a request is sent, whatever process sends it: one request at
a time per host (a lock per host, fundwatch/hosts.py, held from sending to the answer) and at least
the host's pace from one answer to the next request: DOWNLOAD_DELAY, or the Crawl-delay its robots.txt states when
longer. Scrapy's own delay and per-domain concurrency hold inside one crawler only; the sources of
a host group are crawled by several crawlers of one process, a `scrapy crawl` by hand or another
`fundwatch crawl` may run beside them, and the scheduler may start any crawl any time.

A host with no pace at all (a loopback mirror: DOWNLOAD_DELAY 0 and no Crawl-delay) may get up to
CONCURRENT_REQUESTS_PER_DOMAIN requests at once from one process when that setting is above its
default of 1: the process then holds the host's lock for a turn, from its first request out to its
last answer in, and reads and records the host's pace once per turn, not per request. Another
process still waits for the host's lock, and a host with a pace always gets one request at a time.

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


_groups: dict[str, tuple[dict, dict, dict]] = {}  # FUNDWATCH_CRAWL_GROUP -> what _shared returns


def _shared(crawler) -> tuple[dict[str, float], dict[str, asyncio.Lock], dict[str, "_OpenTurn"]]:
    """(Crawl-delay, turn and open turn per host) of this crawler, or of all crawlers of its group:
    a crawl child is one party at each host."""
    group = crawler.settings.get("FUNDWATCH_CRAWL_GROUP")
    if group:
        return _groups.setdefault(group, ({}, {}, {}))
    if not hasattr(crawler, "fundwatch_pacing"):
        crawler.fundwatch_pacing = ({}, {}, {})
    return crawler.fundwatch_pacing


def crawl_delays(crawler) -> dict[str, float]:
    """The Crawl-delay each host's robots.txt states, for this crawl (or its group)."""
    return _shared(crawler)[0]


class PoliteDownloadHandler(MirrorDownloadHandler):
    def __init__(self, crawler):
        super().__init__(crawler)
        self.crawler = crawler
        self.delay = crawler.settings.getfloat("DOWNLOAD_DELAY")
        self.per_host = crawler.settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN", 1)
        _, self.turns, self.open_turns = _shared(crawler)  # open turns: hosts without a pace held now

    def pace(self, host: str) -> float:
        return max(self.delay, crawl_delays(self.crawler).get(host, 0.0))

    async def download_request(self, request: Request) -> Response:
        host = urlsplit(request.url).netloc.lower()
        if self.per_host > 1 and not self.pace(host):
            return await self._download_in_turn(host, request)
        async with self.turns.setdefault(host, asyncio.Lock()):  # this crawl (or group): one at a time
            held = await self._hold(host)
            try:
                response = await super().download_request(request)
                self._read_crawl_delay(host, request, response)  # before the host is let go: binds the next request
                return response
            finally:  # the pace runs from the answer, so the host sees at least the pace between two requests
                hosts.record_request(host, time.time(), self.pace(host))
                hosts.release(held)

    async def _download_in_turn(self, host: str, request: Request) -> Response:
        """A host without a pace: requests join this process's open turn on it (Scrapy's slot
        bounds them to CONCURRENT_REQUESTS_PER_DOMAIN); the first opens it, the last answer closes it."""
        async with self.turns.setdefault(host, asyncio.Lock()):  # one opener; a paced request waits here
            turn = self.open_turns.get(host)
            if turn is None:
                turn = self.open_turns[host] = _OpenTurn(await self._hold(host))
            turn.out += 1
        try:
            response = await super().download_request(request)
            self._read_crawl_delay(host, request, response)  # a Crawl-delay: the next request takes the paced way
            return response
        finally:
            turn.out -= 1
            if not turn.out:
                del self.open_turns[host]
                hosts.record_request(host, time.time(), self.pace(host))
                hosts.release(turn.held)

    def _read_crawl_delay(self, host: str, request: Request, response: Response) -> None:
        """The Crawl-delay of the host's robots.txt, when RESPONSE is that file."""
        if urlsplit(request.url).path != "/robots.txt" or not 200 <= response.status < 300:
            return
        agent = self.crawler.settings.get("ROBOTSTXT_USER_AGENT") or self.crawler.settings.get("USER_AGENT")
        delay = Protego.parse(response.body.decode("utf-8", "replace")).crawl_delay(agent)
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


class _OpenTurn:
    """This process's hold on a host without a pace: the host's lock and the requests out."""

    def __init__(self, held):
        self.held = held
        self.out = 0
