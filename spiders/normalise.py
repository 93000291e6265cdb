"""One normaliser of compared text: what is hashed and diffed never holds text that changes
without the content changing.

Removed: page stamps ("Uppdaterad: 2031-01-15", "Sidan senast ändrad: 2030-12-01", "Granskad: …",
"Senast uppdaterad:2018-12-19"), countdowns ("Tid kvar att ansöka: 7 dagar", "3 dagar kvar"), PDF
page headers and footers ("Sida 2", "Sida 2 av 3", "2 (3)", a running title repeated on every page),
screen-reader helper text ("Extern länk.", "External link.", "öppnas i nytt fönster") and
print/listen/share toolbars ("Skriv ut", "Lyssna", "Dela"). Every spider's item text passes through
`normalise_text` (FundSpider.make_item); PDFs through `pdf_lines` first.

URLs: how a page was reached is not a change; see `fundwatch.items.same_listing`.
"""

from __future__ import annotations

import re

__all__ = ["normalise_text", "pdf_lines", "page_stamp"]

_DATE = (r"(?:\d{4}-\d{2}-\d{2}(?:[ T]\d{1,2}[.:]\d{2}(?::\d{2})?)?"
         r"|\d{1,2}\s+[a-zåäö]+\.?\s+\d{4}(?:,?\s+(?:kl\.?\s*)?\d{1,2}[.:]\d{2})?)")
_STAMP_WORDS = (r"(?:sidan\s+)?(?:senast\s+)?(?:uppdaterad|uppdaterades|ändrad|ändrades|granskad|granskades"
                r"|reviderad|last\s+updated|updated|last\s+modified)")
# A line that is only a stamp (whatever follows the stamp word: a name, a date, "av Anna").
_STAMP_LINE = re.compile(rf"^(?:denna\s+)?{_STAMP_WORDS}(?:\s+(?:den|senast))?\s*(?::|\b{_DATE}|$)", re.I)
# A stamp inside a line: the stamp word and its date.
_STAMP_INLINE = re.compile(rf"\s*\b{_STAMP_WORDS}(?:\s+den)?\s*:?\s*{_DATE}\.?", re.I)
_COUNTDOWN = re.compile(
    r"\s*\b(?:tid\s+kvar(?:\s+att\s+(?:an)?söka)?\s*:?\s*\d+\s*(?:dagar|dag|timmar|timme|veckor|vecka|minuter)"
    r"|(?:(?:ca|cirka)\s+)?\d+\s*(?:dagar|dag|timmar|timme|veckor|vecka)\s+kvar(?:\s+(?:att|till)\s+\w+)?"
    r"|(?:stänger|stängs)\s+om\s+\d+\s*(?:dagar|dag|timmar|veckor))\b[.!]?",
    re.I,
)
_COUNTDOWN_LINE = re.compile(r"^tid\s+kvar(?:\s+att\s+(?:an)?söka)?\s*:?.*$", re.I)
_HELPER = re.compile(
    r"\s*[(\[]?\b(?:extern\s+länk|external\s+link|länk\s+till\s+(?:en\s+)?(?:annan|extern)\s+webbplats"
    r"|öppnas\s+i\s+(?:ett\s+)?nytt\s+fönster|opens\s+in\s+(?:a\s+)?new\s+(?:window|tab)"
    r"|link\s+to\s+another\s+website)\b[.,]?[)\]]?",
    re.I,
)
_TOOLBAR_WORD = (r"(?:skriv\s+ut(?:\s+sidan)?|lyssna(?:\s+på\s+sidan)?|läs\s+upp|dela(?:\s+sidan)?(?:\s+på\s+\w+)?"
                 r"|print|listen|share|facebook|linkedin|twitter|x|e-?post|mejla|kopiera\s+länk(?:en)?"
                 r"|tipsa(?:\s+en\s+vän)?|prenumerera|rss|translate|översätt|talande\s+webb)")
_TOOLBAR_LINE = re.compile(rf"^(?:{_TOOLBAR_WORD}[\s|:,•·/-]*)+$", re.I)
_PAGE_NUMBER_LINE = re.compile(r"^(?:sida|page|s\.)\s*\d+(?:\s*(?:av|of|/)\s*\d+)?$|^\d+\s*\(\d+\)$|^\d+\s*/\s*\d+$"
                               r"|^-\s*\d+\s*-$", re.I)


# Any volatile line holds one of these words, or starts with one of these; other lines (most) are
# kept as they are: case-insensitive regexes over a long line cost far more than substring tests.
_HINT_WORDS = ("uppdater", "ändrad", "granskad", "reviderad", "updated", "modified", "kvar", "stäng", "länk", "link",
               "fönster", "window", "new tab")
_HINT_STARTS = ("sida", "page", "s.", "-", "skriv", "lyssna", "läs upp", "dela", "print", "listen", "share", "facebook",
                "linkedin", "twitter", "x", "e-post", "epost", "mejla", "kopiera", "tipsa", "prenumerera", "rss",
                "translate", "översätt", "talande", "tid kvar")


def _volatile_hint(line: str) -> bool:
    low = line.casefold()
    if len(low) <= 12 and low[:1].isdigit():  # "2 (3)", "2/3": a page number
        return True
    if low.startswith(_HINT_STARTS):
        return True
    for word in _HINT_WORDS:  # a plain loop: any() over a generator costs twice as much per line
        if word in low:
            return True
    return False


def _clean_line(line: str) -> str:
    if "\u00a0" in line:
        line = line.replace("\u00a0", " ")
    line = " ".join(line.split())
    if not line or not _volatile_hint(line):
        return line
    if _STAMP_LINE.match(line) or _COUNTDOWN_LINE.match(line) or _PAGE_NUMBER_LINE.match(line):
        return ""
    line = _HELPER.sub("", line)
    line = _COUNTDOWN.sub("", line)
    line = _STAMP_INLINE.sub("", line)
    line = " ".join(line.split()).strip(" |•·")
    if not line or _TOOLBAR_LINE.match(line):
        return ""
    return line


def normalise_text(text: str | None) -> str:
    """TEXT without volatile lines and phrases, whitespace collapsed, one line per block."""
    if not text:
        return ""
    lines = (_clean_line(line) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def pdf_lines(pages: list[str], edge: int = 3) -> list[str]:
    """A PDF's text lines in order without page chrome: page numbers, stamps, and a running title:
    a line at the same place among the first or last EDGE lines of every page (a content line,
    such as "Upphandlingsform: LOU", is at the same place on every page only by rare chance)."""
    split = [[" ".join(raw.split()) for raw in page.splitlines()] for page in pages]
    split = [[line for line in page if line] for page in split]
    running: set[tuple[int, str]] = set()  # (index from the top, or -1 - index from the bottom; line)
    if len(split) > 1:
        for n in range(edge):
            for index in (n, -1 - n):
                found = {page[index] if len(page) > max(index, -1 - index) else None for page in split}
                if len(found) == 1 and None not in found:
                    running.add((index, found.pop()))
    out = []
    for page in split:
        for n, line in enumerate(page):
            if (n, line) in running or (n - len(page), line) in running:
                continue
            line = _clean_line(line)
            if line:
                out.append(line)
    return out


_STAMP_VALUE = re.compile(rf"\b{_STAMP_WORDS}(?:\s+den)?\s*:?\s*(?P<date>{_DATE})", re.I)


def page_stamp(text: str) -> str | None:
    """The page's last stamp as written ("2031-01-15"), to keep as a field outside compared text."""
    found = None
    for found in _STAMP_VALUE.finditer(text or ""):
        pass
    return found.group("date") if found else None
