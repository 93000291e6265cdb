"""A funder by configuration: listing pages link to call pages that carry labelled facts.

The source in the sources file says which links are calls (`calls`, a URL pattern, and/or
`call_selector`, CSS), the kind, extra label spellings and noise lines (see `fundwatch.sources.Listing`).
A start page whose URL matches `calls` is itself a call page (Länsstyrelsernas 21 county pages);
any other start page is a listing. One item per call page, keyed by its URL, so an edited title is an
update of the same call:

- `opens`, `deadline` (+ `deadline_text` as written) from the labels; a date without a year takes the
  year the page's title (or the heading above the date) states, else stays text only;
- a recurring deadline ("senast den 1 december varje år") becomes `deadline_rule` when no dated
  deadline is given;
- an opening given only in part ("Öppnar: Maj 2027", "… inför nästa utlysning 2027") is never made a
  day: `details["Öppnar"]` says "maj 2027 (prel.)", and a call with nothing more dated is `planned`;
- `amount_text`/`amount_sek`; status words ("Stängt för ansökan", "Kommande") set the status;
- `details`: who may apply, the decision, co-funding, region and any label the source adds; the
  decision meetings ("Sammanträden: 17 februari, … och 8 december 2027") as ISO dates
  (`fundwatch.items.MEETINGS`), or as written when a date in them has no year;
- `eligibility` (the organisation forms of "Vem kan söka"), `region` (from `region_from_url` and
  `[source.regions]`, or a plan's Region cell) and `deadline_time` (a clock time written with the
  deadline).

A listing without call links, or a call page without a title or any fact, is a changed layout: the
run is not healthy and nothing is removed.
"""

from __future__ import annotations

import re

from fundwatch.eligibility import organisation_forms
from fundwatch.items import MEETINGS, OPENS_FORECAST, forecast_sv
from fundwatch.labels import clean
from fundwatch.regions import clean_regions, region_of
from fundwatch.spiders import sitevision
from fundwatch.spiders.base import FundSpider
from fundwatch.spiders.callpage import ITEM_FIELDS, WHO, CallPage, detail_name, read_call_page, read_rows
from fundwatch.spiders.reader import APPLY, SENTENCE_BREAK, dated_sentences
from fundwatch.swedish import (
    PartialDate,
    deadline_time,
    find_forecast,
    parse_amount,
    parse_date,
    parse_date_list,
    parse_deadline_rule,
)

CALL_PAGE = "call-page"
YEAR = re.compile(r"\b(20[0-9]{2})\b")
RECURRING = re.compile(r"\b(varje år|årligen|varje höst|varje vår|en gång per år|två gånger per år)\b", re.I)
_STATUS_LINE = r"^(?:status:\s*)?"  # a line of its own, or a plan's "Status" cell
STATUS_WORDS = (
    (re.compile(_STATUS_LINE + r"((stängt|stängd) för ansökan\b|ansökan är (nu )?stängd\b)", re.I), "closed"),
    (re.compile(_STATUS_LINE + r"kommande( utlysning)?$", re.I), "upcoming"),
    (re.compile(_STATUS_LINE + r"öppen för ansökan$", re.I), "open"),
)


