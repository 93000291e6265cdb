"""A run's health: what every page answered, and the verdict ok / partial / failed.

Healthy (ok) only when Scrapy finished with reason `finished`, robots.txt answered 2xx or 4xx on
every host, no request was refused by robots.txt, no callback raised, and every must-carry page
answered 2xx or 304 and carried what it should. `partial`: some other page failed. Only a
healthy run may count an item as missing (storage/runs.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fundwatch.storage.outcome import RunOutcome


@dataclass
class Page:
    url: str  # the URL requested (before redirects)
    role: str | None = None
    final_url: str | None = None
    status: int | None = None
    error: str | None = None
    items: int = 0
    carried: bool = False  # the page held what the spider expected (labels, links)
    layout: str | None = None  # what was missing, when the page no longer looks as expected
    revalidated: bool = False

    @property
    def answered(self) -> bool:
        return self.error is None and self.status is not None and (200 <= self.status < 300 or self.status == 304)

    def to_log(self) -> dict[str, Any]:
        entry = {"url": self.url, "status": self.status, "items": self.items}
        for key in ("role", "error", "layout"):
            if getattr(self, key):
                entry[key] = getattr(self, key)
        if self.final_url and self.final_url != self.url:
            entry["final_url"] = self.final_url
        if self.revalidated:
            entry["revalidated"] = True
        return entry


@dataclass
class RunHealth:
    must_carry: tuple[str, ...] = ()
    start_pages: set[str] = field(default_factory=set)  # must answer, or the run fails
    pages: dict[str, Page] = field(default_factory=dict)
    by_final_url: dict[str, Page] = field(default_factory=dict)  # where a redirect ended
    robots_status: dict[str, int | None] = field(default_factory=dict)
    robots_errors: dict[str, str] = field(default_factory=dict)
    forbidden: list[str] = field(default_factory=list)
    callback_errors: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    kinds: dict[str, dict[str, int]] = field(default_factory=dict)  # the drift guard's counts
    # pages that list only what changed (an API's since-answer): an item absent from them is
    # unchanged, not gone, so they never make a miss count
    changes_only: set[str] = field(default_factory=set)

    # -- what the crawl reports -------------------------------------------------------------
    def page(self, url: str, role: str | None = None) -> Page:
        page = self.pages.get(url)
        if page is None:
            page = self.pages[url] = Page(url=url, role=role)
        elif role and not page.role:
            page.role = role
        return page

    def page_ok(self, url: str, status: int, final_url: str, role: str | None = None, revalidated: bool = False) -> None:
        page = self.page(url, role)
        page.status, page.final_url, page.error = (304 if revalidated else status), final_url, None
        self.by_final_url[final_url] = page
        page.revalidated = revalidated

    def page_failed(self, url: str, status: int | None, error: str, role: str | None = None) -> None:
        page = self.page(url, role)
        page.status, page.error = status, error

    def item_from(self, origin: str) -> None:
        page = self.pages.get(origin) or self.by_final_url.get(origin) or self.page(origin)
        page.items += 1

    def item_fields(self, kind: str, deadline: bool, opens: bool, amount: bool) -> None:
        """Count an item and which of the fields the drift guard watches it carries."""
        counts = self.kinds.setdefault(kind, {"items": 0, "deadline": 0, "opens": 0, "amount": 0})
        counts["items"] += 1
        counts["deadline"] += deadline
        counts["opens"] += opens
        counts["amount"] += amount

    def shape(self) -> dict[str, Any]:
        """Per kind the item and field counts; per must-carry page (or role) its item count."""
        pages = {entry: sum(p.items for p in self._must_carry_pages(entry)) for entry in self.must_carry}
        return {"kinds": self.kinds, "pages": pages}

    def fell_back(self, url: str) -> None:
        """A start page failed but the spider has another route to its content (Migrationsverket's
        sitemap -> the known URL): its failure makes the run partial, not failed."""
        self.start_pages.discard(url)

    def carried(self, url: str) -> None:
        self.page(url).carried = True

    def layout_changed(self, url: str, missing: str) -> None:
        self.page(url).layout = missing

    def robots(self, host: str, status: int | None, error: str | None = None) -> None:
        self.robots_status[host] = status
        if error:
            self.robots_errors[host] = error

    def robots_forbidden(self, url: str) -> None:
        self.forbidden.append(url)

    def callback_error(self, url: str, error: str) -> None:
        self.callback_errors.append((url, error))

    def warn(self, code: str, **params: Any) -> None:
        self.warnings.append({"code": code, "params": params})

    # -- the verdict --------------------------------------------------------------------------
    def _must_carry_pages(self, entry: str) -> list[Page]:
        found = self.pages.get(entry) or self.by_final_url.get(entry)
        if found is not None:  # a URL; otherwise a role, which few pages have
            return [found]
        return [p for p in self.pages.values() if p.role == entry]

    def _failure(self, finish_reason: str) -> tuple[str, dict[str, Any]] | None:
        if finish_reason != "finished":
            return "finish_reason", {"reason": finish_reason}
        for host, status in self.robots_status.items():
            if status is None or status >= 500:
                return "robots_unreachable", {"host": host, "error": self.robots_errors.get(host) or f"HTTP {status}"}
        if self.forbidden:
            return "robots_forbidden", {"url": self.forbidden[0], "count": len(self.forbidden)}
        if self.callback_errors:
            url, error = self.callback_errors[0]
            return "callback_error", {"url": url, "error": error}
        for url in sorted(self.start_pages):  # a start page that errors (a 404 too) fails the run
            page = self.pages.get(url)
            if page is not None and not page.answered:
                if page.status is not None:
                    return "http_status", {"url": page.url, "status": page.status}
                return "download_error", {"url": page.url, "error": page.error or "no response"}
        for entry in self.must_carry:
            pages = self._must_carry_pages(entry)
            if not pages:
                return "must_carry_missing", {"page": entry}
            for page in pages:
                if page.status is not None and not page.answered:
                    return "http_status", {"url": page.url, "status": page.status}
                if not page.answered:
                    return "download_error", {"url": page.url, "error": page.error or "no response"}
                if page.layout:
                    return "layout_changed", {"url": page.url, "missing": page.layout}
                if page.items == 0 and not page.carried:
                    return "no_items", {"url": page.url}
        return None

    def outcome(self, finish_reason: str) -> RunOutcome:
        failure = self._failure(finish_reason)
        failed_pages = [p for p in self.pages.values() if not p.answered or p.layout]
        errors = len(failed_pages) + len(self.callback_errors)
        if failure:
            status, (code, params) = "failed", failure
        elif failed_pages:
            first = failed_pages[0]
            status, code = "partial", "page_failed"
            params = {"failed": len(failed_pages), "url": first.url,
                      "error": first.layout or first.error or f"HTTP {first.status}"}
        else:
            status, code, params = "ok", None, None
        return RunOutcome(
            status=status, reason_code=code, reason_params=params, warnings=list(self.warnings),
            fetched_pages={u for p in self.pages.values() if p.answered and p.url not in self.changes_only
                           for u in (p.url, p.final_url) if u and u not in self.changes_only},
            page_log=[p.to_log() for p in self.pages.values()], errors=errors, shape=self.shape(),
        )
