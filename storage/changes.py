"""The change rules, in one place (git-history / urlwatch style), and the verdict on a run's health
that decides which of them may apply:

- new, updated (field by field, with a text diff), removed, reappeared; unchanged adds nothing
- a miss counts only when a healthy run fetched the item's origin page and the item was not on it;
  after `remove_after` consecutive counted misses the item is removed; news never is
- an unhealthy run never removes anything
- over a period (a digest's week), an item's changes net out: removed wins, then new/reappeared,
  else the fields that ended different; a value changed and changed back is no change
- healthy (ok) only when Scrapy finished with reason `finished`, robots.txt answered 2xx or 4xx on
  every host, no request was refused by robots.txt, no callback raised, and every must-carry page
  answered 2xx or 304 and carried what it should; `partial`: some other page failed.

storage/runlife.py calls apply_changes() inside the transaction that closes a run; the spider side
(spiders/health.py) gathers what every page answered and asks run_verdict() for the outcome. The
verdict's own code is in storage/outcome.py, beside the outcome it builds: the crawl child imports
it, and this module's SQLAlchemy import would cost each crawl about 0.2 s (bench/README.md)."""

from __future__ import annotations

import difflib
import hashlib
import json
from itertools import islice
from typing import Any, Iterable, Sequence

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, defer

from fundwatch.items import CONTENT_FIELDS, OPTIONAL_FIELDS, FundItem, item_to_dict, same_listing
from fundwatch.storage.models import Change, ChangeField, Item, ItemVersion, Run, utcnow
from fundwatch.storage.outcome import RunOutcome

REMOVE_AFTER_MISSES = 2
FINISH_CHUNK = 500  # items are compared, and new items written, this many at a time
NEVER_REMOVED_KINDS = ("news",)  # news lists scroll: absence means nothing


def counts_as_miss(item: Item, source_id: str, outcome: RunOutcome) -> bool:
    """An item a healthy run of SOURCE_ID did not bring: a miss only if the run fetched its page."""
    return (outcome.healthy and item.source_id == source_id and item.status != "removed"
            and item.kind not in NEVER_REMOVED_KINDS and item.origin in outcome.fetched_pages)


def removed_after_misses(misses: int, remove_after: int) -> bool:
    return misses >= remove_after


def _drop_empty_optional(snap: dict[str, Any]) -> dict[str, Any]:
    for name in OPTIONAL_FIELDS:
        if not snap.get(name):
            snap.pop(name, None)
    return snap


def snapshot(item: FundItem) -> dict[str, Any]:
    return _drop_empty_optional(item_to_dict(item, CONTENT_FIELDS))


