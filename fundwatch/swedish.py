"""Swedish dates and amounts as the agencies write them.

Pure stdlib, regex based, no Scrapy. It accepts exactly the forms listed below and never invents
a date: a text that names no exact day (a month, a season, a quarter, "3 veckor", "Ej bestämt")
gives ``date=None`` and keeps the text.

Accepted dates
  * long Swedish: ``15 december 2021``, ``den 1 april 2024``, ``06 augusti 2026``, ordinals
    ``1:a april 2024``, abbreviated months ``1 jan 2024``, ``3 feb. 2024``, ``5 sept 2024``,
    any letter case;
  * ISO ``2024-09-20`` and ISO date-times ``2026-08-06T10:00:00+02:00`` (an offset is converted to
    Europe/Stockholm; the local date and time are kept);
  * ranges ``21 mars – 5 maj 2017`` (en dash, em dash, hyphen, minus), ``21–25 mars 2017``,
    ``mellan den 26 augusti – 14 september 2020``, ``mellan den 1 och den 5 maj 2024`` (only after
    "mellan"), ``från 1 mars till 5 maj 2024`` (only after "från"), ISO ``2024-01-01 – 2024-02-01``;
    a year written only at the end applies to both ends (the year before if the start month is
    later than the end month);
  * times ``kl. 17.00``, ``kl 17``, ``klockan 17.00``, ``17:00``, ``23.59``.

Partial dates (``ParsedDate.partial``, never a day): a month, season or quarter with its year, or a
year alone, written as the whole value (``Maj 2027``, ``hösten 2027``, ``kvartal 1 2027``, ``2026``,
``preliminärt maj 2027``) or as a forecast in a sentence (``inför nästa utlysning 2026``, ``inför
hösten 2025``, ``planerar att öppna i maj 2027``).

Refused (no date): day and month without a year unless ``default_year`` is given, two-digit
years, numeric day/month forms (``1/4``, ``20.09.2024``, ``2024/09/20``), impossible dates
(``31 februari 2024``), times such as ``24.00``.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from fundwatch import config

__all__ = [
    "ParsedDate",
    "PartialDate",
    "parse_date",
    "parse_partial_date",
    "find_forecast",
    "date_role",
    "find_dates",
    "parse_amount",
    "format_date_sv",
    "next_rule_date",
    "parse_deadline_rule",
    "parse_date_in_context",
    "parse_date_list",
    "deadline_time",
]


MONTHS_SV = (
    "januari", "februari", "mars", "april", "maj", "juni",
    "juli", "augusti", "september", "oktober", "november", "december",
)
_MONTH_NUM = {name[:3]: i for i, name in enumerate(MONTHS_SV, 1)}

_END_OF_DAY = datetime.time(23, 59)


@dataclass(frozen=True)
class PartialDate:
    """A date the text gives only in part: a year, with a month, a season or a quarter, or alone."""

    year: int
    month: int | None = None
    season: str | None = None  # "våren", "sommaren", "hösten", "vintern"
    quarter: int | None = None

    @property
    def sv(self) -> str:
        """'maj 2027', 'hösten 2027', 'kvartal 1 2027', '2026'."""
        if self.month:
            return f"{MONTHS_SV[self.month - 1]} {self.year}"
        if self.season:
            return f"{self.season} {self.year}"
        if self.quarter:
            return f"kvartal {self.quarter} {self.year}"
        return str(self.year)


@dataclass(frozen=True)
class ParsedDate:
    date: datetime.date | None
    time: datetime.time | None
    end: datetime.date | None = None
    text: str = ""
    partial: PartialDate | None = None  # the text names no day, only this (never completed with a guess)

    @property
    def closes_at(self) -> datetime.datetime | None:
        """The last day (``end`` for a range) at the written time, else 23:59, Europe/Stockholm."""
        day = self.end or self.date
        return closes_at(day, self.time) if day else None


def closes_at(day: datetime.date, time: datetime.time | None = None) -> datetime.datetime:
    """A deadline's moment: DAY at the written TIME, else 23:59, in FUNDWATCH_TIMEZONE."""
    return datetime.datetime.combine(day, time or _END_OF_DAY, tzinfo=config.timezone())


