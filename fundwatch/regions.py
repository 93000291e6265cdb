"""Regions of regional calls: the 21 counties (län) and the eight ESF+ regions. A call that names
one in its title or its page's county path carries it; subscribers and the web list filter on it."""

from __future__ import annotations

import re

from fundwatch.swedish import fold_case

COUNTIES: dict[str, str] = {  # lansstyrelsen.se path segment -> county
    "stockholm": "Stockholms län", "uppsala": "Uppsala län", "sodermanland": "Södermanlands län",
    "ostergotland": "Östergötlands län", "jonkoping": "Jönköpings län", "kronoberg": "Kronobergs län",
    "kalmar": "Kalmar län", "gotland": "Gotlands län", "blekinge": "Blekinge län", "skane": "Skåne län",
    "halland": "Hallands län", "vastra-gotaland": "Västra Götalands län", "varmland": "Värmlands län",
    "orebro": "Örebro län", "vastmanland": "Västmanlands län", "dalarna": "Dalarnas län",
    "gavleborg": "Gävleborgs län", "vasternorrland": "Västernorrlands län", "jamtland": "Jämtlands län",
    "vasterbotten": "Västerbottens län", "norrbotten": "Norrbottens län",
}
ESF_REGIONS = ("Övre Norrland", "Mellersta Norrland", "Norra Mellansverige", "Östra Mellansverige",
               "Stockholm", "Västsverige", "Småland och öarna", "Sydsverige")
REGIONS = tuple(COUNTIES.values()) + tuple(r for r in ESF_REGIONS if r != "Stockholm")

_COUNTY_PATH = re.compile(r"lansstyrelsen\.se/([a-z-]+)/")
# "Skåne län" also written "Skånes län", "Region Skåne" is an applicant, not a region of the call
_NAMED = [(region, re.compile(r"(?<![\wåäö])" + re.escape(fold_case(region.removesuffix(" län"))).rstrip("s")
                              + r"s?\s+län(?![\wåäö])"))
          for region in COUNTIES.values()]
_ESF = [(region, re.compile(r"(?<![\wåäö])" + re.escape(fold_case(region)) + r"(?![\wåäö])")) for region in ESF_REGIONS
        if region != "Stockholm"]


def region_of(url: str = "", title: str = "") -> str | None:
    """The county of a county site's page (by its URL), else a county or ESF+ region the title
    names; None for a national call."""
    m = _COUNTY_PATH.search(url or "")
    if m and m.group(1) in COUNTIES:
        return COUNTIES[m.group(1)]
    folded = fold_case(title or "")
    for region, pattern in _NAMED + _ESF:
        if pattern.search(folded):
            return region
    return None


def clean_regions(regions) -> list[str]:
    by_fold = {fold_case(r): r for r in REGIONS}
    chosen: list[str] = []
    for raw in regions:
        region = by_fold.get(fold_case(" ".join((raw or "").split())))
        if region is None:
            raise ValueError(f"unknown region {raw!r} (known: {', '.join(REGIONS)})")
        if region not in chosen:
            chosen.append(region)
    return chosen
