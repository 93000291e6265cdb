"""Downloader middlewares for politeness and honesty about failures."""

from __future__ import annotations

import asyncio
import codecs
import email.utils
import logging
import re
import time

from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import TextResponse
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.response import response_status_message

logger = logging.getLogger(__name__)


class _DisallowAll:
    """The parser used when robots.txt answered 5xx or could not be fetched (RFC 9309 2.3.1.4)."""

    def allowed(self, url, user_agent) -> bool:
        return False


_NETWORK_ERRORS = (  # Twisted's exception class name -> what an operator reads
    (("ConnectionLost", "ConnectionDone", "ConnectionAborted"), "connection reset or closed by the server"),
    (("ConnectionRefusedError", "DownloadConnectionRefusedError"), "connection refused"),
    (("TimeoutError", "TCPTimedOutError", "UserTimeout", "DownloadTimeoutError"), "no answer in time (timeout)"),
    (("DNSLookupError", "NoRouteError", "CannotResolveHostError"), "host not found or not reachable"),
    (("ResponseDataLossError", "_DataLoss"), "the connection closed before the whole page arrived"),
    (("SSLError", "Error"), None),  # OpenSSL's own class is just `Error`: its text is readable
)


def describe_error(exc: BaseException) -> str:
    """One readable line for a download error: never the repr of a Twisted Failure (a failed
    response wraps the real cause in a list of Failures, and Scrapy wraps that again)."""
    while exc.__cause__ is not None and type(exc).__name__ in ("DownloadFailedError", "ResponseDataLossError"):
        exc = exc.__cause__
    reasons = getattr(exc, "reasons", None)
    if reasons:
        inner = getattr(reasons[0], "value", reasons[0])
        if isinstance(inner, BaseException):
            exc = inner
    name = type(exc).__name__
    for names, text in _NETWORK_ERRORS:
        if name in names and text:
            return text
    if type(exc).__module__.startswith("OpenSSL"):
        return f"TLS handshake failed: {str(exc)[:200]}"
    first = (str(exc).strip().splitlines() or [""])[0]
    return name if not first or "<twisted" in first or "Failure" in first else first


def _health(crawler):
    return getattr(crawler.spider, "health", None)


# robots.txt per host for the crawlers of one crawl child (FUNDWATCH_CRAWL_GROUP): the parser (or
# the fetch in flight) and what the host answered, so each host's robots.txt is fetched once.
_groups: dict[str, tuple[dict, dict]] = {}


class StrictRobotsTxtMiddleware(RobotsTxtMiddleware):
    """RFC 9309: 2xx -> the rules; 4xx -> allow all; 5xx or unreachable -> disallow all (Scrapy
    would allow all). Every outcome is reported to the run's health. The crawlers of one crawl
    child share each host's robots.txt: one of them fetches it, each reports its answer."""

    def __init__(self, crawler):
        super().__init__(crawler)
        group = crawler.settings.get("FUNDWATCH_CRAWL_GROUP")
        self._parsers, self._answers = _groups.setdefault(group, ({}, {})) if group else ({}, {})
        self._reported: set[str] = set()

    async def robot_parser(self, request):
        netloc = urlparse_cached(request).netloc
        fetched_by_another = netloc in self._parsers and netloc not in self._reported
        self._reported.add(netloc)
        parser = await super().robot_parser(request)
        health = _health(self.crawler)
        if fetched_by_another and health is not None and netloc in self._answers:
            health.robots(netloc, *self._answers[netloc])
        return parser

    async def _parse_robots(self, response, netloc, request) -> None:
        self._answers[netloc] = (response.status, None)
        health = _health(self.crawler)
        if health is not None:
            health.robots(netloc, response.status)
        if response.status >= 500:
            self._stats.inc_value(f"robotstxt/response_status_count/{response.status}")
            self._set_parser(netloc, _DisallowAll())
            return
        if 400 <= response.status < 500:
            response = response.replace(body=b"")  # "unavailable": no rules
        await super()._parse_robots(response, netloc, request)

    def _robots_error(self, exc, netloc) -> None:
        self._answers[netloc] = (None, describe_error(exc))
        health = _health(self.crawler)
        if health is not None:
            health.robots(netloc, None, error=describe_error(exc))
        super()._robots_error(exc, netloc)
        self._parsers[netloc] = _DisallowAll()

    def _set_parser(self, netloc, parser) -> None:
        pending = self._parsers[netloc]
        self._parsers[netloc] = parser
        pending.callback(parser)

    def process_request_2(self, rp, request) -> None:
        try:
            super().process_request_2(rp, request)
        except Exception:
            health = _health(self.crawler)
            if health is not None:
                health.robots_forbidden(request.url)
            raise


