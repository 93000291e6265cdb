"""The sources file: what is watched. Shipped as fundwatch/sources.toml; FUNDWATCH_SOURCES or
--sources replaces it."""

from __future__ import annotations

import ast
import datetime as dt
import functools
import importlib.util
import os
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

from fundwatch.errors import UserError

SHIPPED = "sources.toml"
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # names log and spool files: no path in it
OPTIONAL_TEXT = ("schedule", "name")


class SourcesError(UserError, ValueError):
    """The sources file is missing, malformed or names an unknown source."""


KINDS_OF_LISTING = ("funding_call", "collaboration", "news", "decision")


@dataclass(frozen=True)
class Listing:
    """A funder by configuration (spider = "listing"): start pages that are listings or call pages,
    which links are calls (`calls`, a regular expression searched in the link's URL, and/or
    `call_selector`, a CSS selector of the links), the kind of item, extra label spellings
    {field: [label, ...]}, lines that are noise (regular expressions matched against a whole line)
    and the region of a call page from its URL (`region_from_url` with a group `region`, named by
    `regions` {slug: name}). A plan that lists calls as table rows names them with `call_rows` (CSS of
    the rows; the header row names each cell) and `title_columns` (the cells that make the title)."""

    calls: re.Pattern | None = None
    call_selector: str | None = None
    call_rows: str | None = None  # CSS selector of table rows that are calls on the start page itself
    title_columns: tuple[int, ...] = (0,)
    kind: str = "funding_call"
    labels: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False, compare=False)
    noise: tuple[re.Pattern, ...] = ()
    region_from_url: re.Pattern | None = None
    regions: dict[str, str] = field(default_factory=dict, hash=False, compare=False)

    def to_json(self) -> dict:
        return {
            "calls": self.calls.pattern if self.calls else None, "call_selector": self.call_selector,
            "call_rows": self.call_rows, "title_columns": list(self.title_columns),
            "kind": self.kind, "labels": {k: list(v) for k, v in self.labels.items()},
            "noise": [n.pattern for n in self.noise],
        }


def _pattern(where: str, key: str, value) -> re.Pattern:
    if not isinstance(value, str) or not value:
        raise SourcesError(f"{where}: {key} must be a non-empty string (a regular expression)")
    try:
        return re.compile(value)
    except re.error as exc:
        raise SourcesError(f"{where}: {key} is not a valid regular expression: {exc}") from None


def _listing(where: str, entry: dict) -> Listing:
    if not entry.get("calls") and not entry.get("call_selector") and not entry.get("call_rows"):
        raise SourcesError(f"{where}: a listing source needs calls (a URL pattern), call_selector or call_rows (CSS)")
    columns = entry.get("title_columns", [0])
    if not isinstance(columns, list) or not columns or not all(isinstance(c, int) and c >= 0 for c in columns):
        raise SourcesError(f"{where}: title_columns must be a list of column numbers (0 is the first)")
    kind = entry.get("kind", "funding_call")
    if kind not in KINDS_OF_LISTING:
        raise SourcesError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS_OF_LISTING)}")
    labels = entry.get("labels", {})
    if not isinstance(labels, dict) or not all(
            isinstance(v, list) and v and all(isinstance(s, str) and s for s in v) for v in labels.values()):
        raise SourcesError(f"{where}: labels must map a field to a list of label spellings")
    region = entry.get("region_from_url")
    region_pattern = _pattern(where, "region_from_url", region) if region else None
    if region_pattern is not None and "region" not in region_pattern.groupindex:
        raise SourcesError(f"{where}: region_from_url needs a group named region: (?P<region>...)")
    return Listing(
        calls=_pattern(where, "calls", entry["calls"]) if entry.get("calls") else None,
        call_selector=entry.get("call_selector") or None, call_rows=entry.get("call_rows") or None,
        title_columns=tuple(columns), kind=kind,
        labels={name: tuple(spellings) for name, spellings in labels.items()},
        noise=tuple(_pattern(where, "noise", n) for n in entry.get("noise", ())),
        region_from_url=region_pattern, regions=dict(entry.get("regions", {})),
    )


@dataclass(frozen=True)
class Source:
    id: str
    agency: str
    spider: str
    urls: tuple[str, ...]
    must_carry: tuple[str, ...]
    schedule: str | None = None
    name: str = ""
    listing: Listing | None = None  # spider = "listing" only
    # An API source: its urls hold "{since}", the date its first run asks for changes since; later
    # runs ask since their last healthy run (the watermark, fundwatch/crawl.py).
    since: str | None = None

    @property
    def is_api(self) -> bool:
        return self.since is not None

    def urls_since(self, since: str | None = None) -> tuple[str, ...]:
        return tuple(u.replace("{since}", since or self.since or "") for u in self.urls)

    def to_json(self) -> dict:
        data = {
            "id": self.id, "agency": self.agency, "spider": self.spider, "urls": list(self.urls),
            "must_carry": list(self.must_carry), "schedule": self.schedule, "since": self.since,
        }
        if self.listing is not None:
            data["listing"] = self.listing.to_json()
        return data