# --------------------------------------------------------------------------------------------
# Patterns
# --------------------------------------------------------------------------------------------

_F = re.IGNORECASE
_DAY = r"(?:3[01]|[12][0-9]|0?[1-9])(?![0-9])(?::[ae](?![a-zåäö]))?"
# Full names first; a dot is only taken after an abbreviation (so "1 oktober. 2025 års …" has no
# year).
_MONTH = (
    r"(?:januari|februari|mars|april|maj|juni|juli|augusti|september|oktober|november|december"
    r"|(?:jan|feb|mar|apr|jun|jul|aug|sept|sep|okt|nov|dec)\.?)(?![a-zåäö])"
)
_YEAR = r"(?:19|20|21)[0-9]{2}(?![0-9])"
_DASH = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212"
_ISO = r"(?:19|20|21)[0-9]{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"

_DATE_RE = re.compile(
    # ISO range
    rf"(?<![0-9])(?P<ir1>{_ISO})(?:\s?[\u2013\u2014\u2212]\s?|\s-\s)(?P<ir2>{_ISO})(?![0-9])"
    # ISO date or date-time
    rf"|(?<![0-9])(?P<iy>(?:19|20|21)[0-9]{{2}})-(?P<im>0[1-9]|1[0-2])-(?P<id>0[1-9]|[12][0-9]|3[01])"
    r"(?:T(?P<ih>[01][0-9]|2[0-3]):(?P<imin>[0-5][0-9])(?::[0-5][0-9](?:\.[0-9]+)?)?"
    r"(?P<itz>Z|[+-](?:[01][0-9]|2[0-3]):?[0-5][0-9])?)?(?![0-9])"
    # "mellan [den] 1 och [den] 5 maj 2024", "från 1 till 5 maj 2024"
    r"|(?:(?<=mellan )|(?<=mellan den )|(?<=från )|(?<=från den ))"
    rf"(?P<wd1>{_DAY})\s(?:och|till)\s(?:den\s)?(?P<wd2>{_DAY})\s?(?P<wm2>{_MONTH})"
    rf"(?:\s?,?\s?(?P<wy2>{_YEAR}))?"
    # long range with a dash: "21 mars – 5 maj 2017", "21–25 mars 2017"
    rf"|(?<![0-9])(?P<rd1>{_DAY})(?:\s?(?P<rm1>{_MONTH})(?:\s?,?\s?(?P<ry1>{_YEAR}))?)?"
    rf"\s?[{_DASH}]\s?(?:den\s)?(?P<rd2>{_DAY})\s?(?P<rm2>{_MONTH})(?:\s?,?\s?(?P<ry2>{_YEAR}))?"
    # long single date
    rf"|(?<![0-9])(?P<d>{_DAY})\s?(?P<m>{_MONTH})(?:\s?,?\s?(?P<y>{_YEAR}))?",
    _F,
)
# "mellan [den] X och [den] Y", "från X till Y": the second half, matched at the end of X.
_WORD_RANGE_RE = re.compile(
    rf"\s(?P<sep>och|till(?: och med)?|t\.\s?o\.\s?m\.|t o m|tom)\s(?:den\s)?"
    rf"(?P<d>{_DAY})\s?(?P<m>{_MONTH})(?:\s?,?\s?(?P<y>{_YEAR}))?",
    _F,
)
_MELLAN_RE = re.compile(r"\bmellan\s(?:den\s)?$", _F)
_FRAN_RE = re.compile(r"(?:\bfrån(?:\soch\smed)?|\bfr\.\s?o\.\s?m\.|\bfr o m|\bfrom)\s(?:den\s)?$", _F)

_HH = r"(?:[01]?[0-9]|2[0-3])"
_MM = r"[0-5][0-9]"
# A time: after "kl"/"klockan" (minutes optional), or HH:MM / HH.MM standing alone (not part of a
# longer number, not an amount or a percentage).
_TIME_RE = re.compile(
    rf"\b(?:kl\.?|klockan)\s?(?P<h1>{_HH})(?:[.:](?P<m1>{_MM}))?(?![0-9]|[.:,][0-9])"
    rf"|(?<![0-9.,:])(?P<h2>{_HH})[.:](?P<m2>{_MM})(?::[0-5][0-9])?(?![0-9]|[.,:][0-9])"
    r"(?!\s?(?:%|procent|kr\b|kronor|sek|msek|mkr|tkr|mnkr|milj|miljon|miljard|tusen))",
    _F,
)
# A time right before a date: "klockan 17.00 den 31 mars".
_TIME_BEFORE_RE = re.compile(
    rf"\b(?:kl\.?|klockan)\s?(?P<h>{_HH})(?:[.:](?P<m>{_MM}))?,?\s(?:den\s|på\s)?$", _F
)

