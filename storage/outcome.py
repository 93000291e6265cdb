"""What a crawl saw, as the spider side decided it (spiders/health.py), in the form that crosses
from the `scrapy crawl` child to the process that records the run: plain data, JSON both ways."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class RunOutcome:
    status: str  # ok | partial | failed
    reason_code: str | None = None
    reason_params: dict[str, Any] | None = None
    warnings: list[dict[str, Any]] = field(default_factory=list)
    fetched_pages: set[str] = field(default_factory=set)  # answered 2xx or 304
    page_log: list[dict[str, Any]] = field(default_factory=list)
    errors: int = 0
    # what the items carried, for the drift guard (storage/drift.py): {"kinds": {kind: {"items",
    # "deadline", "opens", "amount"}}, "pages": {must-carry page or role: items}}
    shape: dict[str, Any] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return self.status == "ok"

    def fail(self, code: str, params: dict[str, Any]) -> None:
        """The run failed for a reason the crawl itself could not see (a timeout, a storage error)."""
        self.status, self.reason_code, self.reason_params = "failed", code, params

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["fetched_pages"] = sorted(self.fetched_pages)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunOutcome:
        return cls(**{**data, "fetched_pages": set(data.get("fetched_pages") or ())})
