"""The mirror convention (README, `FUNDWATCH_MIRROR`): with FUNDWATCH_MIRROR set, https://HOST/PATH?Q
is fetched from $FUNDWATCH_MIRROR/HOST/PATH?Q and the spider gets a response carrying the real URL.

It is a download handler rather than a downloader middleware on purpose: a middleware that
rewrites the URL either reschedules the request (returning a new Request) or makes the HTTP cache
key on the mirror URL. Down here every middleware above (robots.txt, redirects, retries, the
cache) sees only real URLs, so tests exercise exactly the code that runs against the agencies.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.http import Request, Response


def mirror_base(crawler_settings=None) -> str | None:
    value = (crawler_settings.get("FUNDWATCH_MIRROR") if crawler_settings else None) or os.environ.get("FUNDWATCH_MIRROR", "")
    return value.strip().rstrip("/") or None


def to_mirror(url: str, base: str) -> str:
    """https://HOST/PATH?Q -> BASE/HOST/PATH?Q (percent-encoding kept, fragment dropped)."""
    parts = urlsplit(url)
    b = urlsplit(base)
    path = f"{b.path.rstrip('/')}/{parts.netloc}{parts.path or '/'}"
    return urlunsplit((b.scheme, b.netloc, path, parts.query, ""))


def from_mirror(url: str, base: str, scheme: str = "https") -> str:
    """BASE/HOST/PATH?Q -> https://HOST/PATH?Q; a URL outside the mirror is returned unchanged."""
    b = urlsplit(base)
    parts = urlsplit(url)
    prefix = b.path.rstrip("/") + "/"
    if (parts.scheme, parts.netloc) != (b.scheme, b.netloc) or not parts.path.startswith(prefix):
        return url
    host, _, rest = parts.path[len(prefix):].partition("/")
    return urlunsplit((scheme, host, "/" + rest, parts.query, parts.fragment))


class MirrorDownloadHandler(HTTP11DownloadHandler):
    """HTTP(S) download handler that, when a mirror is configured, fetches from it."""

    lazy = False

    def __init__(self, crawler):
        super().__init__(crawler)
        self.mirror = mirror_base(crawler.settings)

    async def download_request(self, request: Request) -> Response:
        if not self.mirror:
            return await super().download_request(request)
        real_url = request.url
        scheme = urlsplit(real_url).scheme
        response = await super().download_request(request.replace(url=to_mirror(real_url, self.mirror)))
        headers = response.headers.copy()
        location = headers.get(b"Location")
        if location:
            absolute = response.urljoin(location.decode("latin-1"))
            headers[b"Location"] = from_mirror(absolute, self.mirror, scheme).encode("latin-1")
        return response.replace(url=real_url, headers=headers, request=request)