_ROLE_RE = re.compile(
    r"\b(?:(?P<deadline>sista\s(?:ansökningsdag(?:en)?|ansökningsdatum(?:et)?|anbudsdag(?:en)?"
    r"|dag\s(?:att\sansöka|att\ssöka|för\sansökan|för\sanbud)|datum\sför\sansökan)"
    r"|ansökan\sstänger|ansökningstiden\s(?:går\sut|löper\sut|stänger)"
    r"|stänger|stängs|stängd|deadline"
    r"|senast(?!\s(?:uppdaterad|ändrad|granskad|publicerad|reviderad)))"
    r"|(?P<opens>ansökan\söppnar|utlysningsdatum|öppnar|öppnas)"
    # Words that name some other date: they end the reach of an earlier role word.
    r"|(?P<neutral>projektstart|tidigast|beslut\w*|meddelas|publicerad|uppdaterad|ändrad"
    r"|avtalsstart|annonsering|projekttid|projektperiod|startar|start|startdatum"
    r"|redovisning\w*|utbetalning\w*|genomförande\w*))\b",
    _F,
)
# "Den 1 april 2024 är sista ansökningsdag …"
_ROLE_AFTER_RE = re.compile(
    r"\s?(?:är|var|blir)\s(?:den\s)?(?:sista\s(?:ansökningsdag|ansökningsdatum|anbudsdag|dag)"
    r"|deadline)\b",
    _F,
)
# Between two dates of a list: "senast den 1 april eller senast den 1 oktober".
_LIST_CONT_RE = re.compile(
    r"\s?(?:,|och|eller|samt|respektive|resp\.)\s(?:senast\s)?(?:den\s)?$", _F
)
_SENTENCE_END_RE = re.compile(r"[.!?]\s(?=[A-ZÅÄÖ])")

_SEASONS = {"våren": "våren", "vår": "våren", "sommaren": "sommaren", "sommar": "sommaren", "hösten": "hösten",
            "höst": "hösten", "vintern": "vintern", "vinter": "vintern"}
_PARTIAL = (
    rf"(?:(?P<pm>{_MONTH})|(?P<ps>våren|vår|sommaren|sommar|hösten|höst|vintern|vinter)"
    rf"|kvartal\s(?P<pq>[1-4])|q(?P<pq2>[1-4]))?\s?(?<![0-9])(?P<py>{_YEAR})"
)
_HEDGE = r"(?:preliminärt|prel\.|planerat|ca\.?|cirka|i|under)"
_PARTIAL_WHOLE_RE = re.compile(
    rf"(?:{_HEDGE}\s)*{_PARTIAL}\s?(?:\((?:preliminärt|prel\.?)\)|preliminärt)?\.?", _F
)
# A forecast in running text (Jämställdhetsmyndigheten: "Den här sidan kommer att uppdateras inför
# nästa utlysning 2026." / "… inför hösten 2025.").
_FORECAST_RE = re.compile(
    r"\b(?:inför\snästa\s(?:utlysning(?:en)?|ansökningsomgång(?:en)?|ansökningsperiod(?:en)?|omgång(?:en)?)"
    r"|uppdateras\sinför"
    r"|nästa\s(?:utlysning|ansökningsomgång|ansökningsperiod)\s(?:öppnar|planeras|beräknas)(?:\satt\söppna)?"
    r"|(?:planerar|planeras|beräknas)\satt\söppna|planeras\söppna|beräknas\söppna)"
    rf"\s(?:(?:i|under)\s)?{_PARTIAL}(?![0-9])",
    _F,
)

_ROLE_REACH = 100  # characters before a date in which its role word is looked for
_TIME_REACH = 60  # characters after a date in which its time is looked for


