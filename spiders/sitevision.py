"""Reading Sitevision pages (Migrationsverket, Arbetsförmedlingen): content sections under their
headings, accordions, news lists and file links.

Sitevision markup as seen: content in `div.sv-text-portlet-content` (inside `main` on the new
sites); accordions `div.sv-collapsible-content` with the header `a.env-collapse-header` and the
body `div.env-collapse`, present in the HTML (no JavaScript needed); news lists
`li.sv-channel-item` with a link and `<time datetime>`; files `/download/18.<hex>/<ms>/<name>.pdf`.

API (kept stable, other spiders import it):
    content_root(response_or_selector) -> Selector     main, [role=main] or body
    sections(root) -> [Section]                        one per heading, with the blocks under it
    accordions(root) -> [Accordion]
    channel_lists(root) -> SelectorList                 news-list containers (an empty list too)
    channel_items(response, root=None) -> [ChannelItem]
    file_links(response, root=None) -> [FileLink]
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from lxml import html as lxml_html
from parsel import Selector, SelectorList

from fundwatch.labels import clean, find_labels, label_pairs
from fundwatch.spiders.extract import block_text
from fundwatch.swedish import parse_date

CONTENT = "div.sv-text-portlet-content"
ACCORDION = "div.sv-collapsible-content"
ACCORDION_HEADER = "a.env-collapse-header"
ACCORDION_BODY = "div.env-collapse"
CHANNEL_ITEM = "li.sv-channel-item"
DOWNLOAD_PATH = re.compile(r"/download/18\.[0-9a-f]+/[0-9]+/[^/?#]+$", re.I)

# Chrome that can sit inside `main`: skipped when a page is cut into sections.
_SKIP_TAGS = {"script", "style", "noscript", "template", "svg", "nav", "header", "footer", "aside",
              "form", "iframe", "button", "input", "select"}
_SKIP_CLASS = re.compile(r"cookie|consent|breadcrumb|skip-?link|\bshare|sv-related|lastmodified|page-meta", re.I)
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_BLOCKS = {"p", "table", "dl", "ul", "ol", "blockquote", "pre", "figure", "address"}
_PAGE_META = re.compile(r"^(senast (uppdaterad|ändrad|granskad)|sidan (uppdaterades|granskades))\b", re.I)


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


def _classes(el) -> str:
    return f"{el.get('class', '')} {el.get('id', '')}"


def _skipped(el) -> bool:
    return el.tag in _SKIP_TAGS or bool(_SKIP_CLASS.search(_classes(el)))


def _is_accordion(el) -> bool:
    return el.tag == "div" and "sv-collapsible-content" in el.get("class", "").split()


def _has_own_text(el) -> bool:
    return bool((el.text or "").strip()) or any((c.tail or "").strip() for c in el)


def _text_of(el) -> str:
    return clean(el.text_content())


def blocks(root) -> list:
    """The content blocks under ROOT in document order (lxml elements): headings, paragraphs,
    tables, lists, whole accordions; wrappers are walked through, chrome is skipped."""
    out: list = []

    def walk(el) -> None:
        for child in el:
            if not isinstance(child.tag, str) or _skipped(child):
                continue
            if child.tag in _HEADINGS or child.tag in _BLOCKS or _is_accordion(child):
                if child.tag not in _HEADINGS and _PAGE_META.match(_text_of(child)):
                    continue  # "Senast uppdaterad: …" belongs to the page, not to the last section
                out.append(child)
            elif _has_own_text(child):
                out.append(child)  # a div holding bare text is a block of its own
            else:
                walk(child)

    walk(_selector(root).root)
    return out


@dataclass
class Section:
    """A heading and the blocks under it, up to the next heading of any level (level 0 and an
    empty heading: what comes before the first heading)."""

    heading: str
    level: int
    blocks: list = field(default_factory=list)
    head: object = None  # the heading element itself (lxml), None before the first heading

    def element(self):
        """A detached `div` holding copies of the blocks (for block_text and selectors)."""
        div = lxml_html.Element("div")
        for block in self.blocks:
            div.append(copy.deepcopy(block))
            div[-1].tail = None
        return div

    @property
    def selector(self) -> Selector:
        return Selector(root=self.element(), type="html")

    @property
    def text(self) -> str:
        return block_text(self.element())

    def pairs(self) -> list[tuple[str, str]]:
        return label_pairs(self.selector)

    def labels(self, spec: dict[str, tuple[str, ...]]) -> dict[str, str]:
        return find_labels(self.selector, spec)


def sections(root) -> list[Section]:
    """ROOT cut at every heading (h1–h6): each section holds the blocks up to the next heading.
    Nesting is left to the caller (compare `level`)."""
    out = [Section("", 0)]
    for block in blocks(root):
        if block.tag in _HEADINGS:
            out.append(Section(_text_of(block), _HEADINGS[block.tag], head=block))
        else:
            out[-1].blocks.append(block)
    return out if out[0].blocks else out[1:]


@dataclass
class Accordion:
    title: str
    body: Selector
    text: str


def accordions(root) -> list[Accordion]:
    out = []
    for acc in _selector(root).css(ACCORDION):
        title = clean(" ".join(acc.css(f"{ACCORDION_HEADER} ::text").getall()))
        body = acc.css(ACCORDION_BODY)
        if body:
            out.append(Accordion(title, body[0], block_text(body[0].root)))
    return out


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
