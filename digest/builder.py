"""What one subscriber's digest holds. The week's data (changes, current items, source coverage)
is loaded once into a WeekData; each subscriber's digest is then set operations over it:

    week = WeekData.load(session, after_id=..., upto_id=...)
    digest = week.build(filters, after_id=delivery.after_change_id, upto_id=..., first=...)

Sections, in the order a reader acts on them: open calls that close within the subscriber's
reminder lead time (full cards, earliest deadline first), new calls and offers, changed calls (one
line each saying what changed), upcoming calls (opening later or planned), closed or removed, and
news and watched pages apart from the calls ("Nytt från myndigheterna"). A call whose deadline has
passed is never new or open: first seen after its deadline it goes to the closed section, and
nowhere in a first digest. A first digest lists the open and upcoming calls in compact lines, the
first FIRST_DIGEST_LIMIT by deadline. Coverage says how many sources were checked this week and why
the others were not.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fundwatch.digest.filters import Filters
from fundwatch.eligibility import CIVIL_SOCIETY_DETAIL
from fundwatch.items import OPENS_FORECAST, next_meeting
from fundwatch.sources import load_sources
from fundwatch.storage.changes import net_change
from fundwatch.storage.models import Change, Item, Run
from fundwatch.storage.queries import (
    call_json,
    change_fields_json,
    item_closes_at,
    last_runs,
    list_changes,
    list_items,
    now_local,
    parse_rule,
    reaches,
    run_reason_sv,
    shown_deadline,
)
from fundwatch.swedish import MONTHS_SV, fold_case, format_date_sv, parse_date

SOON_DAYS = 14  # the default reminder lead time (a subscriber may choose 7, 14 or 30)
FIRST_DIGEST_DAYS = 7
FIRST_DIGEST_LIMIT = 25  # compact lines in a first digest: with the rest it stays far below Gmail's 102 kB
NEWS_KINDS = ("news", "decision", "page")  # not calls: shown under "Nytt från myndigheterna"
COVERAGE_DAYS = 7  # a source counts as checked when its last run is ok and this recent

KIND_SV = {"funding_call": "Utlysning", "procurement": "Upphandling", "collaboration": "Samverkan",
           "news": "Nyhet", "decision": "Beviljade bidrag", "page": "Bevakad sida"}
MONTHS_SHORT_SV = ("jan", "feb", "mars", "apr", "maj", "juni", "juli", "aug", "sep", "okt", "nov", "dec")
WHO_LABELS = ("vem kan söka", "vem får söka", "målgrupp", "sökande")  # detail labels saying who may apply
KIND_ORDER = {"funding_call": 0, "collaboration": 1, "procurement": 2, "news": 3, "decision": 4, "page": 5}
STATUS_SV = {"planned": "planerad", "upcoming": "kommande", "open": "öppen", "closed": "stängd",
             "unknown": "okänd", "removed": "borttagen"}
FIELD_SV = {
    "title": "Rubrik", "url": "Länk", "opens": "Öppnar", "deadline": "Sista ansökningsdag",
    "deadline_text": "Sista ansökningsdag (som myndigheten skriver den)",
    "deadline_rule": "Återkommande ansökningsdagar", "published": "Publicerad", "amount_text": "Belopp",
    "amount_sek": "Belopp", "competitive": "Öppen för civilsamhället", "status": "Status", "text": "Text",
    "deadline_time": "Klockslag för sista ansökningsdag", "eligibility": "Vem kan söka", "region": "Region",
}
FIELD_ORDER = ("title", "status", "opens", "deadline", "deadline_time", "deadline_text", "deadline_rule", "amount_text",
               "amount_sek", "competitive", "eligibility", "region", "published", "url", "details", "text")


def iso_week(now: dt.datetime | None = None) -> str:
    """The ISO week in the configured zone, e.g. '2027-W18'."""
    year, week, _ = (now or now_local()).isocalendar()
    return f"{year}-W{week:02d}"


def week_number(week: str) -> tuple[int, int]:
    year, _, w = week.partition("-W")
    return int(year), int(w)


def amount_sv(amount_text: str | None, amount_sek: int | None) -> str | None:
    if amount_text:
        return amount_text
    if amount_sek is not None:
        return f"{amount_sek:,}".replace(",", " ") + " kr"
    return None


def _date_sv(value: Any) -> str:
    if value in (None, ""):
        return "–"
    try:
        return format_date_sv(dt.date.fromisoformat(str(value)))
    except ValueError:
        return str(value)


def _rule_sv(value: Any) -> str:
    if not value:
        return "–"
    return ", ".join(f"{d} {MONTHS_SV[m - 1]}" for m, d in parse_rule(str(value)))


def _value_sv(name: str, value: Any) -> str:
    if value is None or value == "":
        return "–"
    if name in ("opens", "deadline", "published"):
        return _date_sv(value)
    if name == "deadline_rule":
        return _rule_sv(value)
    if name == "competitive":
        return "ja (konkurrerande)" if value in (True, "true") else "nej (icke-konkurrerande)"
    if name == "status":
        return STATUS_SV.get(str(value), str(value))
    if name == "amount_sek":
        return amount_sv(None, int(value)) or "–"
    if name == "eligibility":
        return ", ".join(value) if isinstance(value, list) else str(value)
    if name == "deadline_time":
        return "kl. " + str(value).replace(":", ".")
    return " ".join(str(value).split())


def field_changes(fields: dict[str, list[Any]]) -> list[tuple[str, str, str]]:
    """[(Swedish label, old, new)] for one update's {field: [old, new]}; text changes say so without
    values; a deadline change hides the raw deadline text, an amount text hides the parsed amount."""
    out: list[tuple[str, str, str]] = []
    for name in sorted(fields, key=lambda n: FIELD_ORDER.index(n) if n in FIELD_ORDER else len(FIELD_ORDER)):
        old, new = fields[name]
        if name == "deadline_text" and ("deadline" in fields or "deadline_rule" in fields):
            continue
        if name == "amount_sek" and "amount_text" in fields:
            continue
        if name == "text":
            out.append(("Text", "", "texten på sidan har ändrats"))
        elif name == "details":
            old, new = old or {}, new or {}
            for key in [k for k in new if k in old] + [k for k in new if k not in old] + [k for k in old if k not in new]:
                if old.get(key) != new.get(key):
                    out.append((" ".join(str(key).split()), _value_sv("", old.get(key)), _value_sv("", new.get(key))))
        else:
            out.append((FIELD_SV.get(name, name), _value_sv(name, old), _value_sv(name, new)))
    return out


@dataclass
class ItemView:
    id: str
    agency: str
    agency_name: str
    kind: str
    kind_sv: str
    title: str
    url: str
    status: str  # effective
    deadline: dt.date | None
    deadline_sv: str | None
    amount_sv: str | None
    opens_sv: str | None
    competitive: bool | None
    who: str | None = None  # who may apply, one line, when the page says
    haystack: str = field(repr=False, default="")
    forms: tuple[str, ...] = ()  # organisation forms that may apply (eligibility.py)
    region: str | None = None
    civil_society: bool = True  # False: a source marked it as not naming civil society (opt-in, like non-competitive)
    opens_forecast_sv: str | None = None  # an opening the page gives only in part: "maj 2027 (prel.)"
    next_meeting_sv: str | None = None  # the next decision meeting the page lists (Arvsfonden), as of today

    @property
    def is_call(self) -> bool:
        return self.kind not in NEWS_KINDS

    @property
    def status_sv(self) -> str:
        """Öppen / Öppnar 1 februari 2027 / Planerad / Planerad, öppnar maj 2027 (prel.) / Stängd, as a call
        card and line show it."""
        if self.status == "upcoming":
            return f"Öppnar {self.opens_sv}" if self.opens_sv else "Öppnar senare"
        if self.opens_forecast_sv and self.status in ("planned", "unknown"):
            return f"{'Planerad, öppnar' if self.status == 'planned' else 'Öppnar'} {self.opens_forecast_sv}"
        return {"open": "Öppen", "planned": "Planerad", "closed": "Stängd", "removed": "Borttagen"}.get(
            self.status, "Status okänd")

    @property
    def deadline_label(self) -> str:
        return "Sista anbudsdag" if self.kind == "procurement" else "Sista ansökningsdag"

    @property
    def deadline_shown(self) -> str | None:
        """The deadline line: a call, procurement or offer without one says so; news and pages not."""
        if self.deadline_sv:
            return self.deadline_sv
        if self.kind in ("news", "page"):
            return None
        return "ej bestämd" if self.status == "planned" else "inte angiven"

    @property
    def sort_key(self) -> tuple:
        return (KIND_ORDER.get(self.kind, 9), self.deadline or dt.date.max, self.agency_name, self.title)


@dataclass
class ChangeView:
    id: int
    change: str
    item_id: str
    fields: dict[str, list[Any]]
    baseline: str | None = None  # the new source's label when this `new` came from its first healthy run


@dataclass
class Coverage:
    checked: int
    total: int
    problems: list[tuple[str, str]]  # (source label, Swedish reason)

    @property
    def line(self) -> str:
        text = f"{self.checked} av {self.total} källor kunde kontrolleras denna vecka."
        if self.problems:
            text += " " + " ".join(f"{label}: {reason}." for label, reason in self.problems)
        return text


@dataclass
class Changed:
    item: ItemView
    fields: list[tuple[str, str, str]]

    @property
    def line(self) -> str:
        return change_line(self.fields)


CHANGE_VALUE_MAX = 60  # a longer old or new value is not quoted: the line says the field changed


def change_line(fields: Iterable[tuple[str, str, str]]) -> str:
    """What changed, in one line: 'Sista ansökningsdag flyttad: 3 maj 2027 → 17 maj 2027'."""
    parts = []
    for label, old, new in fields:
        if label == "Text":
            parts.append("texten på sidan har ändrats")
        elif max(len(old), len(new)) > CHANGE_VALUE_MAX:
            parts.append(f"{label} har ändrats")
        elif not old:
            parts.append(f"{label}: {new}")
        elif label == FIELD_SV["deadline"] and old != "–" and new != "–":
            parts.append(f"{label} flyttad: {old} → {new}")
        else:
            parts.append(f"{label}: {old} → {new}")
    text = "; ".join(parts)
    return text[:1].upper() + text[1:]


@dataclass
class Closed:
    item: ItemView
    reason: str | None


@dataclass
class Digest:
    week: str
    first: bool
    after_id: int
    upto_id: int
    new: list[ItemView]
    changed: list[Changed]
    soon: list[ItemView | Changed]  # open, closing within reminder_days: full cards
    closed: list[Closed]
    open_now: list[ItemView]  # a first digest: open and upcoming calls, compact, at most FIRST_DIGEST_LIMIT
    coverage: Coverage
    upcoming: list[ItemView | Changed] = field(default_factory=list)
    news: list[ItemView] = field(default_factory=list)  # news and watched pages, new or changed
    open_more: int = 0  # open or upcoming calls a first digest leaves out of open_now
    reminder_days: int = SOON_DAYS
    new_ids: frozenset[str] = frozenset()  # new calls anywhere in the digest: marked "Ny" outside the new section
    new_sources: list[str] = field(default_factory=list)  # "Ny källa: MUCF — 6 öppna utlysningar"

    @property
    def new_calls(self) -> int:
        """New calls anywhere in the digest (soon, new, upcoming)."""
        return len(self.new_ids)

    @property
    def week_no(self) -> int:
        return week_number(self.week)[1]

    @property
    def year(self) -> int:
        return week_number(self.week)[0]

    @property
    def counts(self) -> dict[str, int]:
        return {"new": len(self.new), "changed": len(self.changed), "soon": len(self.soon),
                "upcoming": len(self.upcoming), "closed": len(self.closed), "news": len(self.news),
                "open": len(self.open_now) + self.open_more}

    @property
    def empty(self) -> bool:
        return not (self.new or self.changed or self.soon or self.upcoming or self.closed or self.news or self.open_now
                    or self.new_sources)

    @property
    def nearest(self) -> ItemView | None:
        """The open call with the nearest deadline this digest lists, for the subject."""
        views = [e.item if isinstance(e, Changed) else e for e in self.soon]
        views += [v for v in self.new + self.open_now if v.status == "open" and v.deadline]
        return min(views, key=lambda v: (v.deadline, v.title), default=None)


class WeekData:
    """Everything the week's digests are built from, loaded once."""

    def __init__(self, now: dt.datetime, items: dict[str, ItemView], changes: list[ChangeView],
                 sources: list[tuple[str, str, bool, str]], after_id: int, upto_id: int, first_after_id: int):
        self.now = now
        self.today = now.date()
        self.week = iso_week(now)
        self.items = items
        self.changes = changes  # after_id < id <= upto_id, ascending
        self.sources = sources  # (agency slug, label, checked, reason)
        self.after_id, self.upto_id = after_id, upto_id
        self.first_after_id = first_after_id  # a first digest covers the changes after this id
        self._by_agency: dict[str, set[str]] = {}
        self._by_kind: dict[str, set[str]] = {}
        self._competitive: set[str] = set()
        for view in items.values():
            self._by_agency.setdefault(view.agency, set()).add(view.id)
            self._by_kind.setdefault(view.kind, set()).add(view.id)
            if view.competitive is not False and view.civil_society:
                self._competitive.add(view.id)
        self._all = set(items)
        self._keyword_cache: dict[str, frozenset[str]] = {}
        self._match_cache: dict[tuple, frozenset[str]] = {}
        self._coverage_cache: dict[tuple, Coverage] = {}
        self._digest_cache: dict[tuple, Digest] = {}
        self._net_cache: dict[tuple[int, int], dict[str, tuple[str, Any]]] = {}
        self._current = sorted((v for v in items.values() if v.status != "removed"), key=lambda v: v.sort_key)

    # -- loading --------------------------------------------------------------------------------
    @staticmethod
    def max_change_id(session: Session) -> int:
        return session.scalar(select(func.max(Change.id))) or 0

    @staticmethod
    def first_after(session: Session, now: dt.datetime, upto_id: int) -> int:
        """A first digest covers the last 7 days: the changes after this id."""
        since = now - dt.timedelta(days=FIRST_DIGEST_DAYS)
        first = session.scalar(select(func.min(Change.id)).where(Change.detected_at >= since))
        return (first - 1) if first is not None else upto_id

    @classmethod
    def load(cls, session: Session, *, after_id: int, upto_id: int, now: dt.datetime | None = None,
             first_after_id: int | None = None) -> "WeekData":

        now = now or now_local()
        sources = load_sources()
        if first_after_id is None:
            first_after_id = cls.first_after(session, now, upto_id)
        after_id = min(after_id, first_after_id)
        items: dict[str, ItemView] = {}
        for item in list_items(session, include_removed=True):
            items[item.id] = _item_view(item, now, sources.agency_name(item.agency))
        found = [c for c, _ in list_changes(session, after_id=after_id) if c.id <= upto_id]
        baselines = baseline_runs(session, {c.run_id for c in found if c.change == "new"})
        labels = {s.id: s.name or sources.agency_name(s.agency) for s in sources}
        changes = [ChangeView(c.id, c.change, c.item_id, change_fields_json(c) if c.change != "new" else {},
                              baseline=(labels.get(baselines[c.run_id], baselines[c.run_id])
                                        if c.change == "new" and c.run_id in baselines else None))
                   for c in found]
        runs = last_runs(session)
        cutoff = now - dt.timedelta(days=COVERAGE_DAYS)
        rows = []
        for source in sources:
            label = source.name or sources.agency_name(source.agency)
            run = runs.get(source.id)
            if run is None:
                rows.append((source.agency, label, False, "har inte kontrollerats ännu"))
            elif run.status == "running":
                rows.append((source.agency, label, False, "kontrollen pågick när brevet skickades"))
            elif run.status != "ok":
                rows.append((source.agency, label, False, run_reason_sv(run) or "kontrollen misslyckades"))
            elif (run.finished_at or run.started_at) < cutoff:
                when = (run.finished_at or run.started_at).astimezone(now.tzinfo).date()
                rows.append((source.agency, label, False, f"senast kontrollerad {format_date_sv(when)}"))
            else:
                rows.append((source.agency, label, True, ""))
        return cls(now, items, changes, rows, after_id, upto_id, first_after_id)

    # -- matching -------------------------------------------------------------------------------
    def _keyword(self, word: str) -> frozenset[str]:
        key = fold_case(word)
        hit = self._keyword_cache.get(key)
        if hit is None:
            hit = frozenset(v.id for v in self.items.values() if key in v.haystack)
            self._keyword_cache[key] = hit
        return hit

    def matching(self, filters: Filters) -> frozenset[str]:
        """Ids of the items a subscriber with these filters wants; cached per distinct filter set."""
        key = filters.key()
        hit = self._match_cache.get(key)
        if hit is not None:
            return hit
        ids = set(self._all) if filters.include_noncompetitive else set(self._competitive)
        if filters.agencies:
            ids &= set().union(*(self._by_agency.get(a, ()) for a in filters.agencies))
        if filters.kinds:
            ids &= set().union(*(self._by_kind.get(k, ()) for k in filters.kinds))
        if filters.keywords:
            ids &= set().union(*(self._keyword(w) for w in filters.keywords))
        ids -= set(filters.muted)
        if filters.forms or filters.regions:  # as the web list, the API and the CLI filter: one rule
            ids = {i for i in ids if reaches(self.items[i].forms, self.items[i].region, filters.forms, filters.regions)}
        hit = self._match_cache[key] = frozenset(ids)
        return hit

    def coverage(self, agencies: Iterable[str] = ()) -> Coverage:
        key = tuple(sorted(agencies))
        hit = self._coverage_cache.get(key)
        if hit is None:
            rows = [r for r in self.sources if not key or r[0] in key] or self.sources
            hit = Coverage(sum(1 for r in rows if r[2]), len(rows), [(r[1], r[3]) for r in rows if not r[2]])
            self._coverage_cache[key] = hit
        return hit

    def covers(self, after_id: int, upto_id: int) -> bool:
        return self.after_id <= after_id and upto_id <= self.upto_id

    # -- one digest -------------------------------------------------------------------------------
    def build(self, filters: Filters, *, after_id: int, upto_id: int, first: bool) -> Digest:
        """One digest; subscribers with the same filters and range share the same Digest object."""
        key = (filters.key(), after_id, upto_id, first)
        hit = self._digest_cache.get(key)
        if hit is None:
            hit = self._digest_cache[key] = self._build(filters, after_id=after_id, upto_id=upto_id, first=first)
        return hit

    def _net_changes(self, after_id: int, upto_id: int) -> dict[str, tuple[str, Any]]:
        """{item id: (section, entry)} of the changes in (after_id, upto_id], merged per item in
        order: ("closed", Closed) | ("new", ItemView) | ("changed", Changed). The same for every
        digest of that range (most subscribers share one), so cached per range."""
        hit = self._net_cache.get((after_id, upto_id))
        if hit is not None:
            return hit
        per_item: dict[str, list[ChangeView]] = {}
        for change in self.changes:
            if after_id < change.id <= upto_id:
                per_item.setdefault(change.item_id, []).append(change)
        per_range: dict[str, tuple[str, Any]] = {}
        for item_id, changes in per_item.items():
            view = self.items.get(item_id)
            if view is None:
                continue
            effect = net_change([(c.change, c.fields) for c in changes], view.status == "removed")
            if effect is None:
                continue
            kind, merged = effect
            if kind == "removed":
                per_range[item_id] = ("closed", Closed(view, "borttagen från myndighetens webbplats"))
                continue
            if changes[0].baseline:  # found by its source's first healthy run: counted on the source's line
                per_range[item_id] = ("baseline", changes[0].baseline)
                continue
            if kind == "new":
                per_range[item_id] = ("new", view)
                continue
            if view.status == "closed":
                per_range[item_id] = ("closed", Closed(view, _closed_reason(view)))
            else:
                per_range[item_id] = ("changed", Changed(view, field_changes(merged)))
        # each section in the order a digest shows it, so a digest's share of it is in order too
        rank = {"new": lambda v: (0, v.sort_key), "changed": lambda c: (1, c.item.sort_key),
                "closed": lambda c: (2, c.item.agency_name, c.item.title), "baseline": lambda label: (3, label)}
        per_range = dict(sorted(per_range.items(), key=lambda kv: rank[kv[1][0]](kv[1][1])))
        self._net_cache[(after_id, upto_id)] = per_range
        return per_range

    def _build(self, filters: Filters, *, after_id: int, upto_id: int, first: bool) -> Digest:
        wanted = self.matching(filters)
        net, new_sources = {}, {}  # new_sources: a new source's label -> its open calls this subscriber wants
        for i, e in self._net_changes(after_id, upto_id).items():
            if e[0] == "baseline":  # a first digest lists them with everything open; others get one line
                if not first and (not filters.agencies or self.items[i].agency in filters.agencies):
                    new_sources[e[1]] = new_sources.get(e[1], 0) + (i in wanted and self.items[i].status == "open")
            elif i in wanted:
                net[i] = e
        soon_until = self.today + dt.timedelta(days=filters.reminder_days)
        soon_ids = {v.id for v in self._current if v.id in wanted and v.is_call and v.status == "open"
                    and v.deadline and self.today <= v.deadline <= soon_until}
        new, changed, upcoming, closed, news = [], [], [], [], []
        new_ids: set[str] = set()
        for item_id, (section, entry) in net.items():
            view = entry.item if isinstance(entry, (Changed, Closed)) else entry
            if not view.is_call:
                if section != "closed" and not first:  # a first digest is the calls to apply for
                    news.append(view)
                continue
            if section == "new" and view.status != "closed":
                new_ids.add(item_id)
            if first or item_id in soon_ids:
                continue
            if section == "closed" or view.status == "closed":
                closed.append(entry if isinstance(entry, Closed) else Closed(view, _closed_reason(view)))
            elif view.status in ("upcoming", "planned"):
                upcoming.append(entry)
            elif section == "new":
                new.append(view)
            else:
                changed.append(entry)
        soon = []
        listed = set(net)
        since = self.today - dt.timedelta(days=7)
        open_all: list[ItemView] = []
        for view in self._current:
            if view.id not in wanted or not view.is_call:
                continue
            if view.id in soon_ids:
                entry = net.get(view.id, (None, view))[1]
                soon.append(entry if isinstance(entry, Changed) else view)
            elif first and view.status in ("open", "upcoming", "planned"):
                open_all.append(view)
            elif (not first and view.status == "closed" and view.id not in listed and view.deadline
                  and since <= view.deadline < self.today):
                closed.append(Closed(view, _closed_reason(view)))
        soon.sort(key=lambda e: (_view(e).deadline, _view(e).agency_name, _view(e).title))
        open_all.sort(key=lambda v: (v.deadline or dt.date.max, v.agency_name, v.title))
        closed.sort(key=lambda c: (c.item.agency_name, c.item.title))  # with those closed by their deadline
        news.sort(key=lambda v: (v.agency_name, v.kind, v.title))
        return Digest(self.week, first, after_id, upto_id, new, changed, soon, closed,
                      open_all[:FIRST_DIGEST_LIMIT], self.coverage(filters.agencies), upcoming=upcoming, news=news,
                      open_more=max(0, len(open_all) - FIRST_DIGEST_LIMIT), reminder_days=filters.reminder_days,
                      new_ids=frozenset(new_ids),
                      new_sources=[new_source_line(label, n) for label, n in new_sources.items()])