def _norm(text: str) -> str:
    if "\u200b" in text or "\u00ad" in text:
        text = text.replace("\u200b", "").replace("\u00ad", "")
    return " ".join(text.split())


def _mk_date(y: int, m: int, d: int) -> datetime.date | None:
    try:
        return datetime.date(y, m, d)
    except ValueError:
        return None


def _month(token: str) -> int:
    return _MONTH_NUM[token[:3].lower()]


def _day(token: str) -> int:
    return int(token.split(":", 1)[0])


@dataclass(frozen=True)
class _Hit:
    start: int
    end: int
    date: datetime.date | None
    end_date: datetime.date | None
    time: datetime.time | None  # from an ISO date-time only
    yearless: tuple[int, int] | None  # (month, day) of a single date written without a year
    text: str


def _iso(s: str) -> datetime.date | None:
    return _mk_date(int(s[0:4]), int(s[5:7]), int(s[8:10]))


def _hit(text: str, m: re.Match, default_year: int | None) -> _Hit:
    g = m.group
    if g("ir1"):
        a, b = _iso(g("ir1")), _iso(g("ir2"))
        if a is None or b is None or b < a:
            a = b = None
        return _Hit(m.start(), m.end(), a, b, None, None, m.group(0))
    if g("iy"):
        y, mo, d = int(g("iy")), int(g("im")), int(g("id"))
        day = _mk_date(y, mo, d)
        t = None
        if day is not None and g("ih"):
            t = datetime.time(int(g("ih")), int(g("imin")))
            tz = g("itz")
            if tz:
                if tz.upper() == "Z":
                    off = datetime.timedelta(0)
                else:
                    sign = -1 if tz[0] == "-" else 1
                    hh, mm = int(tz[1:3]), int(tz[-2:])
                    off = sign * datetime.timedelta(hours=hh, minutes=mm)
                aware = datetime.datetime.combine(day, t, tzinfo=datetime.timezone(off))
                local = aware.astimezone(config.timezone())
                day, t = local.date(), local.time().replace(second=0, microsecond=0)
        return _Hit(m.start(), m.end(), day, None, t, None, m.group(0))
    if g("wd2"):
        m2 = _month(g("wm2"))
        return _range_hit(
            m.start(), m.end(), text, _day(g("wd1")), m2, None, _day(g("wd2")), m2, g("wy2"),
            default_year,
        )
    if g("rd2"):
        d2, m2 = _day(g("rd2")), _month(g("rm2"))
        d1 = _day(g("rd1"))
        m1 = _month(g("rm1")) if g("rm1") else m2
        return _range_hit(m.start(), m.end(), text, d1, m1, g("ry1"), d2, m2, g("ry2"), default_year)
    # single long date; maybe the start of "mellan X och Y" / "från X till Y"
    d, mo, ys = _day(g("d")), _month(g("m")), g("y")
    w = _WORD_RANGE_RE.match(text, m.end())
    if w is not None:
        sep = w.group("sep").lower()
        before = text[max(0, m.start() - 20):m.start()]
        ok = _MELLAN_RE.search(before) if sep == "och" else _FRAN_RE.search(before)
        if ok:
            return _range_hit(
                m.start(), w.end(), text, d, mo, ys, _day(w.group("d")), _month(w.group("m")),
                w.group("y"), default_year,
            )
    if ys:
        return _Hit(m.start(), m.end(), _mk_date(int(ys), mo, d), None, None, None, m.group(0))
    day = _mk_date(default_year, mo, d) if default_year else None
    yearless = (mo, d) if _mk_date(2000, mo, d) else None  # 2000: a leap year
    return _Hit(m.start(), m.end(), day, None, None, yearless, m.group(0))


def _range_hit(start, stop, text, d1, m1, y1s, d2, m2, y2s, default_year) -> _Hit:
    y2 = int(y2s) if y2s else default_year
    a = b = None
    if y2 is not None:
        b = _mk_date(y2, m2, d2)
        if y1s:
            a = _mk_date(int(y1s), m1, d1)
        elif b is not None:
            a = _mk_date(y2 - 1 if (m1, d1) > (m2, d2) else y2, m1, d1)
        if a is None or b is None or b < a:
            a = b = None
    return _Hit(start, stop, a, b, None, None, text[start:stop])


