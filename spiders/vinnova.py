"""Vinnova through its open JSON API (data.vinnova.se, no key): an API source.

The source's two urls ask for the calls (utlysningar) and the application rounds
(ansökningsomgångar) changed since a date: the `since` of sources.toml on the first run, the
watermark after (FUNDWATCH_SINCE, set by the crawl runner). A since-answer lists only what changed,
so its pages never make a miss count: a call absent from it is unchanged. A changed round whose
call did not change brings its call (`/api/utlysningar/<dnr>,<dnr>`), and every call emitted brings
all its rounds (`/api/ansokningsomgangar/<dnr>,...`): a call's dates come from all its rounds.

One `funding_call` per call, keyed by its diarienummer: opens is its earliest round's opening,
deadline its last round's closing with the clock time the API gives; a round only forecast
("Annonseringsläge") leaves the dates empty and the call planned, with the forecast opening in
details.Öppnar ("våren 2027 (prel.)"). A call the API marks not public
(Publik 0), or whose rounds all are, is closed. Calls that name civil society carry
details["civilsamhälle"] = "ja"; the others "nej", and reach only subscribers who opt in.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from w3lib.html import remove_tags, replace_entities

from fundwatch.eligibility import CIVIL_SOCIETY_DETAIL, eligibility_of, names_civil_society
from fundwatch.items import OPENS_FORECAST, forecast_sv
from fundwatch.labels import clean
from fundwatch.regions import region_of
from fundwatch.spiders.base import FundSpider
from fundwatch.swedish import format_date_sv, parse_partial_date

API = "https://data.vinnova.se/api"
CALL_PAGE = "https://www.vinnova.se/sok-finansiering/hitta-finansiering/"


def api_text(value: Any) -> str:
    """Text of an API field that may hold HTML (Beskrivning): tags out, entities decoded, lines kept."""
    if not value:
        return ""
    text = replace_entities(remove_tags(str(value).replace("</p>", "\n").replace("<br>", "\n").replace("<br />", "\n")))
    return "\n".join(line for line in (clean(part) for part in text.splitlines()) if line)


def api_moment(value: Any) -> tuple[dt.date | None, str | None]:
    """An API date-time ("2027-03-15T14:00:00", local time, no zone) as (date, "HH:MM"); midnight
    means no time was given."""
    if not value:
        return None, None
    try:
        moment = dt.datetime.fromisoformat(str(value).replace("Z", ""))
    except ValueError:
        return None, None
    time = None if (moment.hour, moment.minute) == (0, 0) else f"{moment:%H:%M}"
    return moment.date(), time


def round_dnrs(call: dict) -> list[str]:
    """The call's round diarienummer: v2 lists them as strings or as objects."""
    out = []
    for entry in call.get("AnsokningsomgangDnrLista") or []:
        dnr = entry.get("Diarienummer") if isinstance(entry, dict) else entry
        if dnr:
            out.append(str(dnr))
    return out


def texts_sv(entries: Any) -> list[str]:
    """The Swedish texts of a WebTextLista."""
    out = []
    for entry in entries or []:
        if isinstance(entry, dict) and (entry.get("Lang") or entry.get("Sprak") or "sv").lower().startswith("sv"):
            out.append(api_text(entry.get("Text") or entry.get("TextSv")))
    return [t for t in out if t]