def retry_after_seconds(value: bytes | None, now: float | None = None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date."""
    if not value:
        return None
    text = value.decode("latin-1").strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (now or time.time()))


class BackoffRetryMiddleware(RetryMiddleware):
    """Retries 5xx, 429 and timeouts after an exponential backoff; on 429 and 503 it waits what
    Retry-After asks, capped by FUNDWATCH_RETRY_AFTER_MAX."""

    def __init__(self, settings):
        super().__init__(settings)
        self.base = settings.getfloat("FUNDWATCH_BACKOFF_BASE", 2.0)
        self.cap = settings.getfloat("FUNDWATCH_RETRY_AFTER_MAX", 120.0)

    def _delay(self, request, response=None) -> float:
        attempt = request.meta.get("retry_times", 0)
        delay = self.base * (2 ** attempt)
        if response is not None and response.status in (429, 503):
            asked = retry_after_seconds(response.headers.get(b"Retry-After"))
            if asked is not None:
                delay = asked
        return min(delay, self.cap)

    async def process_response(self, request, response, spider=None):
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            return response
        retry = self._retry(request, response_status_message(response.status))
        if retry is None:
            return response
        await asyncio.sleep(self._delay(request, response))
        return retry

    async def process_exception(self, request, exception, spider=None):
        if request.meta.get("dont_retry", False) or not isinstance(exception, self.exceptions_to_retry):
            return None
        retry = self._retry(request, exception)
        if retry is not None:
            await asyncio.sleep(self._delay(request))
        return retry


_TEXT_TYPES = {b"text/html", b"application/xhtml+xml", b"text/xml", b"application/xml", b"text/plain"}
_META_CHARSET = re.compile(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_-]+)""", re.I)


class CharsetCheckMiddleware:
    """A page decoded in the wrong charset turns into mojibake and a false "update". The header,
    the page's `<meta charset>` and the bytes may disagree (`ISO-8859-1` served for a UTF-8 page):
    decode as the bytes prove. Non-ASCII bytes that are valid UTF-8 are UTF-8 (a legacy 8-bit text
    is almost never valid UTF-8 by chance); otherwise the declared charset, then the page's own,
    if the bytes decode in it; when nothing fits, the page fails with a clear error and the rest
    of the run goes on."""

    def process_response(self, request, response, spider=None):
        ctype = response.headers.get(b"Content-Type", b"").split(b";")[0].strip().lower()
        if not isinstance(response, TextResponse) or not response.body or ctype not in _TEXT_TYPES:
            return response  # PDFs and other files are not text to decode
        declared = response.encoding
        if not response.body.isascii() and _decodes(response.body, "utf-8"):
            return response if _is_utf8(declared) else response.replace(encoding="utf-8")
        if _decodes(response.body, declared):  # ASCII, or 8-bit text that is not UTF-8
            return response
        meta = _META_CHARSET.search(response.body[:4096])
        if meta:
            candidate = meta.group(1).decode("ascii")
            if not _is_utf8(candidate) and _decodes(response.body, candidate):
                return response.replace(encoding=candidate)
        raise IgnoreRequest(f"the page's bytes are not valid {declared} (wrong or missing charset)")


def _is_utf8(encoding: str | None) -> bool:
    try:
        return codecs.lookup(encoding or "").name == "utf-8"
    except LookupError:
        return False


def _decodes(body: bytes, encoding: str | None) -> bool:
    if not encoding:
        return False
    try:
        codecs.lookup(encoding)
        body.decode(encoding)
    except (LookupError, UnicodeDecodeError):
        return False
    return True


_HTML_TYPES = {b"text/html", b"application/xhtml+xml"}
_XML_END = re.compile(rb"</[\w:.-]+\s*>\s*$")
_HTML_END = re.compile(rb"</html\s*>\s*(<!--.*?-->\s*)*$", re.I | re.S)


class TruncationCheckMiddleware:
    """A body without a length header ends where the connection closes: a dropped connection then
    looks like a complete page with items missing, and counts as their removal. Such a response
    (Scrapy flags it `partial`) must prove it is a whole document (an HTML page ends with
    `</html>`, a PDF with `%%EOF`); one that does not is a failed page."""

    def process_response(self, request, response, spider=None):
        if "partial" not in response.flags or not response.body or response.status != 200:
            return response
        ctype = response.headers.get(b"Content-Type", b"").split(b";")[0].strip().lower()
        tail = response.body[-2048:]
        if ctype in _HTML_TYPES or ctype == b"text/html":
            complete = _HTML_END.search(tail) is not None
        elif ctype in (b"text/xml", b"application/xml"):
            complete = _XML_END.search(tail) is not None
        elif ctype == b"application/pdf" or response.body.startswith(b"%PDF"):
            complete = b"%%EOF" in tail
        else:
            return response  # nothing in plain text says where it ends
        if not complete:
            raise IgnoreRequest(f"the page was cut off: the connection closed after {len(response.body)} bytes, "
                                "before the end of the document")
        return response
