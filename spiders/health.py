"""A run's health: what every page answered. The verdict ok / partial / failed that it leads to is
one of the change rules (storage/changes.py; run_verdict in storage/outcome.py): only a healthy run may count an item as
missing, and only on a page that answered with its own content; a page redirected away (a
temporary redirect elsewhere, or a move to a page that carries nothing) counts as failed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from fundwatch.storage.outcome import RunOutcome, run_verdict

PERMANENT_REDIRECTS = {301, 308}  # a move; any other hop (302, 303, 307, a meta refresh) is for now


def same_page(a: str, b: str) -> bool:
    """Whether two URLs name the same page: scheme (http -> https), a `www.` prefix, the default
    port, host case and a trailing slash aside."""
    def key(url: str) -> tuple[str, str, str]:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().removeprefix("www.")
        port = parts.port if parts.port not in (None, 80, 443) else None
        return f"{host}:{port}", parts.path.rstrip("/") or "/", parts.query
    return key(a) == key(b)


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
    redirect_temporary: bool = False  # a hop that is not a move: the page is still at `url`, shown elsewhere for now

    @property
    def answered(self) -> bool:
        return self.error is None and self.status is not None and (200 <= self.status < 300 or self.status == 304)

    @property
    def redirected_away(self) -> bool:
        """Redirected to a page that does not stand for this one: a temporary redirect elsewhere (a
        maintenance page), or a move to a page that carries nothing. A move whose target carries
        the content, and http -> https or a trailing slash, are the same page."""
        if not self.final_url or same_page(self.url, self.final_url):
            return False
        return self.redirect_temporary or self.layout is not None or (self.items == 0 and not self.carried)

    @property
    def fetched(self) -> bool:
        """Answered with this page's own content: only such a page may count an item on it as missing."""
        return self.answered and not self.redirected_away

    def to_log(self) -> dict[str, Any]:
        entry = {"url": self.url, "status": self.status, "items": self.items}
        for key in ("role", "error", "layout"):
            if getattr(self, key):
                entry[key] = getattr(self, key)
        if self.final_url and self.final_url != self.url:
            entry["final_url"] = self.final_url
            if self.redirect_temporary:
                entry["temporary_redirect"] = True
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

    def page_ok(self, url: str, status: int, final_url: str, role: str | None = None, revalidated: bool = False,
                redirect_codes: tuple[int | str, ...] = ()) -> None:
        page = self.page(url, role)
        page.status, page.final_url, page.error = (304 if revalidated else status), final_url, None
        self.by_final_url[final_url] = page
        page.revalidated = revalidated
        page.redirect_temporary = any(code not in PERMANENT_REDIRECTS for code in redirect_codes)

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
        pages = {entry: sum(p.items for p in self.must_carry_pages(entry)) for entry in self.must_carry}
        return {"kinds": self.kinds, "pages": pages}

    def shown_elsewhere(self, origin: str) -> bool:
        """ORIGIN answered with another page for now (a temporary redirect elsewhere): what that
        page holds is not this page's content."""
        page = self.pages.get(origin) or self.by_final_url.get(origin)
        return (page is not None and page.redirect_temporary and page.final_url is not None
                and not same_page(page.url, page.final_url))

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

    def must_carry_pages(self, entry: str) -> list[Page]:
        """The pages of a must-carry entry: a URL (as requested or where it redirected), else a role."""
        found = self.pages.get(entry) or self.by_final_url.get(entry)
        if found is not None:
            return [found]
        return [p for p in self.pages.values() if p.role == entry]

    # -- the verdict (the rules live with the change rules they gate) ---------------------------
    def outcome(self, finish_reason: str) -> RunOutcome:
        return run_verdict(self, finish_reason)