class VinnovaSpider(FundSpider):
    name = "vinnova"
    agency = "vinnova"

    async def start(self):
        if self.source_locked:
            return
        yield self.first_request(self.settings.get("FUNDWATCH_SINCE") or self.source.since)

    def first_request(self, since: str):
        calls_url, rounds_url = self.source.urls_since(since)
        self.health.start_pages = {calls_url, rounds_url}
        # both answers must be valid JSON lists for a healthy run (an empty list is one: nothing changed)
        self.health.must_carry = (*self.source.must_carry, calls_url, rounds_url)
        self.calls: dict[str, dict] = {}
        self.rounds: dict[str, dict] = {}
        return self._api_request(calls_url, self.parse_calls_since, meta={"rounds_url": rounds_url})

    def _api_request(self, url: str, callback, **kwargs):
        self.health.changes_only.add(url)
        return self.request(url, callback, headers={"Accept": "application/json"}, **kwargs)

    def _entries(self, response) -> list[dict] | None:
        """The answer's list of objects, or None (and a failed run) when it is not one."""
        try:
            data = json.loads(response.text)
        except ValueError:
            self.layout_changed(response, "a JSON answer")
            return None
        if isinstance(data, dict):  # a single object when one dnr is asked for
            data = [data]
        if not isinstance(data, list) or not all(isinstance(e, dict) and e.get("Diarienummer") for e in data):
            self.layout_changed(response, "a JSON list of objects with Diarienummer")
            return None
        self.carried(response)  # an empty list is a valid answer: nothing changed
        return data

    # -- the chain: calls since, rounds since, missing calls, missing rounds, then the items -------
    def parse_calls_since(self, response):
        entries = self._entries(response)
        if entries is None:
            return
        self.calls.update({str(c["Diarienummer"]): c for c in entries})
        yield self._api_request(response.meta["rounds_url"], self.parse_rounds_since)

    def parse_rounds_since(self, response):
        entries = self._entries(response)
        if entries is None:
            return
        self.rounds.update({str(r["Diarienummer"]): r for r in entries})
        missing = sorted({str(r.get("DiarienummerUtlysning")) for r in entries
                          if r.get("DiarienummerUtlysning") and str(r["DiarienummerUtlysning"]) not in self.calls})
        if missing:
            yield self._api_request(f"{API}/utlysningar/{','.join(missing)}", self.parse_missing_calls)
        else:
            yield from self._request_missing_rounds(response)

    def parse_missing_calls(self, response):
        entries = self._entries(response)
        if entries is None:
            return
        self.calls.update({str(c["Diarienummer"]): c for c in entries})
        yield from self._request_missing_rounds(response)

    def _request_missing_rounds(self, response):
        missing = sorted({dnr for call in self.calls.values() for dnr in round_dnrs(call) if dnr not in self.rounds})
        if missing:
            yield self._api_request(f"{API}/ansokningsomgangar/{','.join(missing)}", self.parse_missing_rounds)
        else:
            yield from self._parse_items(response)

    def parse_missing_rounds(self, response):
        entries = self._entries(response)
        if entries is None:
            return
        self.rounds.update({str(r["Diarienummer"]): r for r in entries})
        yield from self._parse_items(response)

    # -- items ----------------------------------------------------------------------------------
    def _parse_items(self, response):
        for dnr, call in sorted(self.calls.items()):
            rounds = [self.rounds[r] for r in round_dnrs(call) if r in self.rounds]
            rounds += [r for r in self.rounds.values() if str(r.get("DiarienummerUtlysning")) == dnr and r not in rounds]
            yield self._parse_call(response, dnr, call, rounds)

    def _parse_call(self, response, dnr: str, call: dict, rounds: list[dict]):
        title = clean(call.get("Titel") or call.get("TitelEngelska") or dnr)
        text = "\n\n".join([api_text(call.get("Beskrivning")), *texts_sv(call.get("WebTextLista"))]
                           + [api_text(r.get("Beskrivning")) for r in rounds if r.get("Beskrivning")])
        public_rounds = sorted((r for r in rounds if r.get("Publik", 1) != 0),
                               key=lambda r: (str(r.get("Stangningsdatum") or ""), str(r["Diarienummer"])))
        opens = min((d for r in public_rounds for d in [api_moment(r.get("Oppningsdatum"))[0]] if d), default=None)
        deadline, deadline_time, deadline_text = None, None, None
        closing = [r for r in public_rounds if api_moment(r.get("Stangningsdatum"))[0]]
        if closing:
            deadline, deadline_time = api_moment(closing[-1].get("Stangningsdatum"))
            deadline_text = format_date_sv(deadline) + (f" kl. {deadline_time.replace(':', '.')}" if deadline_time else "")
        forecast = [r for r in public_rounds if not api_moment(r.get("Oppningsdatum"))[0]
                    and (r.get("AnnonseringslägePeriod") or r.get("AnnonseringslägeÅr"))]
        if deadline is None and forecast:
            r = forecast[0]
            deadline_text = "Planeras: " + " ".join(str(v) for v in (r.get("AnnonseringslägePeriod"),
                                                                     r.get("AnnonseringslägeÅr")) if v)
        if call.get("Publik", 1) == 0 or (rounds and not public_rounds):
            status = "closed"
        elif opens is None and deadline is None and forecast:
            status = "planned"
        else:
            status = "unknown"  # open/upcoming/closed derived from the dates when read
        published = api_moment(call.get("Publiceringsdatum"))[0]
        details = {CIVIL_SOCIETY_DETAIL: "ja" if names_civil_society(f"{title}\n{text}") else "nej",
                   "diarienummer": dnr}
        announced = forecast and parse_partial_date(" ".join(
            str(v) for v in (forecast[0].get("AnnonseringslägePeriod"), forecast[0].get("AnnonseringslägeÅr")) if v))
        if opens is None and announced:  # "Våren 2027": when it opens, in part, never a day
            details[OPENS_FORECAST] = forecast_sv(announced)
        for r in public_rounds:
            o, _ = api_moment(r.get("Oppningsdatum"))
            c, t = api_moment(r.get("Stangningsdatum"))
            details[f"ansökningsomgång {r['Diarienummer']}"] = (
                f"{format_date_sv(o) if o else '?'} – {format_date_sv(c) if c else '?'}"
                + (f" kl. {t.replace(':', '.')}" if t else ""))
        item = self.make_item(
            response, kind="funding_call", key=dnr, title=title, url=call.get("Webbsida") or CALL_PAGE,
            opens=opens, deadline=deadline, deadline_text=deadline_text, deadline_time=deadline_time,
            published=published, competitive=None, status=status, text=text, details=details,
            eligibility=eligibility_of(text), region=region_of("", title),
        )
        return item