def _time(h: str, m: str | None) -> datetime.time:
    return datetime.time(int(h), int(m) if m else 0)


def _time_from(m: re.Match) -> datetime.time:
    if m.group("h1") is not None:
        return _time(m.group("h1"), m.group("m1"))
    return _time(m.group("h2"), m.group("m2"))


# --------------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------------


def _partial(m: re.Match) -> PartialDate:
    g = m.group
    return PartialDate(int(g("py")), month=_month(g("pm")) if g("pm") else None,
                       season=_SEASONS[g("ps").lower()] if g("ps") else None,
                       quarter=int(g("pq") or g("pq2")) if g("pq") or g("pq2") else None)


_LABEL_RE = re.compile(r"^[^:0-9]{1,40}:\s?")


def parse_partial_date(text: str) -> PartialDate | None:
    """A value that is a partial date and nothing else ("Maj 2027", "Öppnar: hösten 2027", "2026"),
    after its label if it has one: None for anything else ("Utlyses inte 2027", "Ej bestämt", a
    whole date)."""
    s = _norm(text)
    m = _PARTIAL_WHOLE_RE.fullmatch(s) or _PARTIAL_WHOLE_RE.fullmatch(_LABEL_RE.sub("", s, count=1))
    return _partial(m) if m else None


def find_forecast(text: str) -> PartialDate | None:
    """The partial date a sentence forecasts the next round for ("inför nästa utlysning 2026")."""
    m = _FORECAST_RE.search(_norm(text))
    return _partial(m) if m else None


def parse_date(text: str, *, default_year: int | None = None) -> ParsedDate:
    """The first date (or range) in ``text`` and a time written with it.

    A day and month without a year give ``date=None`` unless ``default_year`` is given. Vague
    text gives ``date=None``; the normalised text is always kept in ``text``; a text that names
    no day but a month, season or quarter with its year, or a year alone (the whole value, or a
    forecast such as "inför nästa utlysning 2026"), gives it as ``partial``.
    """
    s = _norm(text)
    m = _DATE_RE.search(s)
    if m is None:
        t = _TIME_RE.search(s)
        return ParsedDate(None, _time_from(t) if t else None, None, s, parse_partial_date(s) or find_forecast(s))
    h = _hit(s, m, default_year)
    t = h.time
    if t is None:
        before = _TIME_BEFORE_RE.search(s, max(0, h.start - 30), h.start)
        if before is not None:
            t = _time(before.group("h"), before.group("m"))
        else:
            # the first time after the date and before the next date (unless it is written
            # right before that next date); in a text with one date, any time in it
            nxt = _DATE_RE.search(s, h.end)
            stop = nxt.start() if nxt is not None else len(s)
            tm = _TIME_RE.search(s, h.end, stop)
            if tm is not None and nxt is not None and _TIME_BEFORE_RE.search(s, tm.start(), stop):
                tm = None
            if tm is None and nxt is None:
                tm = _TIME_RE.search(s, 0, h.start)
            t = _time_from(tm) if tm else None
    return ParsedDate(h.date, t, h.end_date, s)


_YEAR_IN_CONTEXT = re.compile(rf"(?<![0-9]){_YEAR}")


def parse_date_in_context(text: str, *, title: str = "", page_date: datetime.date | None = None) -> ParsedDate:
    """A date whose year may be missing ("Ansökan öppnar: 1 februari"): the year comes from the
    page's own date, else from the call's title when it states exactly one year; otherwise the
    date stays partial (``date=None``, text kept). A year alone ("Maj 2023", "inför nästa
    utlysning 2026") never becomes a day."""
    parsed = parse_date(text)
    if parsed.date is not None:
        return parsed
    year = page_date.year if page_date else None
    if year is None:
        years = set(_YEAR_IN_CONTEXT.findall(_norm(title or "")))
        year = int(years.pop()) if len(years) == 1 else None
    return parse_date(text, default_year=year) if year else parsed


def deadline_time(parsed: ParsedDate) -> str | None:
    """A deadline's written clock time as "HH:MM" (14.00 -> "14:00"); None when none is written."""
    return parsed.time.strftime("%H:%M") if parsed.time else None


