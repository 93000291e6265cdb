"""The one item every spider yields. Plain dataclass (Scrapy handles it through itemadapter), so
storage and the CLI can import it without importing Scrapy."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field, fields
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

# `decision`: a published list of who got funded (Arvsfonden after each of its meetings).
KINDS = ("funding_call", "procurement", "collaboration", "news", "decision", "page")
# Stored statuses a spider may set; upcoming/open/closed are derived from dates when read
# (so the calendar passing a date is never a change), `removed` is set by storage.
STATUSES = ("planned", "upcoming", "open", "closed", "unknown", "removed")

_NON_ALNUM = re.compile(r"[\W_]+", re.UNICODE)


def slugify(key: str) -> str:
    """NFKC, casefold, runs of non-alphanumerics -> '-'. å, ä, ö stay letters."""
    text = unicodedata.normalize("NFKC", key).casefold()
    return _NON_ALNUM.sub("-", text).strip("-") or "item"


def item_id(agency: str, kind: str, key: str) -> str:
    """agency/kind/slug. A news item is keyed by its URL; its slug is the URL's last path segment
    (the article's own name), not the whole URL."""
    if kind == "news":
        key = news_key(key)
    return f"{agency}/{kind}/{slugify(key)}"


def news_key(key: str) -> str:
    """The last path segment of a URL (the key itself when it is not a URL)."""
    parts = urlsplit(key)
    if not parts.scheme or not parts.netloc:
        return key
    segment = parts.path.rstrip("/").rsplit("/", 1)[-1]
    return unquote(segment) or parts.netloc


@dataclass
class FundItem:
    agency: str
    kind: str
    key: str  # what identifies the item on its page: heading, diarienummer or URL
    title: str
    url: str
    origin: str = ""  # the page the item was found on; a miss counts only if it was fetched
    opens: dt.date | None = None
    deadline: dt.date | None = None
    deadline_text: str | None = None
    deadline_rule: str | None = None  # recurring deadlines as "MM-DD,MM-DD" (Brottsofferfonden)
    published: dt.date | None = None
    amount_text: str | None = None
    amount_sek: int | None = None
    competitive: bool | None = None
    status: str = "unknown"
    text: str = ""
    details: dict[str, str] = field(default_factory=dict)
    deadline_time: str | None = None  # "HH:MM" as the page writes it with the deadline; None: none written
    eligibility: list[str] = field(default_factory=list)  # organisation forms that may apply (eligibility.py)
    region: str | None = None  # county or ESF+ region of a regional call (regions.py); None: national
    id: str = ""  # agency/kind/slug, set by the pipeline (which also de-duplicates slugs)
    source: str = ""  # source id, set by the pipeline

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown item kind {self.kind!r}")
        if self.status not in STATUSES:
            raise ValueError(f"unknown item status {self.status!r}")


ITEM_FIELDS = tuple(f.name for f in fields(FundItem))
# Fields whose change is a change of the item (an update, a new version).
CONTENT_FIELDS = (
    "title", "url", "opens", "deadline", "deadline_text", "deadline_rule", "published",
    "amount_text", "amount_sek", "competitive", "status", "text", "details",
    "deadline_time", "eligibility", "region",
)
# Content fields added in schema 0013: left out of an item's snapshot (and so of its content hash)
# while empty, so that items stored before them do not all read as updated.
OPTIONAL_FIELDS = ("deadline_time", "eligibility", "region")
DATE_FIELDS = ("opens", "deadline", "published")
# The `details` entry of decision meeting dates (Arvsfonden's delegation): every date the page lists,
# ISO, in order, ", "-separated; which one is next is worked out when read, so a meeting passing is
# never a change of the item.
MEETINGS = "Sammanträden"
# The `details` entry of an opening the page gives only in part (swedish.PartialDate): "maj 2027 (prel.)".
OPENS_FORECAST = "Öppnar"


def forecast_sv(partial) -> str:
    """A partial opening as the item says it: 'maj 2027 (prel.)', never a day."""
    return f"{partial.sv} (prel.)"


def meeting_dates(details: dict[str, str] | None) -> list[dt.date]:
    """The decision meeting dates an item's details list (none when they are kept as written)."""
    out = []
    for part in (details or {}).get(MEETINGS, "").split(","):
        try:
            out.append(dt.date.fromisoformat(part.strip()))
        except ValueError:
            return []
    return out


def next_meeting(details: dict[str, str] | None, today: dt.date) -> dt.date | None:
    """The first listed meeting on or after TODAY; None when every listed one has passed."""
    return next((day for day in meeting_dates(details) if day >= today), None)


def item_to_dict(item: FundItem, names: tuple[str, ...] = ITEM_FIELDS) -> dict:
    """JSON-ready dict of the fields NAMES: dates as YYYY-MM-DD. Not dataclasses.asdict: its deep
    copy was a third of a crawl's storage time; fields hold plain values, `details` a flat dict."""
    data = {name: getattr(item, name) for name in names}
    for name in DATE_FIELDS:
        value = data.get(name)
        if value is not None:
            data[name] = value.isoformat()
    if data.get("details") is not None:
        data["details"] = dict(data["details"])
    if data.get("eligibility") is not None:
        data["eligibility"] = list(data["eligibility"])
    return data


def item_from_dict(data: dict) -> FundItem:
    values = {k: data.get(k) for k in ITEM_FIELDS if k in data}
    for name in DATE_FIELDS:
        if isinstance(values.get(name), str):
            values[name] = dt.date.fromisoformat(values[name])
    for name in ("details", "eligibility"):
        if values.get(name) is None:
            values.pop(name, None)
    return FundItem(**values)


_TRACKING = re.compile(r"^(utm_\w+|fbclid|gclid|sv\.\w+)$", re.I)


def url_key(url: str | None) -> str:
    """A URL as compared: scheme, `www.`, letter case, a trailing slash or `.html`, the fragment
    and tracking parameters are how a page was reached, not which page it is."""
    if not url:
        return ""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").casefold().removeprefix("www.")
    path = parts.path.casefold().removesuffix("/index.html").removesuffix(".html").rstrip("/")
    query = urlencode(sorted((k, v) for k, v in parse_qsl(parts.query) if not _TRACKING.match(k)))
    return f"{host}{path}?{query}" if query else f"{host}{path}"


def same_listing(old_url: str | None, old_origin: str | None, new_url: str | None, new_origin: str | None) -> bool:
    """The same item, only reached another way: the same page by url_key, or an item that has no
    page of its own (its url is the page it was listed on) read from another address of that
    listing (Migrationsverket's sitemap vs its fallback URL, a redirect target)."""
    if url_key(old_url) == url_key(new_url):
        return True
    return bool(old_origin and new_origin and url_key(old_url) == url_key(old_origin)
                and url_key(new_url) == url_key(new_origin))
