"""fundwatch.spiders.swedish: dates, roles, rules and amounts as the agencies write them."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

try:
    from fundwatch import swedish
except ImportError:  # tests/ is not a package: make the project root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from fundwatch import swedish

from fundwatch.swedish import (  # noqa: E402
    ParsedDate,
    PartialDate,
    date_role,
    find_dates,
    format_date_sv,
    next_rule_date,
    parse_amount,
    parse_date,
    parse_date_in_context,
    parse_date_list,
    parse_deadline_rule,
    parse_partial_date,
)

D = dt.date
T = dt.time
NBSP = "\u00a0"
NNBSP = "\u202f"


# (input, date, time, end, normalised text)
DATES = [
    # long Swedish
    ("15 december 2021", D(2021, 12, 15), None, None, "15 december 2021"),
    ("den 1 april 2024", D(2024, 4, 1), None, None, "den 1 april 2024"),
    ("Öppnar 12 augusti 2024", D(2024, 8, 12), None, None, "Öppnar 12 augusti 2024"),
    ("Stängd 19 mars 2024", D(2024, 3, 19), None, None, "Stängd 19 mars 2024"),
    ("06 augusti 2026", D(2026, 8, 6), None, None, "06 augusti 2026"),
    ("24 mars 2022", D(2022, 3, 24), None, None, "24 mars 2022"),
    ("26 april 2022", D(2022, 4, 26), None, None, "26 april 2022"),
    ("Tidigast 1 september 2022. Projektet får pågå i tre år.", D(2022, 9, 1), None, None,
     "Tidigast 1 september 2022. Projektet får pågå i tre år."),
    ("Tidigast 1 september 2022. …", D(2022, 9, 1), None, None, "Tidigast 1 september 2022. …"),
    ("Ansökan öppnar: 17 maj 2024", D(2024, 5, 17), None, None, "Ansökan öppnar: 17 maj 2024"),
    ("Den 1 april 2024 är sista ansökningsdag", D(2024, 4, 1), None, None,
     "Den 1 april 2024 är sista ansökningsdag"),
    ("1:a april 2024", D(2024, 4, 1), None, None, "1:a april 2024"),
    # capitals and abbreviations
    ("1 JANUARI 2025", D(2025, 1, 1), None, None, "1 JANUARI 2025"),
    ("5 Oktober 2023", D(2023, 10, 5), None, None, "5 Oktober 2023"),
    ("1 jan 2024", D(2024, 1, 1), None, None, "1 jan 2024"),
    ("3 feb. 2024", D(2024, 2, 3), None, None, "3 feb. 2024"),
    ("5 sept 2024", D(2024, 9, 5), None, None, "5 sept 2024"),
    ("5 Sep. 2024", D(2024, 9, 5), None, None, "5 Sep. 2024"),
    ("30 nov 2025", D(2025, 11, 30), None, None, "30 nov 2025"),
    ("12 Okt 2026", D(2026, 10, 12), None, None, "12 Okt 2026"),
    ("29 februari 2024", D(2024, 2, 29), None, None, "29 februari 2024"),
    # whitespace: no-break spaces, runs, newlines
    (f"17{NBSP}juni{NBSP}2024", D(2024, 6, 17), None, None, "17 juni 2024"),
    (f"  Stänger\n\t 26 {NNBSP}april   2022 ", D(2022, 4, 26), None, None, "Stänger 26 april 2022"),
    # ISO
    ("2024-09-20", D(2024, 9, 20), None, None, "2024-09-20"),
    ("Sista ansökningsdag: 2024-09-20", D(2024, 9, 20), None, None, "Sista ansökningsdag: 2024-09-20"),
    ("Utlysningsdatum: 2024-06-28", D(2024, 6, 28), None, None, "Utlysningsdatum: 2024-06-28"),
    ("Senast uppdaterad:2018-12-19", D(2018, 12, 19), None, None, "Senast uppdaterad:2018-12-19"),
    ("Uppdaterad: 2026-10-27", D(2026, 10, 27), None, None, "Uppdaterad: 2026-10-27"),
    # <time datetime="…"> attribute values (an offset is converted to Stockholm time)
    ("2026-08-06T10:00:00+02:00", D(2026, 8, 6), T(10, 0), None, "2026-08-06T10:00:00+02:00"),
    ("2026-01-15T09:30:00+01:00", D(2026, 1, 15), T(9, 30), None, "2026-01-15T09:30:00+01:00"),
    ("2026-08-06T23:30:00Z", D(2026, 8, 7), T(1, 30), None, "2026-08-06T23:30:00Z"),
    # with a time
    ("senast klockan 17.00 den 31 mars 2023", D(2023, 3, 31), T(17, 0), None,
     "senast klockan 17.00 den 31 mars 2023"),
    ("30 april 2024 kl. 17:00", D(2024, 4, 30), T(17, 0), None, "30 april 2024 kl. 17:00"),
    ("17 juni 2024 (ansökan kan skickas in fram till 23.59)", D(2024, 6, 17), T(23, 59), None,
     "17 juni 2024 (ansökan kan skickas in fram till 23.59)"),
    ("1 mars 2025 kl 12", D(2025, 3, 1), T(12, 0), None, "1 mars 2025 kl 12"),
    ("2024-09-20 kl. 16.00", D(2024, 9, 20), T(16, 0), None, "2024-09-20 kl. 16.00"),
    ("2024-09-20 17:00", D(2024, 9, 20), T(17, 0), None, "2024-09-20 17:00"),
    ("Ansökan ska vara inne kl. 17.00 senast den 31 mars 2023", D(2023, 3, 31), T(17, 0), None,
     "Ansökan ska vara inne kl. 17.00 senast den 31 mars 2023"),
    ("Stänger kl. 24.00 den 1 maj 2024", D(2024, 5, 1), None, None, "Stänger kl. 24.00 den 1 maj 2024"),
    # the time that goes with the first date, not one written with a later date
    ("från 1 mars till 5 maj 2024. Sista ansökningsdag 5 maj 2024 kl 23:59.", D(2024, 3, 1), None,
     D(2024, 5, 5), "från 1 mars till 5 maj 2024. Sista ansökningsdag 5 maj 2024 kl 23:59."),
    ("Öppnar 1 mars 2025 och stänger kl. 16.00 den 5 april 2025", D(2025, 3, 1), None, None,
     "Öppnar 1 mars 2025 och stänger kl. 16.00 den 5 april 2025"),
    ("Publicerad 2025-09-23 kl 10.15. Sista anbudsdag 2025-10-30.", D(2025, 9, 23), T(10, 15), None,
     "Publicerad 2025-09-23 kl 10.15. Sista anbudsdag 2025-10-30."),
    ("fram till 23.59", None, T(23, 59), None, "fram till 23.59"),
    ("kl. 16.00", None, T(16, 0), None, "kl. 16.00"),
    ("senast den 1 oktober kl. 16.00", None, T(16, 0), None, "senast den 1 oktober kl. 16.00"),
    # ranges: en dash, hyphen, em dash, minus; year applies to both ends
    ("21 mars – 5 maj 2017", D(2017, 3, 21), None, D(2017, 5, 5), "21 mars – 5 maj 2017"),
    ("21 mars - 5 maj 2017", D(2017, 3, 21), None, D(2017, 5, 5), "21 mars - 5 maj 2017"),
    ("21 mars—5 maj 2017", D(2017, 3, 21), None, D(2017, 5, 5), "21 mars—5 maj 2017"),
    ("21 mars \u2212 5 maj 2017", D(2017, 3, 21), None, D(2017, 5, 5), "21 mars \u2212 5 maj 2017"),
    ("mellan den 26 augusti – 14 september 2020", D(2020, 8, 26), None, D(2020, 9, 14),
     "mellan den 26 augusti – 14 september 2020"),
    ("21–25 mars 2017", D(2017, 3, 21), None, D(2017, 3, 25), "21–25 mars 2017"),
    ("1 mars 2024 – 5 maj 2025", D(2024, 3, 1), None, D(2025, 5, 5), "1 mars 2024 – 5 maj 2025"),
    ("15 december – 10 januari 2018", D(2017, 12, 15), None, D(2018, 1, 10),
     "15 december – 10 januari 2018"),
    ("mellan den 1 och den 5 maj 2024", D(2024, 5, 1), None, D(2024, 5, 5),
     "mellan den 1 och den 5 maj 2024"),
    ("från 1 mars till 5 maj 2024", D(2024, 3, 1), None, D(2024, 5, 5), "från 1 mars till 5 maj 2024"),
    ("2024-01-01 – 2024-02-01", D(2024, 1, 1), None, D(2024, 2, 1), "2024-01-01 – 2024-02-01"),
    ("21 mars – 5 maj 2017 kl. 16.00", D(2017, 3, 21), T(16, 0), D(2017, 5, 5),
     "21 mars – 5 maj 2017 kl. 16.00"),
    # vague, status text and traps: no date is ever invented
    ("senast den 1 oktober", None, None, None, "senast den 1 oktober"),
    ("Utlysningar öppnar 24 mars", None, None, None, "Utlysningar öppnar 24 mars"),
    ("slutet av september 2024", None, None, None, "slutet av september 2024"),
    ("Beslut meddelas: slutet av september 2024", None, None, None,
     "Beslut meddelas: slutet av september 2024"),
    ("Ej bestämt", None, None, None, "Ej bestämt"),
    ("Stängt för ansökan", None, None, None, "Stängt för ansökan"),
    ("Tid kvar att ansöka: 59 dagar", None, None, None, "Tid kvar att ansöka: 59 dagar"),
    ("utlysning 2025", None, None, None, "utlysning 2025"),
    ("3 veckor", None, None, None, "3 veckor"),
    ("hösten 2027", None, None, None, "hösten 2027"),
    ("kvartal 1 2027", None, None, None, "kvartal 1 2027"),
    ("Planerad annonsering: kvartal 1 2027", None, None, None, "Planerad annonsering: kvartal 1 2027"),
    ("september 2024", None, None, None, "september 2024"),
    ("Programperiod 2021-2027", None, None, None, "Programperiod 2021-2027"),
    ("Diarienummer Af-2026/0041 2345", None, None, None, "Diarienummer Af-2026/0041 2345"),
    ("Ca 500 MSEK", None, None, None, "Ca 500 MSEK"),
    ("", None, None, None, ""),
    # impossible dates are rejected
    ("31 februari 2024", None, None, None, "31 februari 2024"),
    ("29 februari 2023", None, None, None, "29 februari 2023"),
    ("31 april 2024", None, None, None, "31 april 2024"),
    ("2024-02-30", None, None, None, "2024-02-30"),
    ("5 maj 2017 – 21 mars 2017", None, None, None, "5 maj 2017 – 21 mars 2017"),  # ends first
    # refused forms: two-digit year, numeric day/month, a full stop between month and year
    ("15 dec 21", None, None, None, "15 dec 21"),
    ("20.09.2024", None, None, None, "20.09.2024"),
    ("senast 1/4", None, None, None, "senast 1/4"),
    ("senast den 1 oktober. 2025 års utlysning", None, None, None,
     "senast den 1 oktober. 2025 års utlysning"),
]


@pytest.mark.parametrize(("text", "date", "time", "end", "norm"), DATES, ids=[d[0] or "empty" for d in DATES])
def test_parse_date(text, date, time, end, norm):
    parsed = parse_date(text)
    assert ParsedDate(parsed.date, parsed.time, parsed.end, parsed.text) == ParsedDate(date=date, time=time, end=end, text=norm)


# Partial dates as the site models write them (year-only forecasts, month or season with a year):
# kept as a partial date, never completed to a day, by parse_date and by parse_date_in_context
# whatever year the page or title states.
PARTIALS = [
    ("Maj 2027", PartialDate(2027, month=5), "maj 2027"),  # ESF+ plan: "Öppnar" cell
    ("Öppnar: Maj 2023", PartialDate(2023, month=5), "maj 2023"),  # the regions' call plans
    ("September 2027", PartialDate(2027, month=9), "september 2027"),
    ("preliminärt maj 2027", PartialDate(2027, month=5), "maj 2027"),
    ("Maj 2027 (prel.)", PartialDate(2027, month=5), "maj 2027"),
    ("Hösten 2027", PartialDate(2027, season="hösten"), "hösten 2027"),
    ("Beräknad avtalsstart: hösten 2027", PartialDate(2027, season="hösten"), "hösten 2027"),  # AF's PDF
    ("Projektstart: Våren 2027", PartialDate(2027, season="våren"), "våren 2027"),  # Migrationsverket
    ("Planerad annonsering: kvartal 1 2027", PartialDate(2027, quarter=1), "kvartal 1 2027"),  # AF's PDF
    ("Q3 2027", PartialDate(2027, quarter=3), "kvartal 3 2027"),
    ("2026", PartialDate(2026), "2026"),
    # Jämställdhetsmyndigheten's forecasts in a sentence
    ("Den här sidan kommer att uppdateras inför nästa utlysning 2026.", PartialDate(2026), "2026"),
    ("Den här sidan kommer att uppdateras inför hösten 2025.", PartialDate(2025, season="hösten"), "hösten 2025"),
    ("Utlysningen planerar att öppna i maj 2027.", PartialDate(2027, month=5), "maj 2027"),  # Tillväxtverket
]
NOT_PARTIAL = ["Utlyses inte 2027", "Ej bestämt", "Beslut fattades i december 2026.", "utlysning 2025",
               "Programperiod 2021-2027", "46 procent", "i augusti", "3 veckor", "Ca 500 MSEK"]


@pytest.mark.parametrize(("text", "partial", "sv"), PARTIALS, ids=[p[0] for p in PARTIALS])
def test_partial_dates_stay_partial(text, partial, sv):
    parsed = parse_date(text)
    assert (parsed.date, parsed.end, parsed.partial, parsed.partial.sv) == (None, None, partial, sv)
    in_context = parse_date_in_context(text, title="Utlysning 2026", page_date=D(2025, 5, 1))
    assert (in_context.date, in_context.partial) == (None, partial)


@pytest.mark.parametrize("text", NOT_PARTIAL)
def test_other_text_is_no_partial_date(text):
    assert (parse_date(text).partial, parse_partial_date(text)) == (None, None)


def test_a_whole_date_is_no_partial_date():
    assert parse_date("1 maj 2027").partial is None and parse_date("1 maj 2027").date == D(2027, 5, 1)


@pytest.mark.parametrize(("text", "year", "dates"), [
    # Arvsfonden's meetings: the year once, at the end
    ("17 februari, 14 april, 9 juni, 1 september, 20 oktober och 8 december 2027", None,
     [D(2027, 2, 17), D(2027, 4, 14), D(2027, 6, 9), D(2027, 9, 1), D(2027, 10, 20), D(2027, 12, 8)]),
    ("20 oktober och 8 december 2027 samt 16 februari 2028", None, [D(2027, 10, 20), D(2027, 12, 8), D(2028, 2, 16)]),
    ("2 december, 17 februari och 14 april 2027", None, [D(2026, 12, 2), D(2027, 2, 17), D(2027, 4, 14)]),
    ("2027-02-17, 2027-04-14", None, [D(2027, 2, 17), D(2027, 4, 14)]),
    ("17 februari och 14 april", 2027, [D(2027, 2, 17), D(2027, 4, 14)]),  # the year from the heading
    ("17 februari och 14 april", None, None),  # no year anywhere: kept as written
    ("sex gånger per år", None, None),
    ("21 mars – 5 maj 2027", None, None),  # a range is no list of days
])
def test_parse_date_list(text, year, dates):
    assert parse_date_list(text, default_year=year) == dates


def test_dates_table_is_large_enough():
    assert len(DATES) >= 40


@pytest.mark.parametrize(
    ("text", "year", "date", "end"),
    [
        ("senast den 1 oktober", 2024, D(2024, 10, 1), None),
        ("Utlysningar öppnar 24 mars", 2022, D(2022, 3, 24), None),
        ("21 mars – 5 maj", 2017, D(2017, 3, 21), D(2017, 5, 5)),
        ("29 februari", 2023, None, None),  # not in that year
        ("15 december 2021", 2030, D(2021, 12, 15), None),  # a written year wins
        ("slutet av september", 2024, None, None),  # still vague
    ],
)
def test_parse_date_default_year(text, year, date, end):
    parsed = parse_date(text, default_year=year)
    assert (parsed.date, parsed.end) == (date, end)


def test_parsed_date_is_frozen():
    with pytest.raises(AttributeError):
        parse_date("15 december 2021").date = D(2000, 1, 1)


# ---------------------------------------------------------------------------------------------
# closes_at
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "expected", "offset_hours"),
    [
        ("30 april 2024 kl. 17:00", dt.datetime(2024, 4, 30, 17, 0), 2),  # summer time
        ("15 december 2021", dt.datetime(2021, 12, 15, 23, 59), 1),  # winter, no time -> 23:59
        ("Sista ansökningsdag: 2024-09-20", dt.datetime(2024, 9, 20, 23, 59), 2),
        ("senast klockan 17.00 den 31 mars 2023", dt.datetime(2023, 3, 31, 17, 0), 2),
        ("2027-03-27", dt.datetime(2027, 3, 27, 23, 59), 1),  # the day before DST starts
        ("2027-03-28", dt.datetime(2027, 3, 28, 23, 59), 2),  # the day DST starts
        ("30 oktober 2027", dt.datetime(2027, 10, 30, 23, 59), 2),
        ("31 oktober 2027", dt.datetime(2027, 10, 31, 23, 59), 1),  # DST has ended
        ("21 mars – 5 maj 2017", dt.datetime(2017, 5, 5, 23, 59), 2),  # a range closes at its end
        ("15 december – 10 januari 2018", dt.datetime(2018, 1, 10, 23, 59), 1),
    ],
)
def test_closes_at(text, expected, offset_hours):
    closes = parse_date(text).closes_at
    assert closes == expected.replace(tzinfo=ZoneInfo("Europe/Stockholm"))
    assert closes.tzinfo is ZoneInfo("Europe/Stockholm")
    assert closes.utcoffset() == dt.timedelta(hours=offset_hours)
    assert closes.isoformat().endswith(f"+0{offset_hours}:00")


@pytest.mark.parametrize("text", ["Ej bestämt", "senast den 1 oktober", "kl. 16.00", "31 februari 2024"])
def test_closes_at_none_without_a_date(text):
    assert parse_date(text).closes_at is None


# ---------------------------------------------------------------------------------------------
# Roles
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "role"),
    [
        ("Sista ansökningsdag", "deadline"),
        ("Sista ansökningsdag:", "deadline"),
        ("Sista ansökningsdag?", "deadline"),
        ("SISTA ANSÖKNINGSDAG", "deadline"),
        ("Sista anbudsdag", "deadline"),
        ("Stänger", "deadline"),
        ("stänger", "deadline"),
        ("Stängd", "deadline"),
        ("senast", "deadline"),
        ("Ansökan stänger", "deadline"),
        ("Öppnar", "opens"),
        ("ÖPPNAR", "opens"),
        ("Ansökan öppnar", "opens"),
        ("Utlysningsdatum", "opens"),
        ("Stängd 19 mars 2024", "deadline"),
        ("Öppnar 12 augusti 2024", "opens"),
        ("Sista ansökningsdag: 2024-09-20", "deadline"),
        ("Utlysningsdatum: 2024-06-28", "opens"),
        ("Ansökan öppnar: 17 maj 2024", "opens"),
        ("Ansökan stänger: 17 juni 2024", "deadline"),
        ("senast den 1 oktober", "deadline"),
        ("senast klockan 17.00 den 31 mars 2023", "deadline"),
        ("Sista anbudsdag 2026-11-30", "deadline"),
        ("Den 1 april 2024 är sista ansökningsdag för att söka projektmedel", "deadline"),
        ("Ansökan öppnar 1 mars 2024 och stänger 5 april 2024", "opens"),  # the first date's role
        # no role
        ("Senast uppdaterad:2018-12-19", None),
        ("Senast uppdaterad", None),
        ("Stängt för ansökan", None),
        ("Publicerad", None),
        ("Projektstart", None),
        ("Tidigast projektstart", None),
        ("Tidigast 1 september 2022. …", None),
        ("Beslut meddelas: slutet av september 2024", None),
        ("Tillgängliga medel", None),
        ("06 augusti 2026", None),
        ("", None),
    ],
)
def test_date_role(text, role):
    assert date_role(text) == role


PARAGRAPH = (
    "Det går att söka medel från Brottsofferfonden två gånger per år, senast den 1 april eller "
    "senast den 1 oktober. Beslutet kommer i juni om du ansöker i april.\n\n"
    "Den 1\u00a0april 2024 är sista ansökningsdag för att söka projektmedel.  "
    "Ansökan öppnar: 17 maj 2024 Ansökan stänger: 17 juni 2024 (ansökan kan skickas in fram till "
    "23.59) Beslut meddelas: slutet av september 2024. Utlysningsdatum: 2024-06-28 "
    "Sista ansökningsdag: 2024-09-20 Tid kvar att ansöka: 59 dagar. Utlysningen öppnar "
    "1 mars 2025 kl. 08.00 och stänger 5 april 2025 kl. 16.00. Vi tog emot ansökningar "
    "mellan den 26 augusti – 14 september 2020. Tidigast projektstart 1 september 2022. "
    "Senast uppdaterad:2018-12-19 Ansök senast klockan 17.00 den 31 mars 2023. "
    "Konferensen hålls 31 februari 2024."
)

PARAGRAPH_DATES = [
    ("deadline", ParsedDate(None, None, None, "1 april")),
    ("deadline", ParsedDate(None, None, None, "1 oktober")),
    ("deadline", ParsedDate(D(2024, 4, 1), None, None, "1 april 2024")),
    ("opens", ParsedDate(D(2024, 5, 17), None, None, "17 maj 2024")),
    ("deadline", ParsedDate(D(2024, 6, 17), T(23, 59), None, "17 juni 2024")),
    ("opens", ParsedDate(D(2024, 6, 28), None, None, "2024-06-28")),
    ("deadline", ParsedDate(D(2024, 9, 20), None, None, "2024-09-20")),
    ("opens", ParsedDate(D(2025, 3, 1), T(8, 0), None, "1 mars 2025")),
    ("deadline", ParsedDate(D(2025, 4, 5), T(16, 0), None, "5 april 2025")),
    (None, ParsedDate(D(2020, 8, 26), None, D(2020, 9, 14), "26 augusti – 14 september 2020")),
    (None, ParsedDate(D(2022, 9, 1), None, None, "1 september 2022")),
    (None, ParsedDate(D(2018, 12, 19), None, None, "2018-12-19")),
    ("deadline", ParsedDate(D(2023, 3, 31), T(17, 0), None, "31 mars 2023")),
    (None, ParsedDate(None, None, None, "31 februari 2024")),
]


def test_find_dates_in_running_text():
    assert find_dates(PARAGRAPH) == PARAGRAPH_DATES


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Inga datum här.", []),
        ("Stänger 26 april 2022", [("deadline", ParsedDate(D(2022, 4, 26), None, None, "26 april 2022"))]),
        # a list continues the role of its first date
        ("Sista ansökningsdag är 1 mars 2024, 1 juni 2024 och 1 september 2024.",
         [("deadline", ParsedDate(D(2024, 3, 1), None, None, "1 mars 2024")),
          ("deadline", ParsedDate(D(2024, 6, 1), None, None, "1 juni 2024")),
          ("deadline", ParsedDate(D(2024, 9, 1), None, None, "1 september 2024"))]),
        # a role word in an earlier sentence does not reach a later date
        ("Ansökan stänger snart. Konferensen hålls 5 maj 2024.",
         [(None, ParsedDate(D(2024, 5, 5), None, None, "5 maj 2024"))]),
        ("Ansökningsperioden är från 1 mars till 5 maj 2024. Sista ansökningsdag 5 maj 2024 kl 23:59.",
         [(None, ParsedDate(D(2024, 3, 1), None, D(2024, 5, 5), "1 mars till 5 maj 2024")),
          ("deadline", ParsedDate(D(2024, 5, 5), T(23, 59), None, "5 maj 2024"))]),
        ("Öppnar 24 mars 2022 - Stänger 26 april 2022",
         [("opens", ParsedDate(D(2022, 3, 24), None, None, "24 mars 2022")),
          ("deadline", ParsedDate(D(2022, 4, 26), None, None, "26 april 2022"))]),
        ("Öppnar 24 mars 2022 Stänger 26 april 2022 Projektstart 1 september 2022",
         [("opens", ParsedDate(D(2022, 3, 24), None, None, "24 mars 2022")),
          ("deadline", ParsedDate(D(2022, 4, 26), None, None, "26 april 2022")),
          (None, ParsedDate(D(2022, 9, 1), None, None, "1 september 2022"))]),
    ],
)
def test_find_dates_cases(text, expected):
    assert find_dates(text) == expected


# ---------------------------------------------------------------------------------------------
# Recurring deadlines
# ---------------------------------------------------------------------------------------------

BROTTSOFFERFONDEN = (
    "Det går att söka medel från Brottsofferfonden två gånger per år, senast den 1 april eller "
    "senast den 1 oktober."
)


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        (BROTTSOFFERFONDEN, [(4, 1), (10, 1)]),
        (BROTTSOFFERFONDEN + " Beslutet kommer i juni om du ansöker i april och i december om du "
         "ansöker i oktober.", [(4, 1), (10, 1)]),
        ("Ansök senast den 15 september varje år.", [(9, 15)]),
        # no rule: dates with a year, no dates, year-less dates without a deadline role
        ("Den 1 april 2024 är sista ansökningsdag för att söka projektmedel från Brottsofferfonden "
         "i vårens ansökningsomgång.", None),
        ("Ideella föreningar och andra organisationer i civilsamhället kan söka.", None),
        ("Beslutet kommer den 15 juni.", None),
        ("", None),
    ],
)
def test_parse_deadline_rule(text, rule):
    assert parse_deadline_rule(text) == rule


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (D(2026, 1, 10), D(2026, 4, 1)),  # before both
        (D(2026, 4, 1), D(2026, 4, 1)),  # on the first
        (D(2026, 4, 2), D(2026, 10, 1)),  # between
        (D(2026, 10, 1), D(2026, 10, 1)),  # on the second
        (D(2026, 10, 2), D(2027, 4, 1)),  # after both: wraps to next year
        (D(2026, 12, 31), D(2027, 4, 1)),
    ],
)
def test_next_rule_date(today, expected):
    assert next_rule_date([(4, 1), (10, 1)], today) == expected


def test_next_rule_date_unsorted_rule_and_leap_day():
    assert next_rule_date([(10, 1), (4, 1)], D(2026, 5, 5)) == D(2026, 10, 1)
    assert next_rule_date([(2, 29)], D(2025, 3, 1)) == D(2028, 2, 29)
    assert next_rule_date([(2, 29)], D(2024, 2, 29)) == D(2024, 2, 29)


def test_next_rule_date_empty_rule():
    with pytest.raises(ValueError):
        next_rule_date([], D(2026, 1, 1))


def test_rule_round_trip():
    rule = parse_deadline_rule(BROTTSOFFERFONDEN)
    assert next_rule_date(rule, D(2026, 8, 15)) == D(2026, 10, 1)


# ---------------------------------------------------------------------------------------------
# format_date_sv
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("month", "name"),
    list(enumerate(["januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti",
                    "september", "oktober", "november", "december"], 1)),
)
def test_format_date_sv(month, name):
    d = D(2027, month, 17)
    assert format_date_sv(d) == f"17 {name} 2027"
    assert parse_date(format_date_sv(d)).date == d  # round trip


def test_format_date_sv_no_leading_zero():
    assert format_date_sv(D(2027, 5, 7)) == "7 maj 2027"


# ---------------------------------------------------------------------------------------------
# Amounts
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "sek"),
    [
        ("Ca 500 MSEK", 500_000_000),
        ("Ca 2,3 MSEK", 2_300_000),
        ("23,3 miljoner kronor", 23_300_000),
        ("drygt 93 miljoner SEK", 93_000_000),
        ("744 000 kronor", 744_000),
        (f"744{NBSP}000 kronor", 744_000),
        (f"744{NNBSP}000 kronor", 744_000),
        ("1 500 000 kr", 1_500_000),
        ("2 miljarder kronor", 2_000_000_000),
        ("500 tkr", 500_000),
        ("0,1 MSEK", 100_000),
        ("4,35 mkr", 4_350_000),
        ("1,7 miljarder kronor", 1_700_000_000),
        ("500 000:-", 500_000),
        ("Ca 500 MSEK för 2024", 500_000_000),  # a year is not an amount
        ("500 000 kr (500 000 kronor)", 500_000),  # the same amount twice
        ("1.500.000 kr", 1_500_000),
        # None: percentages, no currency, ranges, two different amounts
        ("75-90 %", None),
        ("Stöd från AMIF: 75-90 %", None),
        ("Max 40 procent", None),
        ("Förenklade kostnader", None),
        ("För förstudier: Klumpsumma", None),
        ("mellan 1 och 3 MSEK", None),
        ("1–3 MSEK", None),
        ("500 000 – 1 000 000 kr", None),
        ("upp till 3 MSEK per projekt, totalt 10 MSEK", None),
        ("2 miljoner", None),  # no currency
        ("1.500 MSEK", None),  # thousands or decimals?
        ("", None),
    ],
)
def test_parse_amount(text, sek):
    assert parse_amount(text) == sek


@pytest.mark.parametrize(
    ("text", "sek"),
    [(f"{i},{j} MSEK", i * 1_000_000 + j * 100_000) for i in range(0, 30) for j in range(10)],
)
def test_parse_amount_is_exact(text, sek):
    # no float rounding: every one-decimal MSEK amount comes out exact
    value = parse_amount(text)
    assert value == sek and isinstance(value, int)


def test_module_is_scrapy_free():
    source = Path(swedish.__file__).read_text(encoding="utf-8")
    assert "import scrapy" not in source and "from scrapy" not in source
