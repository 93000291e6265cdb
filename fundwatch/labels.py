"""The label vocabulary: which labels name which field of a call, as editors write them. The reader
(spiders/reader.py) matches facts on these label texts, never on the markup, and keeps values as
written."""

from __future__ import annotations

import re

_WS = re.compile(r"\s+")


def clean(text: str | None) -> str:
    return _WS.sub(" ", (text or "").replace("\u00a0", " ")).strip()


# The label vocabulary of calls: field -> the labels editors write for it (any case, with or
# without a colon). A source adds its own labels with `vocabulary(...)`.
CALL_LABELS: dict[str, tuple[str, ...]] = {
    "opens": ("Öppnar", "Utlysningen öppnar", "Ansökan öppnar", "Ansökningsperioden öppnar", "Utlysningsdatum",
              "Öppningsdatum", "Öppnas"),
    "deadline": ("Stänger", "Utlysningen stänger", "Ansökan stänger", "Sista ansökningsdag", "Sista ansökningsdatum",
                 "Sista dag att ansöka", "Sista dag att söka", "Ansökningstiden går ut", "Stängs", "Stängd",
                 "Sök senast", "Ansök senast", "Sista dag för ansökan"),
    # "21 mars – 5 maj 2017": the reader splits it into opens and deadline
    "period": ("Ansökningsperiod", "Ansökningstid", "Utlysningsperiod"),
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


# Status words of the sites (Kulturrådet, Socialstyrelsen, Formas, Forte, Tillväxtverket) onto the
# project's statuses.
STATUS_WORDS = {
    "öppen för ansökan": "open", "öppet för ansökan": "open", "öppna": "open", "öppen": "open",
    "kommande": "upcoming",
    "stängd för ansökan": "closed", "stängt för ansökan": "closed", "stängda": "closed", "stängd": "closed",
    "stängt": "closed", "beslutad": "closed", "beslutade": "closed",
}


def status_from_word(text: str | None) -> str | None:
    """The project's status for a site's status word ("Öppen för ansökan" -> open), or None."""
    word = clean(text).rstrip(".:").casefold()
    return STATUS_WORDS.get(word)