def _role_in(prefix: str) -> str | None:
    last = None
    for last in _ROLE_RE.finditer(prefix):
        pass
    if last is None or last.lastgroup == "neutral":
        return None
    return last.lastgroup


def date_role(label_or_text: str) -> str | None:
    """``"deadline"``, ``"opens"`` or None from the words before a date (or in a bare label)."""
    s = _norm(label_or_text)
    m = _DATE_RE.search(s)
    if m is None:
        return _role_in(s)
    role = _role_in(_clause_before(s, 0, m.start()))
    if role is None and _ROLE_AFTER_RE.match(s, m.end()):
        role = "deadline"
    return role


def _clause_before(s: str, lo: int, hi: int) -> str:
    lo = max(lo, hi - _ROLE_REACH)
    seg = s[lo:hi]
    last = None
    for last in _SENTENCE_END_RE.finditer(seg):
        pass
    return seg[last.end():] if last is not None else seg


def _scan(text: str) -> list[tuple[str | None, _Hit, datetime.time | None]]:
    s = text
    hits = [_hit(s, m, None) for m in _DATE_RE.finditer(s)]
    # a word range ("mellan 1 och 5 maj") swallows the date after it
    kept: list[_Hit] = []
    for h in hits:
        if kept and h.start < kept[-1].end:
            continue
        kept.append(h)
    out: list[tuple[str | None, _Hit, datetime.time | None]] = []
    prev_end = 0
    prev_role: str | None = None
    for i, h in enumerate(kept):
        between = s[prev_end:h.start]
        role = _role_in(_clause_before(s, prev_end, h.start))
        if role is None and out and _LIST_CONT_RE.fullmatch(between):
            role = prev_role
        next_start = kept[i + 1].start if i + 1 < len(kept) else len(s)
        if role is None and _ROLE_AFTER_RE.match(s, h.end):
            role = "deadline"
        t = h.time
        if t is None:
            b = _TIME_BEFORE_RE.search(s, max(prev_end, h.start - 30), h.start)
            if b is not None:
                t = _time(b.group("h"), b.group("m"))
            else:
                stop = min(next_start, h.end + _TIME_REACH)
                window = s[h.end:stop]
                cut = _SENTENCE_END_RE.search(window)
                if cut is not None:
                    stop = h.end + cut.start()
                a = _TIME_RE.search(s, h.end, stop)
                # a "kl" time must not be the one that belongs to the next date
                if a is not None and not _TIME_BEFORE_RE.search(s, a.start(), next_start):
                    t = _time_from(a)
        out.append((role, h, t))
        prev_end, prev_role = h.end, role
    return out


def find_dates(text: str) -> list[tuple[str | None, ParsedDate]]:
    """Every date (or range) in running text, in order, with its role.

    Each ParsedDate's ``text`` is the date as written; a date without a year (or an impossible
    one) is listed with ``date=None``.
    """
    s = _norm(text)
    return [(role, ParsedDate(h.date, t, h.end_date, h.text)) for role, h, t in _scan(s)]


def parse_date_list(text: str, *, default_year: int | None = None) -> list[datetime.date] | None:
    """Every date of a list, in order ("17 februari, 14 april och 8 december 2027"): a year
    written once, after the dates, belongs to each date before it (the year before for a date that
    would otherwise fall after the dated one, as in ranges); a date with no year after it takes
    ``default_year``. None when the text names no date, or a date stays without a year or a day
    (a range, a month alone): the list is then kept as written, never completed with a guess."""
    hits = [h for _, h, _ in _scan(_norm(text))]
    if not hits or any(h.end_date is not None or (h.date is None and h.yearless is None) for h in hits):
        return None
    out: list[datetime.date] = []
    for n, h in enumerate(hits):
        day = h.date
        if day is None:
            dated = next((later.date for later in hits[n + 1:] if later.date is not None), None)
            month, dom = h.yearless
            if dated is not None:
                day = _mk_date(dated.year, month, dom)
                if day is None or day > dated:
                    day = _mk_date(dated.year - 1, month, dom)
            elif default_year is not None:
                day = _mk_date(default_year, month, dom)
            if day is None:
                return None
        out.append(day)
    return out


