"""Benchmark: spiders.swedish.parse_date on a realistic mix of the site model's date strings.

Run: python bench/swedish_dates.py [seconds]
Prints strings/second (target >= 20,000/s) and, when dateparser is importable, the same for
dateparser.parse(s, languages=['sv']) on the same strings. dateparser is not a dependency.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fundwatch.swedish import parse_date  # noqa: E402

TARGET = 20_000

# As written on the agencies' pages.
STRINGS = [
    "15 december 2021",
    "den 1 april 2024",
    "senast den 1 oktober",
    "Öppnar 12 augusti 2024",
    "Stängd 19 mars 2024",
    "06 augusti 2026",
    "24 mars 2022",
    "26 april 2022",
    "Tidigast 1 september 2022. Projektet får pågå i högst tre år.",
    "2024-09-20",
    "Sista ansökningsdag: 2024-09-20",
    "Utlysningsdatum: 2024-06-28",
    "2026-08-06T10:00:00+02:00",
    "Senast uppdaterad:2018-12-19",
    "senast klockan 17.00 den 31 mars 2023",
    "30 april 2024 kl. 17:00",
    "17 juni 2024 (ansökan kan skickas in fram till 23.59)",
    "Ansökan öppnar: 17 maj 2024",
    "Ansökan stänger: 17\u00a0juni\u00a02024",
    "21 mars – 5 maj 2017",
    "mellan den 26 augusti – 14 september 2020",
    "Den 1 april 2024 är sista ansökningsdag för att söka projektmedel från Brottsofferfonden",
    "1 feb. 2025",
    "5 Sept 2024",
    "slutet av september 2024",
    "Ej bestämt",
    "Stängt för ansökan",
    "Tid kvar att ansöka: 59 dagar",
    "utlysning 2025",
    "3 veckor",
    "hösten 2027",
    "kvartal 1 2027",
]


def rate(fn, strings, seconds: float) -> float:
    n = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for s in strings:
            fn(s)
        n += len(strings)
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    r = rate(parse_date, STRINGS, seconds)
    verdict = "OK" if r >= TARGET else "BELOW TARGET"
    print(f"fundwatch.spiders.swedish.parse_date: {r:,.0f} strings/s ({len(STRINGS)} distinct strings, "
          f"{seconds:g} s) — target >= {TARGET:,}/s: {verdict}")
    try:
        import dateparser
    except ImportError:
        print("dateparser.parse(s, languages=['sv']): skipped (dateparser is not installed)")
        return
    r2 = rate(lambda s: dateparser.parse(s, languages=["sv"]), STRINGS, seconds)
    print(f"dateparser.parse(s, languages=['sv']): {r2:,.0f} strings/s "
          f"(parse_date is {r / r2:,.0f}x faster)")


if __name__ == "__main__":
    main()
