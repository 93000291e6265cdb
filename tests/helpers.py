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


def write_sources(path: Path, entries: list[dict]) -> Path:
    """A sources file with ENTRIES ({id, agency, spider, urls, must_carry?})."""
    lines = []
    for entry in entries:
        lines.append("[[source]]")
        for key, value in entry.items():
            if isinstance(value, (list, tuple)):
                lines.append(f"{key} = [" + ", ".join(f'"{v}"' for v in value) + "]")
            else:
                lines.append(f'{key} = "{value}"')
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def run_cli(*args: str, env: dict | None = None, timeout: float = 120):
    """`fundwatch ARGS` in a child process, as a user runs it."""
    import os
    import subprocess
    import sys

    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "fundwatch.cli", *args], env=full_env, capture_output=True,
                          text=True, timeout=timeout, cwd=str(TESTS.parent))


def crawl_args(*source_ids: str, sources: Path | None = None) -> list[str]:
    """Arguments for `fundwatch crawl` against a loopback mirror: no politeness delays."""
    from fundwatch.crawl import FAST_SETTINGS

    args = ["crawl", *source_ids]
    if sources:
        args += ["--sources", str(sources)]
    for key, value in FAST_SETTINGS.items():
        args += ["--set", f"{key}={value}"]
    return args