def baseline_runs(session: Session, run_ids: set[int]) -> dict[int, str]:
    """Of RUN_IDS, the runs up to and including their source's first healthy run: {run id: source
    id}. Their `new` items are the source's baseline, not news for subscribers who had digests."""
    if not run_ids:
        return {}
    first_ok = dict(session.execute(select(Run.source_id, func.min(Run.id)).where(Run.status == "ok")
                                    .group_by(Run.source_id)).all())
    out = {}
    for run_id, source_id in session.execute(select(Run.id, Run.source_id).where(Run.id.in_(run_ids))):
        if source_id not in first_ok or run_id <= first_ok[source_id]:  # no healthy run yet: still its baseline
            out[run_id] = source_id
    return out


def new_source_line(label: str, open_calls: int) -> str:
    if open_calls == 0:
        return f"Ny källa: {label} — inga öppna utlysningar just nu"
    return f"Ny källa: {label} — {open_calls} {'öppen utlysning' if open_calls == 1 else 'öppna utlysningar'}"

def _view(entry) -> ItemView:
    return entry.item if isinstance(entry, (Changed, Closed)) else entry


def safe_url(url: str | None) -> str:
    """Only http(s) links reach a mail; anything else (javascript:, data:) becomes no link."""
    url = (url or "").strip()
    return url if url.lower().startswith(("https://", "http://")) and url.isprintable() else "#"