def parse_deadline_rule(text: str) -> list[tuple[int, int]] | None:
    """Recurring deadlines: day-and-month dates written WITHOUT a year in a deadline role, as
    sorted ``(month, day)`` pairs; None when there are none."""
    s = _norm(text)
    rule = {h.yearless for role, h, _ in _scan(s) if role == "deadline" and h.yearless}
    return sorted(rule) if rule else None


def next_rule_date(rule: list[tuple[int, int]], today: datetime.date) -> datetime.date:
    """The next date on or after ``today`` that matches one of the ``(month, day)`` pairs."""
    if not rule:
        raise ValueError("empty deadline rule")
    best: datetime.date | None = None
    for month, day in rule:
        for year in range(today.year, today.year + 9):  # 29 February: up to 8 years ahead
            d = _mk_date(year, month, day)
            if d is not None and d >= today:
                if best is None or d < best:
                    best = d
                break
    if best is None:
        raise ValueError(f"no date matches rule {rule!r}")
    return best


def format_date_sv(d: datetime.date) -> str:
    """``date(2027, 5, 17)`` -> ``"17 maj 2027"``."""
    return f"{d.day} {MONTHS_SV[d.month - 1]} {d.year}"


# --------------------------------------------------------------------------------------------
# Amounts
# --------------------------------------------------------------------------------------------

_NUM = r"(?<![0-9.,])(?P<n>[0-9]{1,3}(?:(?: |\.)[0-9]{3})+(?:,[0-9]+)?|[0-9]+(?:[,.][0-9]+)?)(?![0-9])"
_CUR = r"(?:kronor|kr\.?|sek)(?![a-zåäö])"
_UNIT = (
    rf"(?P<u9>miljarder\s{_CUR}|miljard\s{_CUR}|mdkr|md\skr|mdr\s?kr|mdsek)"
    rf"|(?P<u6>miljoner\s{_CUR}|miljon\s{_CUR}|milj\.?\s{_CUR}|mnkr|mn\skr|mkr|msek|mln\s{_CUR})"
    rf"|(?P<u3>tusen\s{_CUR}|tkr|tsek|ksek)"
    rf"|(?P<u1>{_CUR}|:-)"
)
_AMOUNT_RE = re.compile(rf"{_NUM}\s?(?:{_UNIT})(?![a-zåäö])", _F)
_RANGE_BEFORE_RE = re.compile(
    r"(?<![0-9.,])[0-9][0-9 ,.]*\s?(?:[-\u2013\u2014\u2212]|\soch\s|\still\s|\sà\s)\s?(?:ca\.?\s)?$", _F
)
_SCALE = {"u9": 10**9, "u6": 10**6, "u3": 10**3, "u1": 1}


def _amount_value(num: str, scale: int) -> int | None:
    if "." in num:
        parts = num.split(".")
        if all(len(p) == 3 for p in parts[1:]) and "," not in num:
            if scale != 1:
                return None  # "1.500 MSEK": thousands or decimals? ambiguous
            num = "".join(parts)
        elif len(parts) == 2 and "," not in num and " " not in num:
            num = num.replace(".", ",")  # decimal point
        else:
            return None
    num = num.replace(" ", "")
    whole, _, frac = num.partition(",")
    value = Decimal(int(whole + frac)) * scale / (10 ** len(frac))
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def parse_amount(text: str) -> int | None:
    """An amount in SEK as an int when the text states exactly one, else None.

    Needs a currency (kr, kronor, SEK, :-, MSEK, mkr, tkr, miljoner kronor, …); percentages,
    bare numbers and ranges ("1–3 MSEK", "mellan 1 och 3 MSEK") give None. Öre are rounded.
    """
    s = _norm(text)
    if not s:
        return None
    values = set()
    for m in _AMOUNT_RE.finditer(s):
        if _RANGE_BEFORE_RE.search(s, max(0, m.start() - 40), m.start()):
            return None
        scale = _SCALE[m.lastgroup]
        v = _amount_value(m.group("n"), scale)
        if v is None:
            return None
        values.add(v)
    if len(values) != 1:
        return None
    return values.pop()


def fold_case(text: str) -> str:
    """Swedish case folding for keyword matching: NFC then casefold; å, ä, ö stay themselves."""
    return unicodedata.normalize("NFC", text).casefold()