def content_hash(snap: dict[str, Any]) -> str:
    blob = json.dumps(snap, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def value_text(value: Any) -> str | None:
    """A field value as readable text for change_fields (and so for the change_log view)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def text_value(field_name: str, text: str | None) -> Any:
    """The inverse of value_text, for JSON output."""
    if text is None:
        return None
    if field_name == "amount_sek":
        return int(text)
    if field_name == "competitive":
        return text == "true"
    if field_name in ("details", "eligibility"):
        return json.loads(text)
    return text


def text_diff(old: str, new: str, item_id: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(), new.splitlines(), f"{item_id} (before)", f"{item_id} (after)", lineterm=""
    )
    return "\n".join(lines)


def _current_snapshot(item: Item) -> dict[str, Any]:
    return _drop_empty_optional({name: (v.isoformat() if hasattr(v, "isoformat") else v)
                                 for name in CONTENT_FIELDS for v in [getattr(item, name)]})


def _last_snapshot(session: Session, item: Item) -> dict[str, Any]:
    """The content last seen: a removed item's row says `removed`, its last version does not."""
    last = session.scalars(select(ItemVersion).where(ItemVersion.item_id == item.id)
                           .order_by(ItemVersion.version.desc()).limit(1)).one()
    return dict(last.snapshot)


def _write_fields(item: Item, fi: FundItem) -> None:
    for name in CONTENT_FIELDS:
        setattr(item, name, getattr(fi, name))
    item.origin = fi.origin


def _move_quietly(item: Item, url: str | None, snap: dict[str, Any]) -> None:
    """The item's new address, with no change event: a sitemap or a fallback, a redirect or another
    listing led to the same item."""
    if url is not None:
        item.url = url
        item.content_hash = content_hash({**snap, "url": url})


def apply_changes(session: Session, run: Run, outcome: RunOutcome, items: Iterable[FundItem], *,
                  remove_after: int = REMOVE_AFTER_MISSES) -> tuple[dict[str, int], int]:
    """Record what the run's items (in the order the crawl yielded them) change: new, updated,
    reappeared, and misses and removals when the run is healthy. Returns the counts per kind of
    change and how many distinct items came. Call inside the transaction that closes the run."""
    run_id = run.id
    now = utcnow()
    # Memory stays flat however many items a run has: items come in chunks, new items are
    # written a chunk at a time, and the current items' text (the bulk of a row) is loaded only for
    # the items whose content changed.
    items_query = select(Item).options(defer(Item.text))
    existing = {i.id: i for i in session.scalars(items_query.where(Item.source_id == run.source_id))}

    counts = {"new": 0, "updated": 0, "removed": 0, "reappeared": 0}
    seen: set[str] = set()
    # New items (a first crawl: all of them) go in executemany batches, not a flush each (that flush
    # per item was most of a first crawl's storage time). A batch is written before any other change,
    # so change ids (the order of `fundwatch history`) still follow the order items came in.
    new_items: list[dict[str, Any]] = []
    new_versions: list[dict[str, Any]] = []
    new_changes: list[dict[str, Any]] = []

    def write_new() -> None:
        if new_items:
            session.flush()
            session.execute(insert(Item.__table__), new_items)  # items first: the others refer to them
            session.execute(insert(ItemVersion.__table__), new_versions)
            session.execute(insert(Change.__table__), new_changes)
            new_items.clear(), new_versions.clear(), new_changes.clear()

    def incoming():
        for chunk in _chunks(items, FINISH_CHUNK):
            write_new()
            others = [fi.id for fi in chunk if fi.id not in existing and fi.id not in seen]
            if others:  # an id first seen under another source of the same agency
                existing.update({i.id: i for i in session.scalars(items_query.where(Item.id.in_(others)))})
            yield from chunk

    for fi in incoming():
        if fi.id in seen:  # the pipeline de-duplicates; a repeat here is the same item twice
            continue
        seen.add(fi.id)
        item = existing.get(fi.id)
        reached_at = None  # the item's new address when only how it was reached changed
        if item is not None and fi.url != item.url and same_listing(item.url, item.origin, fi.url, fi.origin):
            reached_at, fi.url = fi.url, item.url
        snap = snapshot(fi)
        digest = content_hash(snap)
        if item is None:
            row = {name: getattr(fi, name) for name in CONTENT_FIELDS}
            row.update(id=fi.id, source_id=run.source_id, agency=fi.agency, kind=fi.kind, origin=fi.origin,
                       content_hash=digest, version=1, misses=0, first_seen=now, last_seen=now, removed_at=None)
            new_items.append(row)
            new_versions.append({"item_id": fi.id, "version": 1, "run_id": run_id, "content_hash": digest,
                                 "snapshot": snap, "recorded_at": utcnow()})
            new_changes.append({"run_id": run_id, "item_id": fi.id, "change": "new", "detected_at": now, "diff": None})
            counts["new"] += 1
            continue
        was_removed = item.status == "removed"
        item.last_seen, item.misses, item.source_id = now, 0, run.source_id
        if was_removed:
            item.removed_at = None
        if digest == item.content_hash:
            if was_removed:
                write_new()
                item.status = fi.status
                session.add(Change(run_id=run_id, item_id=item.id, change="reappeared", detected_at=now))
                counts["reappeared"] += 1
            item.origin = fi.origin
            _move_quietly(item, reached_at, snap)
            continue
        write_new()
        before = _last_snapshot(session, item) if was_removed else _current_snapshot(item)
        changed = [name for name in CONTENT_FIELDS if before.get(name) != snap.get(name)]
        _write_fields(item, fi)
        item.content_hash = digest
        item.version += 1
        session.add(ItemVersion(item_id=item.id, version=item.version, run_id=run_id, content_hash=digest, snapshot=snap))
        if not was_removed and all(name in OPTIONAL_FIELDS and not before.get(name) for name in changed):
            # a field read from the same page for the first time (a newer spider): the call did not change
            _move_quietly(item, reached_at, snap)
            continue
        kind = "reappeared" if was_removed else "updated"
        change = Change(run_id=run_id, item_id=item.id, change=kind, detected_at=now,
                        diff=text_diff(before["text"] or "", snap["text"] or "", item.id) if "text" in changed else None)
        session.add(change)
        session.flush()
        session.add_all(ChangeField(change_id=change.id, field=name, old_value=value_text(before.get(name)),
                                    new_value=value_text(snap.get(name))) for name in changed)
        counts[kind] += 1
        _move_quietly(item, reached_at, snap)

    write_new()
    if outcome.healthy:  # only a healthy run may count absence
        for item in existing.values():
            if item.id in seen or not counts_as_miss(item, run.source_id, outcome):
                continue
            item.misses += 1
            if removed_after_misses(item.misses, remove_after):
                item.status, item.removed_at = "removed", now
                session.add(Change(run_id=run_id, item_id=item.id, change="removed", detected_at=now))
                counts["removed"] += 1

    return counts, len(seen)


def _chunks(items: Iterable[FundItem], size: int):
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def net_change(changes: Sequence[tuple[str, dict[str, list[Any]]]], removed_now: bool
               ) -> tuple[str, dict[str, list[Any]]] | None:
    """What one item's changes over a period (in order: (kind, {field: [old, new]})) amount to:
    ("removed", {}) when it ends removed; ("new", {}) when it was new or reappeared in the period;
    ("updated", the fields whose value ended different from where it started); None when they
    cancel out, so that a value changed and changed back is never reported as a change."""
    if changes[-1][0] == "removed" or removed_now:
        return "removed", {}
    if any(kind in ("new", "reappeared") for kind, _ in changes):
        return "new", {}
    merged: dict[str, list[Any]] = {}
    for _, fields in changes:
        for name, (old, new_value) in fields.items():
            if name in merged:
                merged[name][1] = new_value
            else:
                merged[name] = [old, new_value]
    merged = {k: v for k, v in merged.items() if v[0] != v[1]}
    return ("updated", merged) if merged else None

