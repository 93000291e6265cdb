"""Test helpers: saved pages as Scrapy responses (City Scrapers' file_response), spiders bound to
a source without a crawl."""

from __future__ import annotations

from pathlib import Path

from scrapy.http import HtmlResponse, Request, TextResponse, XmlResponse
from scrapy.http import Response

TESTS = Path(__file__).parent
MIRROR = TESTS / "mirror"


def file_response(path: str | Path, url: str, meta: dict | None = None) -> Response:
    """A response for URL whose body is the saved file at PATH (relative to tests/ or absolute)."""
    path = Path(path)
    if not path.is_absolute():
        path = TESTS / path
    if path.is_dir():
        path = path / "index.html"
    body = path.read_bytes()
    request = Request(url=url, meta=meta or {})
    if path.suffix in (".pdf", ".gz"):
        return Response(url=url, body=body, request=request)
    if path.suffix == ".xml":
        return XmlResponse(url=url, body=body, request=request)
    if path.suffix in (".html", ""):
        return HtmlResponse(url=url, body=body, request=request, encoding="utf-8")
    return TextResponse(url=url, body=body, request=request, encoding="utf-8")


def mirror_response(state: str, url: str, meta: dict | None = None) -> Response:
    """The mirror's copy of URL in STATE (state1, state2, broken) as a response carrying URL."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    return file_response(MIRROR / state / parts.netloc / unquote(parts.path).strip("/"), url, meta)


def make_spider(spider_cls, source: str | None = None, sources_file: str | None = None):
    """A spider bound to its source (from the sources file) without running a crawl."""
    from scrapy.utils.test import get_crawler

    crawler = get_crawler(spider_cls, {"FUNDWATCH_SOURCES": sources_file} if sources_file else None)
    return spider_cls.from_crawler(crawler, source=source)
