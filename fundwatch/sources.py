"""The sources file: what is watched. Shipped as fundwatch/sources.toml; FUNDWATCH_SOURCES or
--sources replaces it."""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from fundwatch.errors import UserError

SHIPPED = "sources.toml"


class SourcesError(UserError, ValueError):
    """The sources file is missing, malformed or names an unknown source."""


@dataclass(frozen=True)
class Source:
    id: str
    agency: str
    spider: str
    urls: tuple[str, ...]
    must_carry: tuple[str, ...]
    schedule: str | None = None
    name: str = ""
    # An API source: its urls hold "{since}", the date its first run asks for changes since; later
    # runs ask since their last healthy run (the watermark, fundwatch/crawl.py).
    since: str | None = None

    @property
    def is_api(self) -> bool:
        return self.since is not None

    def urls_since(self, since: str | None = None) -> tuple[str, ...]:
        return tuple(u.replace("{since}", since or self.since or "") for u in self.urls)

    def to_json(self) -> dict:
        return {
            "id": self.id, "agency": self.agency, "spider": self.spider, "urls": list(self.urls),
            "must_carry": list(self.must_carry), "schedule": self.schedule, "since": self.since,
        }


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
    sources: dict[str, Source] = {}
    for n, entry in enumerate(data.get("source", []), start=1):
        missing = [k for k in ("id", "agency", "spider", "urls") if not entry.get(k)]
        if missing:
            raise SourcesError(f"{path}: source #{n} lacks {', '.join(missing)}")
        if entry["id"] in sources:
            raise SourcesError(f"{path}: source id {entry['id']!r} appears twice")
        urls = tuple(entry["urls"])
        since = entry.get("since")
        if since is not None:
            since = str(since)  # TOML reads an unquoted 2026-11-01 as a date
            try:
                dt.date.fromisoformat(since)
            except ValueError:
                raise SourcesError(f"{path}: source {entry['id']!r}: since must be a date YYYY-MM-DD, not {since!r}") from None
            if not any("{since}" in u for u in urls):
                raise SourcesError(f"{path}: source {entry['id']!r} has since but no url with {{since}}")
        elif any("{since}" in u for u in urls):
            raise SourcesError(f"{path}: source {entry['id']!r} has a url with {{since}} but no since date")
        sources[entry["id"]] = Source(
            id=entry["id"], agency=entry["agency"], spider=entry["spider"], urls=urls,
            # A plain page watch must carry every page it watches.
            must_carry=tuple(entry.get("must_carry", urls if entry["spider"] == "page" else ())),
            schedule=entry.get("schedule"), name=entry.get("name", ""), since=since,
        )
    return Sources(path=path, sources=sources, agencies=dict(data.get("agencies", {})))
