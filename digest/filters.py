"""A subscriber's filters: which agencies, kinds and keywords they want, and whether calls reserved
for authorities are included. Cleaning turns what a person typed into known slugs and kinds."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fundwatch.eligibility import clean_forms
from fundwatch.items import KINDS
from fundwatch.regions import clean_regions
from fundwatch.sources import load_sources
from fundwatch.swedish import fold_case

if TYPE_CHECKING:
    from fundwatch.digest.models import Subscriber

MAX_KEYWORDS, MAX_KEYWORD_LEN = 30, 60
REMINDER_DAYS = (7, 14, 30)  # how long before a deadline a call is listed first
DEFAULT_REMINDER_DAYS = 14


class SubscriptionError(ValueError):
    pass


@dataclass
class Filters:
    agencies: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    include_noncompetitive: bool = False
    reminder_days: int = DEFAULT_REMINDER_DAYS
    muted: list[str] = field(default_factory=list)  # item ids
    forms: list[str] = field(default_factory=list)  # the subscriber's organisation form(s); empty: any
    regions: list[str] = field(default_factory=list)  # its region(s); empty: every region

    @classmethod
    def of(cls, sub: Subscriber) -> "Filters":
        return cls(list(sub.agencies or []), list(sub.kinds or []), list(sub.keywords or []), bool(sub.include_noncompetitive),
                   sub.reminder_days or DEFAULT_REMINDER_DAYS, list(sub.muted or []),
                   list(sub.forms or []), list(sub.regions or []))

    def key(self) -> tuple:
        return (tuple(sorted(self.agencies)), tuple(sorted(self.kinds)), tuple(sorted(fold_case(k) for k in self.keywords)),
                self.include_noncompetitive, self.reminder_days, tuple(sorted(self.muted)),
                tuple(sorted(self.forms)), tuple(sorted(self.regions)))


def known_agencies() -> dict[str, str]:

    sources = load_sources()
    slugs = {s.agency for s in sources} | set(sources.agencies)
    return {slug: sources.agency_name(slug) for slug in sorted(slugs)}


def clean_reminder_days(value) -> int:
    try:
        days = int(value)
    except (TypeError, ValueError):
        days = 0
    if days not in REMINDER_DAYS:
        raise SubscriptionError(f"reminder days must be one of {', '.join(map(str, REMINDER_DAYS))}, not {value!r}")
    return days


def clean_filters(agencies=(), kinds=(), keywords=(), include_noncompetitive: bool = False,
                  agencies_known: dict[str, str] | None = None,
                  reminder_days=DEFAULT_REMINDER_DAYS, forms=(), regions=()) -> Filters:
    known = agencies_known if agencies_known is not None else known_agencies()
    by_name = {name.casefold(): slug for slug, name in known.items()}
    chosen_agencies: list[str] = []
    for a in agencies:
        a = (a or "").strip()
        slug = a if a in known else by_name.get(a.casefold())
        if slug is None:
            raise SubscriptionError(f"unknown agency {a!r} (known: {', '.join(known)})")
        if slug not in chosen_agencies:
            chosen_agencies.append(slug)
    chosen_kinds: list[str] = []
    for k in kinds:
        if k not in KINDS:
            raise SubscriptionError(f"unknown kind {k!r} (known: {', '.join(KINDS)})")
        if k not in chosen_kinds:
            chosen_kinds.append(k)
    words: list[str] = []
    for w in keywords:
        w = " ".join(unicodedata.normalize("NFC", w or "").split())
        if not w:
            continue
        if len(w) > MAX_KEYWORD_LEN:
            raise SubscriptionError(f"keyword too long (at most {MAX_KEYWORD_LEN} characters): {w[:20]!r}…")
        if fold_case(w) not in {fold_case(x) for x in words}:
            words.append(w)
    if len(words) > MAX_KEYWORDS:
        raise SubscriptionError(f"at most {MAX_KEYWORDS} keywords")
    try:
        chosen_forms, chosen_regions = clean_forms(forms), clean_regions(regions)
    except ValueError as exc:
        raise SubscriptionError(str(exc)) from None
    return Filters(chosen_agencies, chosen_kinds, words, bool(include_noncompetitive), clean_reminder_days(reminder_days),
                   forms=chosen_forms, regions=chosen_regions)