def _closed_reason(view: ItemView) -> str | None:
    """Why a call is in the closed section, when its status line (Stängd, with its deadline) does
    not say it already."""
    return None if view.deadline else "stängd enligt myndighetens sida"


def _item_view(item: Item, now: dt.datetime, agency_name: str) -> ItemView:
    data = call_json(item, now)
    deadline = shown_deadline(item, now.date())
    deadline_sv = None
    if deadline:
        deadline_sv = format_date_sv(deadline)
        closing = item_closes_at(item, deadline)
        written_time = item.deadline_time or (
            item.deadline_text and parse_date(item.deadline_text).time and (closing.hour, closing.minute) != (23, 59))
        if written_time:
            deadline_sv += f" kl. {closing:%H.%M}"
    elif item.deadline_text:
        deadline_sv = " ".join(item.deadline_text.split())
    return ItemView(
        id=item.id, agency=item.agency, agency_name=agency_name, kind=item.kind,
        kind_sv=KIND_SV.get(item.kind, item.kind), title=" ".join((item.title or "").split()), url=safe_url(item.url),
        status=data["status"], deadline=deadline, deadline_sv=deadline_sv,
        amount_sv=amount_sv(item.amount_text, item.amount_sek),
        opens_sv=format_date_sv(item.opens) if item.opens else None, competitive=item.competitive,
        who=", ".join(item.eligibility) if item.eligibility else _who(item.details),
        haystack=fold_case(f"{item.title}\n{item.text}"),
        forms=tuple(item.eligibility or ()), region=item.region,
        civil_society=(item.details or {}).get(CIVIL_SOCIETY_DETAIL) != "nej",
        opens_forecast_sv=None if item.opens else (item.details or {}).get(OPENS_FORECAST),
        next_meeting_sv=format_date_sv(meeting) if (meeting := next_meeting(item.details, now.date())) else None,
    )


def _who(details: dict | None) -> str | None:
    for label, value in (details or {}).items():
        if str(label).casefold().strip(" :") in WHO_LABELS and value:
            text = " ".join(str(value).split())
            return text if len(text) <= 160 else text[:159].rstrip() + "…"
    return None


def short_date_sv(day: dt.date) -> str:
    """'14 dec', for a subject line."""
    return f"{day.day} {MONTHS_SHORT_SV[day.month - 1]}"
