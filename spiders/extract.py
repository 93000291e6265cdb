"""Main-content text of an HTML page: what a reader sees as the page's content, without header,
navigation, footer, cookie banners or scripts. One block (paragraph, heading, list item, table
row) per line, whitespace normalised, so a diff of two versions reads like the page."""

from __future__ import annotations

import re
import threading

from lxml import etree
from lxml import html as lxml_html

DROP_TAGS = ("script", "style", "noscript", "template", "svg", "nav", "header", "footer", "form", "iframe", "button")
# Site chrome by a class or id token: cookie and consent banners, menus, breadcrumbs, "share" boxes.
# Whole tokens only: Sitevision's accordion title `env-collapse-header` is content, not a header.
CHROME = re.compile(
    r"^((site|page|global|main|top|sub|side(bar)?)[-_]?)?"
    r"(header|footer|nav|navigation|menu|breadcrumbs?|skip-?links?|share|sharing)([-_].*)?$"
    r"|cookie|consent|gdpr|^sv-related"
    # older Sitevision and print views: toolbars, share lists, page stamps and footers by any prefix
    r"|(^|[-_])(footer|toolbar|tools|print|listen|readspeaker|share|sharing|social|breadcrumbs?|menu"
    r"|page-?meta|last-?modified|lastmodified)([-_]|$)",
    re.I,
)
BLOCK_TAGS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "tr", "dt", "dd", "div", "section",
              "article", "blockquote", "pre", "table", "ul", "ol", "dl", "br", "main", "caption", "figcaption"}
_WS = re.compile(r"\s+")
_MAIN_XPATHS = [etree.XPath(x) for x in ("//main", "//*[@role='main']", "//article")]
_TITLE_XPATHS = [etree.XPath(x) for x in ("//main//h1", "//h1", "//title")]


def _find(root, xpath: etree.XPath) -> list:
    """A compiled XPath (compiling one costs more than running it); a comment fragment as well."""
    return xpath(root) if isinstance(root.tag, str) else root.xpath(xpath.path)


_CHROME_ROLES = ("navigation", "banner", "contentinfo", "search")
# Every CHROME match contains one of these.
_CHROME_HINTS = ("header", "footer", "nav", "menu", "breadcrumb", "skip", "shar", "cookie", "consent", "gdpr",
                 "sv-related", "toolbar", "tools", "print", "listen", "readspeaker", "social", "meta", "modified")
_chrome_markers: dict[str, bool] = {}  # "class id" -> chrome?  A site's pages repeat the same few


def is_chrome(el) -> bool:
    """Site chrome by tag, ARIA role or a class/id token (never a content element)."""
    if el.tag in DROP_TAGS:
        return True
    if not len(el.attrib):  # most elements carry no attribute at all
        return False
    if el.get("role") in _CHROME_ROLES:
        return True
    marker = f"{el.get('class', '')} {el.get('id', '')}"
    chrome = _chrome_markers.get(marker)
    if chrome is None:
        # a unique id misses the cache: the substring test spares most tokens the costlier regex
        low = marker.lower()
        chrome = any(hint in low for hint in _CHROME_HINTS) and any(CHROME.search(token) for token in marker.split())
        if len(_chrome_markers) < 10_000:
            _chrome_markers[marker] = chrome
    return chrome


def _dropped(el) -> bool:
    """Chrome that cleaning removes; a `main` or `article` is content whatever its class says."""
    return el.tag not in ("main", "article") and is_chrome(el)


def _clean(root) -> None:
    """Drops chrome, comments and processing instructions below ROOT; what is dropped is not looked into."""
    below = [root]
    while below:
        for el in list(below.pop()):
            if isinstance(el.tag, str) and not _dropped(el):
                below.append(el)
            else:
                el.drop_tree()


def _text_len(el) -> int:
    return len(" ".join(el.text_content().split()))


def _marked(root) -> list:
    """The elements marked as the page's main content: `main`, else [role=main], else article."""
    for xpath in _MAIN_XPATHS:
        found = _find(root, xpath)
        if found:
            return found
    return []


