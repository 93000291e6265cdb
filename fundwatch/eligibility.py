"""Who may apply: the organisation forms a call names in its "Vem kan söka" / "Vilka kan ansöka"
section, and whether a text names civil society at all. Pure stdlib; the spiders and the reader
call it, the digest and the web filter on its forms."""

from __future__ import annotations

import re

from fundwatch.swedish import fold_case

# The forms a subscriber can be, in the order they are shown; each with the words that name it
# (folded; a word matches at the start of a word, so "föreningar" and "idrottsföreningar" do not
# both need listing: "förening" after a word boundary, "ideell"/"ideella").
FORMS: dict[str, tuple[str, ...]] = {
    "ideell förening": ("ideell förening", "ideella förening", "ideell organisation", "ideella organisation",
                        "idéburen", "idéburna", "civilsamhällesorganisation", "civilsamhällets organisation",
                        "organisationer i civilsamhället", "organisation i civilsamhället", "föreningar", "förening",
                        "riksorganisation", "ungdomsorganisation"),
    "stiftelse": ("stiftelse",),
    "trossamfund": ("trossamfund", "församling"),
    "studieförbund": ("studieförbund",),
    "kommun": ("kommun", "kommuner", "kommunalförbund"),
    "region": ("region", "regioner"),
    "myndighet": ("myndighet", "myndigheter", "statliga", "offentlig verksamhet", "offentliga verksamheter"),
    "företag": ("företag", "aktiebolag", "privata verksamheter", "privat verksamhet", "näringsliv"),
    "forskare": ("forskare", "lärosäte", "lärosäten", "universitet", "högskola", "högskolor", "forskningsinstitut"),
}
# Words by which a text names civil society (Vinnova's calls: keep these, mark the rest).
# The `details` entry by which a source marks whether a call names civil society ("ja"/"nej"); a
# "nej" call reaches only subscribers who opt in, like a call reserved for authorities.
CIVIL_SOCIETY_DETAIL = "civilsamhälle"
CIVIL_SOCIETY_WORDS = ("civilsamhäll", "ideell", "förening", "idéburen", "idéburna")

_HEADINGS = re.compile(r"(?:vem|vilka)\s+(?:kan|får)\s+(?:söka|ansöka)\??|vem\s+kan\s+ansöka\??"
                       r"|vilka\s+kan\s+få\s+(?:bidrag|stöd)\??|målgrupp", re.IGNORECASE)
# the section ends at the next usual heading of a call page
_NEXT_HEADING = re.compile(r"\n\s*(?:hur\s+mycket|vad\s+kan|viktiga\s+datum|så\s+ansöker|hur\s+ansöker|när\s+kan"
                           r"|sista\s+ansökningsdag|ansökan\b|villkor|bedömning|kontakt)", re.IGNORECASE)
_PATTERNS = {form: re.compile(r"(?<![\wåäöé])(?:" + "|".join(re.escape(w) for w in words) + r")", re.IGNORECASE)
             for form, words in FORMS.items()}
# "region" the form (Region Skåne as an applicant) is not "regionala", "regionen Västsverige" or a county
_REGION_FORM = re.compile(r"(?<![\wåäö])region(?:er)?(?![\wåäö])", re.IGNORECASE)


def eligibility_section(text: str) -> str:
    """The text under a "Vem kan söka" / "Vilka kan ansöka" heading (up to the next usual heading),
    or '' when the text has no such section."""
    m = _HEADINGS.search(text or "")
    if m is None:
        return ""
    rest = text[m.end():]
    end = _NEXT_HEADING.search(rest)
    return rest[: end.start()] if end else rest[:1500]


_SENTENCES = re.compile(r"(?<=[.!?;])\s+|\n+")
# a sentence that excludes ("Kommuner kan inte söka", "Företag får ej ansöka") names no applicant
_EXCLUDES = re.compile(r"\b(?:kan|får)\s+(?:inte|ej)\b|\b(?:inte|ej)\s+(?:söka|ansöka|sökande|behörig)", re.IGNORECASE)


def organisation_forms(text: str) -> list[str]:
    """The organisation forms TEXT names as applicants, in FORMS order. Pass the eligibility
    section, not a whole page: a page names many bodies that are not applicants."""
    kept = " ".join(s for s in _SENTENCES.split(text or "") if not _EXCLUDES.search(s))
    found = []
    for form, pattern in _PATTERNS.items():
        if (_REGION_FORM if form == "region" else pattern).search(kept):
            found.append(form)
    return found


def eligibility_of(text: str) -> list[str]:
    """Who may apply, read from the page's eligibility section; [] when it has none."""
    section = eligibility_section(text)
    return organisation_forms(section) if section else []


def names_civil_society(text: str) -> bool:
    folded = fold_case(text or "")
    return any(word in folded for word in CIVIL_SOCIETY_WORDS)


def clean_forms(forms) -> list[str]:
    """Forms a person typed, checked against FORMS (case-insensitive); ValueError names the known ones."""
    by_fold = {fold_case(f): f for f in FORMS}
    chosen: list[str] = []
    for raw in forms:
        form = by_fold.get(fold_case(" ".join((raw or "").split())))
        if form is None:
            raise ValueError(f"unknown organisation form {raw!r} (known: {', '.join(FORMS)})")
        if form not in chosen:
            chosen.append(form)
    return chosen
