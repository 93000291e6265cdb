"""Label/value pairs as editors write them: table rows, definition lists, or a paragraph (or list
item) with a bold label. Match on the label text, never on the markup (Sitevision pages mix all
three), and keep the value as written."""

from __future__ import annotations

import re

from parsel import Selector

_WS = re.compile(r"\s+")


def clean(text: str | None) -> str:
    return _WS.sub(" ", (text or "").replace("\u00a0", " ")).strip()


def _norm_label(text: str) -> str:
    return clean(text).rstrip(":").strip().casefold()


def _text(sel: Selector) -> str:
    return clean(" ".join(sel.xpath(".//text()").getall()))


def label_pairs(block: Selector) -> list[tuple[str, str]]:
    """Every (label, value) pair in a block of HTML, in document order."""
    pairs: list[tuple[str, str]] = []
    for row in block.xpath(".//tr"):
        cells = row.xpath("./th|./td")
        if len(cells) >= 2:
            pairs.append((_text(cells[0]), clean(" ".join(_text(c) for c in cells[1:]))))
    for dt in block.xpath(".//dt"):
        dd = dt.xpath("following-sibling::dd[1]")
        if dd:
            pairs.append((_text(dt), _text(dd[0])))
    for para in block.xpath(".//p[strong or b] | .//li[strong or b]"):
        bold = para.xpath("(./strong|./b)[1]")
        label = _text(bold[0])
        whole = _text(para)
        if whole.startswith(label):
            value = whole[len(label):].lstrip(" :").strip()
            if value:
                pairs.append((label, value))
    for para in block.xpath(".//p[not(strong) and not(b)] | .//li[not(strong) and not(b)]"):
        label, sep, value = _text(para).partition(":")  # "Sista ansökningsdag: 2024-09-20"
        if sep and value.strip() and len(label) <= 40:
            pairs.append((label, value.strip()))
    return pairs


def find_labels(block: Selector, labels: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """{field: value} for fields whose label (any of its spellings) appears in the block."""
    wanted = {_norm_label(spelling): name for name, spellings in labels.items() for spelling in spellings}
    found: dict[str, str] = {}
    for label, value in label_pairs(block):
        name = wanted.get(_norm_label(label))
        if name and name not in found:
            found[name] = value
    return found


# The label vocabulary of calls: field -> the labels editors write for it (any case, with or
# without a colon). A source adds its own labels with `vocabulary(...)`.
CALL_LABELS: dict[str, tuple[str, ...]] = {
    "opens": ("Öppnar", "Utlysningen öppnar", "Ansökan öppnar", "Ansökningsperioden öppnar", "Utlysningsdatum",
              "Öppningsdatum", "Öppnas"),
    "deadline": ("Stänger", "Utlysningen stänger", "Ansökan stänger", "Sista ansökningsdag", "Sista ansökningsdatum",
                 "Sista dag att ansöka", "Sista dag att söka", "Ansökningstiden går ut", "Stängs", "Stängd"),
    "amount": ("Tillgängliga medel", "Budget", "Total budget", "Belopp", "Utlyst belopp", "Medel att söka",
               "Totalt belopp"),
    "funding": ("Finansieringsalternativ",),
    "support_rate": ("Stöd från AMIF", "Stödnivå", "Medfinansiering"),
    "project_start": ("Tidigast projektstart", "Projektstart"),
    "decision": ("Beslut meddelas", "Beslut", "Besked"),
}
# A heading owning one of these is a call.
KEY_FIELDS = ("opens", "deadline", "amount")


def vocabulary(base: dict[str, tuple[str, ...]] = CALL_LABELS, **extra: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """BASE with more spellings per field (a source's own labels)."""
    merged = dict(base)
    for name, spellings in extra.items():
        merged[name] = tuple(dict.fromkeys((*merged.get(name, ()), *spellings)))
    return merged
