"""The drift guard: a run that parsed but lost what its items used to carry is not healthy.

Each run records its shape (spiders/health.py): per kind the items and how many had a deadline
("Ej bestämt" and a recurring rule count), an opening date and an amount; per must-carry page its
item count. Against the baseline — the source's last healthy run, or the run whose shape the
operator accepted — an otherwise healthy run becomes `partial` when

- `fields_missing`: for a kind with at least MIN_ITEMS items in both runs, the share of items with
  a field falls by more than half (calls with a deadline 100 % -> 0 %), or
- `items_dropped`: a must-carry page gives less than half the items it gave (at least MIN_ITEMS).

A partial run counts no misses, so a page that silently lost its calls removes nothing. The source
stays partial (and alerted) until its shape returns or the operator runs `fundwatch runs accept
SOURCE`, which makes the source's latest run the new baseline."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from fundwatch.errors import UserError
from fundwatch.storage.models import Run
from fundwatch.storage.outcome import RunOutcome

MIN_ITEMS = 3
FIELDS = ("deadline", "opens", "amount")
DRIFT_REASONS = ("fields_missing", "items_dropped")


def baseline(session: Session, source_id: str) -> Run | None:
    """The run the next one is compared with: the newest healthy or accepted run with a shape."""
    return session.scalars(
        select(Run).where(Run.source_id == source_id, Run.shape.is_not(None),
                          or_(Run.status == "ok", Run.accepted.is_(True)))
        .order_by(Run.id.desc()).limit(1)).first()


def _percent(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)} %"


def drift(before: dict[str, Any], now: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The first sharp fall from shape BEFORE to shape NOW, as (reason code, params)."""
    for kind, old in sorted((before.get("kinds") or {}).items()):
        new = (now.get("kinds") or {}).get(kind)
        if not new or old["items"] < MIN_ITEMS or new["items"] < MIN_ITEMS:
            continue
        for name in FIELDS:
            share_before, share_now = old[name] / old["items"], new[name] / new["items"]
            if share_before > 0 and share_now < share_before / 2:
                return "fields_missing", {"kind": kind, "field": name, "before": _percent(old[name], old["items"]),
                                          "now": _percent(new[name], new["items"])}
    for page, old_items in sorted((before.get("pages") or {}).items()):
        new_items = (now.get("pages") or {}).get(page)
        if new_items is not None and old_items >= MIN_ITEMS and new_items < old_items / 2:
            return "items_dropped", {"page": page, "before": old_items, "now": new_items}
    return None


def guard(session: Session, source_id: str, outcome: RunOutcome) -> None:
    """Make a healthy OUTCOME partial when its shape fell sharply against the baseline."""
    if not outcome.healthy or not outcome.shape:
        return
    base = baseline(session, source_id)
    if base is None:
        return
    found = drift(base.shape, outcome.shape)
    if found:
        code, params = found
        outcome.status, outcome.reason_code, outcome.reason_params = "partial", code, {**params, "run": base.id}


def accept(session: Session, source_id: str) -> Run:
    """The source's latest finished run becomes the baseline: its shape is the new normal."""
    run = session.scalars(select(Run).where(Run.source_id == source_id, Run.status.in_(("ok", "partial")),
                                            Run.shape.is_not(None))
                          .order_by(Run.id.desc()).limit(1)).first()
    if run is None:
        raise UserError(f"source {source_id!r} has no finished run with a recorded shape to accept")
    run.accepted = True
    return run
