"""Main-content text of an HTML page: what a reader sees as the page's content, without header,
navigation, footer, cookie banners or scripts. One block (paragraph, heading, list item, table
row) per line, whitespace normalised, so a diff of two versions reads like the page."""

from __future__ import annotations

import re

from lxml import html as lxml_html

DROP_TAGS = ("script", "style", "noscript", "template", "svg", "nav", "header", "footer", "form", "iframe", "button")
# Site chrome by a class or id token: cookie and consent banners, menus, breadcrumbs, "share" boxes.
# Whole tokens only: Sitevision's accordion title `env-collapse-header` is content, not a header.
CHROME = re.compile(
    r"^((site|page|global|main|top|sub|side(bar)?)[-_]?)?"
    r"(header|footer|nav|navigation|menu|breadcrumbs?|skip-?links?|share|sharing)([-_].*)?$"
    r"|cookie|consent|gdpr|^sv-related",
    re.I,
)
BLOCK_TAGS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "tr", "dt", "dd", "div", "section",
              "article", "blockquote", "pre", "table", "ul", "ol", "dl", "br", "main", "caption", "figcaption"}
_WS = re.compile(r"\s+")


def _is_chrome(el) -> bool:
    if el.tag in DROP_TAGS:
        return True
    if el.get("role") in ("navigation", "banner", "contentinfo", "search"):
        return True
    tokens = f"{el.get('class', '')} {el.get('id', '')}".split()
    return any(CHROME.search(token) for token in tokens)


def _clean(root) -> None:
    for el in list(root.iter()):
        if not isinstance(el.tag, str):  # comments, processing instructions
            el.drop_tree() if el.getparent() is not None else None
            continue
        if el.getparent() is not None and el.tag not in ("main", "article") and _is_chrome(el):
            el.drop_tree()


def _text_len(el) -> int:
    return len(_WS.sub(" ", el.text_content()).strip())


def main_block(root):
    """`main`, [role=main] or article when present; else the block with the most text."""
    for xpath in ("//main", "//*[@role='main']", "//article"):
        found = root.xpath(xpath)
        if found:
            return max(found, key=_text_len)
    body = root.find("body")
    body = body if body is not None else root
    best, best_len = body, 0
    for el in body.iter("div", "section"):
        length = _text_len(el)
        # the largest block that still holds most of the page's text (not just the outermost div)
        if length > best_len * 1.0 and length >= 0.6 * _text_len(body):
            best, best_len = el, length
    return best


def block_text(el) -> str:
    """Text of an element, one block per line."""
    parts: list[str] = []

    def walk(node) -> None:
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
        if node.tail:
            parts.append(node.tail)

    walk(el)
    lines = (_WS.sub(" ", line).strip() for line in "".join(parts).split("\n"))
    return "\n".join(line for line in lines if line)


def parse_html(body: bytes | str, encoding: str | None = None):
    parser = lxml_html.HTMLParser(encoding=encoding) if isinstance(body, bytes) else None
    return lxml_html.fromstring(body, parser=parser)


def main_text(body: bytes | str, encoding: str | None = "utf-8") -> str:
    root = parse_html(body, encoding)
    _clean(root)
    return block_text(main_block(root))


def title_of(body: bytes | str, encoding: str | None = "utf-8") -> str:
    root = parse_html(body, encoding)
    for xpath in ("//main//h1", "//h1", "//title"):
        found = root.xpath(xpath)
        if found:
            text = _WS.sub(" ", found[0].text_content()).strip()
            if text:
                return text
    return ""