def _own_text_len(el, link_lens: dict) -> int:
    """Text that is not link text: a menu or a list of links weighs nothing. LINK_LENS keeps each
    link's length for the next element asked about (the blocks around the h1 hold the same links)."""
    links = 0
    for a in el.iter("a"):
        length = link_lens.get(a)
        if length is None:
            length = link_lens[a] = _text_len(a)
        links += length
    return _text_len(el) - links


def main_block(root):
    """`main`, [role=main] or article when present; else the content block: the smallest block
    around the page's h1 that holds most of the page's non-link text (not the outermost wrapper,
    which also holds toolbars and footers); without an h1, the smallest block holding most of it."""
    found = _marked(root)
    if found:
        return found[0] if len(found) == 1 else max(found, key=_text_len)
    body = root.find("body")
    body = body if body is not None else root
    link_lens: dict = {}
    total = _own_text_len(body, link_lens)
    if not total:
        return body
    h1 = next(body.iter("h1"), None)
    if h1 is not None:
        for el in h1.iterancestors():
            if el.tag in ("div", "section", "td") and _own_text_len(el, link_lens) >= 0.7 * total:
                return el
            if el is body:
                break
        return body
    best, best_len = body, total
    for el in body.iter("div", "section"):
        length = _own_text_len(el, link_lens)
        if 0.7 * total <= length < best_len:
            best, best_len = el, length
    return best


def block_text(el) -> str:
    """Text of an element, one block per line (not the text that follows it: its tail)."""
    parts: list[str] = []

    def walk(node, tail: bool = True) -> None:
        if not isinstance(node.tag, str):
            if node.tail:
                parts.append(node.tail)
            return
        block = node.tag in BLOCK_TAGS
        if block:
            parts.append("\n")
        if node.text:
            parts.append(node.text)
        for child in node:
            walk(child)
        if node.tag in ("td", "th"):
            parts.append(" ")
        if block:
            parts.append("\n")
        if tail and node.tail:
            parts.append(node.tail)

    walk(el, tail=False)
    # " ".join(line.split()) is _WS.sub(" ", line).strip(), faster (the same whitespace set)
    lines = (" ".join(line.split()) for line in "".join(parts).split("\n"))
    return "\n".join(line for line in lines if line)


class _HTMLParser(etree.HTMLParser):
    """lxml.html's parser, its elements all HtmlElement: its class lookup runs Python code for every
    element touched (about a third of the extraction time) to pick form/input classes we never use."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.set_element_class_lookup(etree.ElementDefaultClassLookup(
            element=lxml_html.HtmlElement, comment=lxml_html.HtmlComment,
            pi=lxml_html.HtmlProcessingInstruction, entity=lxml_html.HtmlEntity))


_local = threading.local()  # a parser per encoding and thread (lxml parsers are not thread-safe)


def parse_html(body: bytes | str, encoding: str | None = None):
    key = encoding if isinstance(body, bytes) else None
    parsers = _local.__dict__.setdefault("parsers", {})
    parser = parsers.get(key)
    if parser is None:
        parser = parsers[key] = _HTMLParser(encoding=key)
    return lxml_html.fromstring(body, parser=parser)


def main_text(body: bytes | str, encoding: str | None = "utf-8") -> str:
    return _main_text(parse_html(body, encoding))


def page_text(body: bytes | str, encoding: str | None = "utf-8") -> tuple[str, str]:
    """(main text, title) of a page from one parse; the title is read before cleaning drops the header."""
    root = parse_html(body, encoding)
    title = _title(root)
    return _main_text(root), title


def _main_text(root) -> str:
    marked = _marked(root)
    if len(marked) == 1 and not _dropped(marked[0]):
        block = marked[0]  # the usual page: only its one main block needs cleaning
        _clean(block)
    else:
        _clean(root)
        block = main_block(root)
    return block_text(block)


def _title(root) -> str:
    for xpath in _TITLE_XPATHS:
        found = _find(root, xpath)
        if found:
            text = _WS.sub(" ", found[0].text_content()).strip()
            if text:
                return text
    return ""