@dataclass(frozen=True)
class Sources:
    path: str
    sources: dict[str, Source]
    agencies: dict[str, str] = field(default_factory=dict)

    def get(self, source_id: str) -> Source:
        try:
            return self.sources[source_id]
        except KeyError:
            known = ", ".join(self.sources) or "none"
            raise SourcesError(f"unknown source {source_id!r} (configured: {known})") from None

    def agency_name(self, agency: str) -> str:
        return self.agencies.get(agency, agency)

    def __iter__(self):
        return iter(self.sources.values())


def sources_path(explicit: str | os.PathLike | None = None) -> str:
    chosen = explicit or os.environ.get("FUNDWATCH_SOURCES", "").strip()
    if chosen:
        return str(Path(chosen).absolute())
    return str(resources.files("fundwatch") / SHIPPED)


def load_sources(explicit: str | os.PathLike | None = None) -> Sources:
    path = sources_path(explicit)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise SourcesError(f"sources file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SourcesError(f"sources file {path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise SourcesError(f"sources file {path} cannot be read: {exc.strerror}") from None
    entries = data.get("source", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise SourcesError(f"{path}: `source` must be [[source]] tables, not {_shown(entries)}")
    agencies = data.get("agencies", {})
    if not isinstance(agencies, dict) or not all(isinstance(v, str) for v in agencies.values()):
        raise SourcesError(f"{path}: [agencies] must map agency slugs to names")
    sources: dict[str, Source] = {}
    for n, entry in enumerate(entries, start=1):
        source = _source(entry, f"{path}: source #{n}")
        if source.id in sources:
            raise SourcesError(f"{path}: source id {source.id!r} appears twice")
        sources[source.id] = source
    return Sources(path=path, sources=sources, agencies=dict(data.get("agencies", {})))


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _source(entry: dict, where: str) -> Source:
    """One [[source]] table, checked: what a crawl would choke on, or fetch and mail, is refused here."""
    missing = [k for k in ("id", "agency", "spider", "urls") if k not in entry or entry[k] in ("", [], None)]
    if missing:
        raise SourcesError(f"{where} lacks {', '.join(missing)}")
    for key in ("id", "agency", "spider"):
        if not isinstance(entry[key], str):
            raise SourcesError(f"{where}: {key} must be a string, not {_shown(entry[key])}")
    where = f"{where.rsplit(': source #', 1)[0]}: source {entry['id']!r}"
    if not ID_PATTERN.fullmatch(entry["id"]):
        raise SourcesError(f"{where}: id may hold only letters, digits, '-', '_' and '.'")
    if not ID_PATTERN.fullmatch(entry["agency"]):
        raise SourcesError(f"{where}: agency may hold only letters, digits, '-', '_' and '.'")
    if entry["spider"] not in known_spiders(entry["spider"]):
        raise SourcesError(f"{where}: unknown spider {entry['spider']!r} (`scrapy list` names them)")
    urls = _url_list(entry["urls"], f"{where}: urls")
    must_carry = entry.get("must_carry", urls if entry["spider"] == "page" else ())  # a page watch carries every page
    if not isinstance(must_carry, (list, tuple)) or not all(isinstance(m, str) and m for m in must_carry):
        raise SourcesError(f"{where}: must_carry must be a list of URLs or page roles, not {_shown(must_carry)}")
    for key in OPTIONAL_TEXT:
        if key in entry and not isinstance(entry[key], str):
            raise SourcesError(f"{where}: {key} must be a string, not {_shown(entry[key])}")
    since = entry.get("since")
    if since is not None:
        since = str(since)  # TOML reads an unquoted 2026-11-01 as a date
        try:
            dt.date.fromisoformat(since)
        except ValueError:
            raise SourcesError(f"{where}: since must be a date YYYY-MM-DD, not {since!r}") from None
        if not any("{since}" in u for u in urls):
            raise SourcesError(f"{where} has since but no url with {{since}}")
    elif any("{since}" in u for u in urls):
        raise SourcesError(f"{where} has a url with {{since}} but no since date")
    return Source(id=entry["id"], agency=entry["agency"], spider=entry["spider"], urls=urls,
                  must_carry=tuple(must_carry), schedule=entry.get("schedule"), name=entry.get("name", ""),
                  since=since, listing=_listing(where, entry) if entry["spider"] == "listing" else None)


def _url_list(value, where: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise SourcesError(f"{where} must be a list of http(s) URLs, not {_shown(value)}")
    for url in value:
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise SourcesError(f"{where}: only http and https URLs are crawled, not {_shown(url)}")
    return tuple(value)


@functools.cache
def known_spiders(name: str) -> frozenset[str]:
    """{NAME} when spiders/NAME.py defines a spider called NAME (the crawl loads it from there),
    else nothing. Read, not imported: loading the sources file stays free of Scrapy."""
    spec = importlib.util.find_spec("fundwatch.spiders") if name.isidentifier() else None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        module = Path(folder) / f"{name}.py"
        if not module.is_file():
            continue
        for node in ast.walk(ast.parse(module.read_bytes())):
            if isinstance(node, ast.ClassDef) and any(
                    isinstance(stmt, ast.Assign) and any(getattr(t, "id", None) == "name" for t in stmt.targets)
                    and isinstance(stmt.value, ast.Constant) and stmt.value.value == name for stmt in node.body):
                return frozenset({name})
    return frozenset()
