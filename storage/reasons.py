"""Why a run was not ok: a reason code with parameters, rendered in English (CLI, logs) and in
Swedish (digest). Codes are stored on the run; the texts are derived, never stored."""

from __future__ import annotations

from typing import Any

ENGLISH: dict[str, str] = {
    "interrupted": "the crawl process ended without closing its run",
    "timeout": "the crawl was stopped after {seconds} s (timeout)",
    "crashed": "the crawl process exited with code {returncode} before closing its run",
    "storage_error": "the run could not be stored: {error}",
    "disk_full": "the disk holding {path} is full ({error})",
    "finish_reason": "Scrapy stopped with finish reason {reason!r}",
    "robots_unreachable": "robots.txt of {host} could not be read ({error}); assumed disallow",
    "robots_forbidden": "robots.txt forbids {url}",
    "http_status": "{url} answered HTTP {status}",
    "download_error": "{url} could not be fetched: {error}",
    "callback_error": "parsing {url} raised {error}",
    "layout_changed": "{url} no longer carries the expected content (missing: {missing})",
    "no_items": "{url} yielded no items",
    "redirected": "{url} redirected to {target}, which does not carry its items",
    "must_carry_missing": "required page {page} was never fetched",
    "page_failed": "{failed} other page(s) failed, first {url}: {error}",
    "low_deadline_coverage": "only {with_deadline} of {total} funding calls have a deadline or 'Ej bestämt'",
    "fields_missing": ("{kind} items with a {field} fell from {before} to {now} against run {run}; "
                       "if the new shape is right: fundwatch runs accept SOURCE"),
    "items_dropped": ("{page} gave {now} items, {before} in run {run}; "
                      "if the new shape is right: fundwatch runs accept SOURCE"),
}

SWEDISH: dict[str, str] = {
    "interrupted": "hämtningen avbröts",
    "timeout": "hämtningen tog för lång tid och avbröts",
    "crashed": "hämtningen avbröts av ett fel",
    "storage_error": "hämtningen kunde inte sparas",
    "disk_full": "disken på servern var full",
    "finish_reason": "hämtningen avslutades i förtid",
    "robots_unreachable": "webbplatsen gick inte att nå",
    "robots_forbidden": "webbplatsen tillåter inte längre automatisk hämtning",
    "http_status": "sidan svarade {status}",
    "download_error": "sidan gick inte att hämta",
    "callback_error": "sidan kunde inte läsas",
    "layout_changed": "sidan har gjorts om och kunde inte läsas",
    "no_items": "sidan innehöll inga utlysningar",
    "redirected": "sidan skickade vidare till en annan sida (till exempel en underhållssida)",
    "must_carry_missing": "en sida som ska kontrolleras hittades inte",
    "page_failed": "några sidor kunde inte hämtas",
    "low_deadline_coverage": "många utlysningar saknar sista ansökningsdag",
    "fields_missing": "uppgifter som brukar finnas saknades på sidan, så den lästes inte säkert",
    "items_dropped": "sidan visade betydligt färre poster än förra gången, så den lästes inte säkert",
}


def _render(table: dict[str, str], code: str | None, params: dict[str, Any] | None) -> str:
    if not code:
        return ""
    template = table.get(code)
    if template is None:
        return code
    try:
        return template.format(**(params or {}))
    except (KeyError, IndexError, ValueError):
        return template.split("{")[0].strip() or code


def reason_en(code: str | None, params: dict[str, Any] | None = None) -> str:
    return _render(ENGLISH, code, params)


def reason_sv(code: str | None, params: dict[str, Any] | None = None) -> str:
    return _render(SWEDISH, code, params)

