"""The sources file: what is watched. Shipped as fundwatch/sources.toml; FUNDWATCH_SOURCES or
--sources replaces it."""

from __future__ import annotations

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

    def to_json(self) -> dict:
        return {
            "id": self.id, "agency": self.agency, "spider": self.spider, "urls": list(self.urls),
            "must_carry": list(self.must_carry), "schedule": self.schedule,
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
        sources[entry["id"]] = Source(
            id=entry["id"], agency=entry["agency"], spider=entry["spider"], urls=urls,
            # A plain page watch must carry every page it watches.
            must_carry=tuple(entry.get("must_carry", urls if entry["spider"] == "page" else ())),
            schedule=entry.get("schedule"), name=entry.get("name", ""),
        )
    return Sources(path=path, sources=sources, agencies=dict(data.get("agencies", {})))
