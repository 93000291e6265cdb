"""Reading Sitevision pages (Migrationsverket, Arbetsförmedlingen): news lists and file links.
Calls and their labelled facts (in accordions too) are read by the shared reader, spiders/reader.py.

Sitevision markup as seen: content in `div.sv-text-portlet-content` (inside `main` on the new
sites); accordions `div.sv-collapsible-content` with the header `a.env-collapse-header` and the
body `div.env-collapse`, present in the HTML (no JavaScript needed); news lists
`li.sv-channel-item` with a link and `<time datetime>`; files `/download/18.<hex>/<ms>/<name>.pdf`.

API (kept stable, other spiders import it):
    content_root(response_or_selector) -> Selector     main, [role=main] or body
    channel_lists(root) -> SelectorList                 news-list containers (an empty list too)
    channel_items(response, root=None) -> [ChannelItem]
    file_links(response, root=None) -> [FileLink]
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from parsel import Selector, SelectorList

from fundwatch.labels import clean
from fundwatch.swedish import parse_date

CONTENT = "div.sv-text-portlet-content"
ACCORDION = "div.sv-collapsible-content"
ACCORDION_HEADER = "a.env-collapse-header"
ACCORDION_BODY = "div.env-collapse"
CHANNEL_ITEM = "li.sv-channel-item"
DOWNLOAD_PATH = re.compile(r"/download/18\.[0-9a-f]+/[0-9]+/[^/?#]+$", re.I)


def _selector(obj) -> Selector:
    """A parsel Selector from a Scrapy response, a Selector or an lxml element."""
    if isinstance(obj, Selector):
        return obj
    if hasattr(obj, "selector"):  # scrapy TextResponse
        return obj.selector
    return Selector(root=obj, type="html")


def content_root(obj) -> Selector:
    """The page's main content: `main`, `[role=main]`, else `body`."""
    sel = _selector(obj)
    for css in ("main", "[role=main]", "body"):
        found = sel.css(css)
        if found:
            return found[0]
    return sel


@dataclass
class ChannelItem:
    title: str
    url: str
    published: dt.date | None
    time_text: str  # the date as written ("06 augusti 2026") or the datetime attribute
    summary: str


def channel_lists(root) -> SelectorList:
    """News-list containers (`ul.sv-channel` or any element classed `sv-channel`), empty or not."""
    return _selector(root).xpath(
        ".//*[contains(concat(' ', normalize-space(@class), ' '), ' sv-channel ')]"
        " | .//*[li[contains(concat(' ', normalize-space(@class), ' '), ' sv-channel-item ')]]"
    )


def channel_items(response, root=None) -> list[ChannelItem]:
    """Each `li.sv-channel-item` with a link: title (the link text), absolute URL, the date from
    `<time datetime>` (the visible text only when the attribute is missing) and the summary."""
    root = content_root(response) if root is None else _selector(root)
    out = []
    for li in root.css(CHANNEL_ITEM):
        link = li.css("a[href]")
        if not link:
            continue
        title = clean(" ".join(link[0].css("::text").getall()))
        url = response.urljoin(link[0].attrib["href"])
        when = li.css("time")
        stamp = when[0].attrib.get("datetime", "") if when else ""
        written = clean(" ".join(when[0].css("::text").getall())) if when else ""
        published = parse_date(stamp).date if stamp else None
        if published is None and written:
            published = parse_date(written).date
        summary_parts = [clean(" ".join(p.css("::text").getall())) for p in li.xpath(".//p[not(.//a) and not(.//time)]")]
        out.append(ChannelItem(title, url, published, stamp or written, " ".join(p for p in summary_parts if p)))
    return out


@dataclass
class FileLink:
    url: str
    text: str  # the link text as written ("Planerade upphandlingar Pdf, 18 kB.")
    title: str  # the title attribute ("pdf, 458.9 kB, öppnas i nytt fönster"), may be empty
    name: str  # the file name from the URL


def is_download_url(url: str) -> bool:

    return bool(DOWNLOAD_PATH.search(urlsplit(url).path))


def file_links(response, root=None) -> list[FileLink]:
    """Sitevision file links (`/download/18.<hex>/<ms>/<name>`), relative or absolute, resolved."""
    sel = _selector(response) if root is None else _selector(root)
    out = []
    for a in sel.css("a[href]"):
        url = response.urljoin(a.attrib["href"])
        if is_download_url(url):
            out.append(FileLink(url, clean(" ".join(a.css("::text").getall())), clean(a.attrib.get("title")),
                                url.rsplit("/", 1)[-1]))
    return out