class ListingSpider(FundSpider):
    name = "listing"

    def parse(self, response):
        if self._is_call(response.url):
            yield from self.parse_call(response)
        elif self.source.listing.call_rows:
            yield from self._parse_rows(response)
        else:
            yield from self._parse_listing(response)

    def _is_call(self, url: str) -> bool:
        pattern = self.source.listing.calls
        return bool(pattern and pattern.search(url))

    # -- listings ---------------------------------------------------------------------------------
    def _call_links(self, response) -> list[str]:
        config = self.source.listing
        links = response.css(config.call_selector) if config.call_selector else \
            sitevision.content_root(response).xpath(".//a[@href]")
        urls: list[str] = []
        for link in links:
            href = link.attrib.get("href")
            if not href:
                continue
            url = response.urljoin(href).split("#")[0]
            if url != response.url and url not in urls and (config.calls is None or config.calls.search(url)):
                urls.append(url)
        return urls

    def _parse_listing(self, response):
        urls = self._call_links(response)
        if not urls:
            self.layout_changed(response, "links to call pages")
            return
        self.carried(response)
        for url in urls:
            yield self.request(url, self.parse_call, role=CALL_PAGE)

    # -- a plan: calls as table rows --------------------------------------------------------------
    def _parse_rows(self, response):
        config = self.source.listing
        rows = [row for row in read_rows(response, config.call_rows, config.labels, config.noise, config.title_columns)
                if row.title]
        if not rows or not any(row.facts for row in rows):
            self.layout_changed(response, f"rows with facts ({config.call_rows})")
            return
        for row in rows:  # a row is identified by its title cells, as a plan is edited in place
            yield self._item(response, row, key=row.title, url=row.url or response.url)

    # -- call pages -------------------------------------------------------------------------------
    def parse_call(self, response):
        config = self.source.listing
        page = read_call_page(response, config.labels, config.noise)
        if not page.title:
            self.layout_changed(response, "a main heading (h1)")
            return
        if config.kind == "funding_call" and not (page.facts or self._parse_status(page) != "unknown"
                                                  or self._parse_rule(page)[0] or page.sections
                                                  or self._prose_dates(page)):
            self.layout_changed(response, "any dated fact, status or 'Vem kan söka' section")
            return
        yield self._item(response, page, key=response.url, url=response.url)

    def _item(self, response, page: CallPage, key: str, url: str):
        rule, rule_text = self._parse_rule(page)
        fields = self._parse_dates(page)
        if fields.get("deadline") is not None or fields.get("deadline_text"):
            rule, rule_text = None, None
        amount = page.facts.get("amount")
        details = self._parse_details(url, page)
        status = self._parse_status(page)
        forecast = None if fields.get("opens") else self._forecast(page)
        if forecast:
            details[OPENS_FORECAST] = forecast_sv(forecast)
            if status == "unknown" and not (fields.get("deadline") or rule):
                status = "planned"  # only a forecast: a plan, as Vinnova's forecast rounds
        return self.make_item(
            response, kind=self.source.listing.kind, key=key, title=page.title, url=url,
            opens=fields.get("opens"), deadline=fields.get("deadline"), published=fields.get("published"),
            deadline_text=fields.get("deadline_text") or rule_text, deadline_rule=rule,
            amount_text=amount, amount_sek=parse_amount(amount) if amount else None,
            status=status, text=page.text, details=details,
            deadline_time=fields.get("deadline_time"), region=self._region(details, page.title),
            # the shared reader already took the "Vem kan söka" section out: its forms, as eligibility_of reads them
            eligibility=organisation_forms(page.sections.get(WHO, "")),
        )

    @staticmethod
    def _region(details: dict[str, str], title: str) -> str | None:
        """The call's region: from the source's region config (a county page's URL) or a plan's Region
        cell ("Stockholm" there is the county), else a county or ESF+ region its title names; None: national."""
        named = details.get("Region")
        if named:
            try:
                return clean_regions([named])[0]
            except ValueError:
                return region_of(title=f"{named} län")
        return region_of(title=title)

    @staticmethod
    def _year(page: CallPage, name: str) -> int | None:
        """The year a yearless date belongs to: stated in the title, else in its section's heading."""
        for text in (page.title, page.fact_sections.get(name, "")):
            years = YEAR.findall(text or "")
            if len(set(years)) == 1:
                return int(years[0])
        return None

    def _parse_dates(self, page: CallPage) -> dict:
        out: dict = {}
        if "period" in page.facts:
            parsed = parse_date(page.facts["period"], default_year=self._year(page, "period"))
            out["opens"] = parsed.date
            if parsed.end:
                out["deadline"], out["deadline_text"] = parsed.end, page.facts["period"]
        if "opens" in page.facts:
            out["opens"] = parse_date(page.facts["opens"], default_year=self._year(page, "opens")).date
        if "deadline" in page.facts:
            parsed = parse_date(page.facts["deadline"], default_year=self._year(page, "deadline"))
            out["deadline"], out["deadline_text"] = parsed.end or parsed.date, page.facts["deadline"]
            out["deadline_time"] = deadline_time(parsed)
        if not out:
            out = self._prose_dates(page)
        if "published" in page.facts:
            out["published"] = parse_date(page.facts["published"]).date
        return out

    @staticmethod
    def _forecast(page: CallPage) -> PartialDate | None:
        """An opening the page gives only in part: the opening (or period) label's value ("Öppnar:
        Maj 2027"), else a forecast sentence ("… uppdateras inför nästa utlysning 2027.")."""
        for name in ("opens", "period"):
            if name in page.facts:
                partial = parse_date(page.facts[name]).partial
                if partial:
                    return partial
        for line in page.lines:
            partial = find_forecast(line)
            if partial:
                return partial
        return None

    @staticmethod
    def _prose_dates(page: CallPage) -> dict:
        """No labelled date: a dated sentence about applying ("Ansökan ska vara SST tillhanda senast
        31 mars 2027", "Nästa ansökningsomgång är mellan den 20 augusti - 10 september 2027")."""
        for sentence, dates in dated_sentences(page.lines):  # the reader's own, for its calls
            for role, parsed in dates:
                if parsed.date and parsed.end:
                    return {"opens": parsed.date, "deadline": parsed.end, "deadline_text": sentence}
                if parsed.date and role == "deadline":
                    return {"deadline": parsed.date, "deadline_text": sentence}
        return {}

    @staticmethod
    def _parse_status(page: CallPage) -> str:
        for line in page.lines:
            for pattern, status in STATUS_WORDS:
                if pattern.search(line):
                    return status
        return "unknown"

    @staticmethod
    def _parse_rule(page: CallPage) -> tuple[str | None, str | None]:
        """A yearly deadline the page states as such ("senast den 1 december varje år")."""
        found, said = set(), []
        for line in page.lines:
            for sentence in SENTENCE_BREAK.split(line):
                if not (RECURRING.search(sentence) and APPLY.search(sentence)):
                    continue
                rule = parse_deadline_rule(sentence)
                if rule:
                    found.update(rule)
                    said.append(sentence)
        if not found:
            return None, None
        return ",".join(f"{m:02d}-{d:02d}" for m, d in sorted(found)), " ".join(said)

    def _parse_details(self, url: str, page: CallPage) -> dict[str, str]:
        config = self.source.listing
        details = {detail_name(name): value for name, value in page.facts.items() if name not in ITEM_FIELDS}
        details.update(page.sections)
        if "meeting" in page.facts:
            meetings = parse_date_list(page.facts["meeting"], default_year=self._year(page, "meeting"))
            if meetings:
                details[MEETINGS] = ", ".join(day.isoformat() for day in meetings)
        if config.region_from_url is not None:
            match = config.region_from_url.search(url)
            if match:
                slug = match.group("region")
                details["Region"] = config.regions.get(slug, clean(slug.replace("-", " ")).capitalize())
        return details
