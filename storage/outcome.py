"""What a crawl saw, as the spider side decided it (spiders/health.py), in the form that crosses
from the `scrapy crawl` child to the process that records the run: plain data, JSON both ways; and
the verdict ok / partial / failed on a run's health (one of the change rules of storage/changes.py,
here so that the crawl child needs no SQLAlchemy)."""

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


def run_failure(health, finish_reason: str) -> tuple[str, dict[str, Any]] | None:
    """Why the run HEALTH describes (spiders/health.py RunHealth) failed, or None."""
    if finish_reason != "finished":
        return "finish_reason", {"reason": finish_reason}
    for host, status in health.robots_status.items():
        if status is None or status >= 500:
            return "robots_unreachable", {"host": host, "error": health.robots_errors.get(host) or f"HTTP {status}"}
    if health.forbidden:
        return "robots_forbidden", {"url": health.forbidden[0], "count": len(health.forbidden)}
    if health.callback_errors:
        url, error = health.callback_errors[0]
        return "callback_error", {"url": url, "error": error}
    for url in sorted(health.start_pages):  # a start page that errors (a 404 too) fails the run
        page = health.pages.get(url)
        if page is not None and not page.answered:
            if page.status is not None:
                return "http_status", {"url": page.url, "status": page.status}
            return "download_error", {"url": page.url, "error": page.error or "no response"}
    for entry in health.must_carry:
        pages = health.must_carry_pages(entry)
        if not pages:
            return "must_carry_missing", {"page": entry}
        for page in pages:
            if page.answered and page.redirected_away:
                return "redirected", {"url": page.url, "target": page.final_url}
            if page.status is not None and not page.answered:
                return "http_status", {"url": page.url, "status": page.status}
            if not page.answered:
                return "download_error", {"url": page.url, "error": page.error or "no response"}
            if page.layout:
                return "layout_changed", {"url": page.url, "missing": page.layout}
            if page.items == 0 and not page.carried:
                return "no_items", {"url": page.url}
    return None


def run_verdict(health, finish_reason: str) -> RunOutcome:
    """ok, partial or failed, with the reason, from what every page of the crawl answered."""
    failure = run_failure(health, finish_reason)
    failed_pages = [p for p in health.pages.values() if not p.fetched or p.layout]
    errors = len(failed_pages) + len(health.callback_errors)
    if failure:
        status, (code, params) = "failed", failure
    elif failed_pages:
        first = failed_pages[0]
        status, code = "partial", "page_failed"
        params = {"failed": len(failed_pages), "url": first.url,
                  "error": first.layout or first.error or (f"redirected to {first.final_url}" if first.answered
                                                            else f"HTTP {first.status}")}
    else:
        status, code, params = "ok", None, None
    return RunOutcome(
        status=status, reason_code=code, reason_params=params, warnings=list(health.warnings),
        # only a page that answered with its own content may count an item on it as missing; a
        # since-answer (health.changes_only) lists only what changed: an item it does not list is unchanged
        fetched_pages={u for p in health.pages.values() if p.fetched and p.url not in health.changes_only
                       for u in (p.url, p.final_url) if u and u not in health.changes_only},
        page_log=[p.to_log() for p in health.pages.values()], errors=errors, shape=health.shape(),
    )
