"""Operator alerts to FUNDWATCH_ADMIN_EMAIL, one email per change of a source's state:

  failing   its last N runs failed (N: FUNDWATCH_ALERT_FAILURES, default 2)
  silent    it has yielded no items for D days (D: FUNDWATCH_ALERT_SILENT_DAYS, default 21)
  ok        neither; reaching ok from failing or silent sends "recovered"

The state is kept per source in `alert_states`. A change is claimed in the database first (a
compare-and-set on the old state), then mailed; if the mail cannot be sent the claim is undone so
the next evaluation tries again. Two evaluations at once (the scheduler and a manual
`fundwatch scheduler alerts --check`) therefore never send the same alert twice.

Mail goes through digest.mailer (SMTP, or .eml files in FUNDWATCH_OUTBOX without an SMTP URL);
anything with `send(msg: EmailMessage)` can replace it. Without FUNDWATCH_ADMIN_EMAIL the alert is
only logged. Texts are English: they are for the operator."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Callable

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from fundwatch import config
from fundwatch.config import MailSettings
from fundwatch.mail import build_message, send_all
from fundwatch.scheduler.models import FAILING, OK, SILENT, AlertState
from fundwatch.scheduler.schedule import ScheduleError, int_setting
from fundwatch.storage.db import get_engine, session_scope
from fundwatch.storage.drift import DRIFT_REASONS
from fundwatch.storage.models import Run, utcnow
from fundwatch.storage.queries import iso
from fundwatch.storage.reasons import reason_en

log = logging.getLogger("fundwatch.alerts")

Sender = Callable[[EmailMessage], object]
FINISHED = ("ok", "partial", "failed")


class AlertError(ValueError):
    """Alert settings that cannot work."""


@dataclass
class Condition:
    state: str  # ok | failing | silent
    detail: str
    runs: list[Run]  # newest first


def thresholds() -> tuple[int, int]:
    try:
        return int_setting("FUNDWATCH_ALERT_FAILURES", 1), int_setting("FUNDWATCH_ALERT_SILENT_DAYS", 1)
    except ScheduleError as exc:
        raise AlertError(str(exc)) from None


def _when(value: dt.datetime | None) -> str:

    return value.astimezone(config.timezone()).strftime("%Y-%m-%d %H:%M %Z") if value else "?"


def _reason(run: Run) -> str:

    return reason_en(run.reason_code, run.reason_params) or ""


def condition(session, source_id: str, now: dt.datetime, failures: int, silent_days: int) -> Condition | None:
    """The source's state from its finished runs; None when it has none yet."""
    runs = list(session.scalars(select(Run).where(Run.source_id == source_id, Run.status.in_(FINISHED))
                                .order_by(Run.id.desc()).limit(max(failures, 10))))
    if not runs:
        return None
    streak = 0
    for run in runs:
        if run.status != "failed":
            break
        streak += 1
    if streak >= failures:
        return Condition(FAILING, f"{streak} failed runs in a row; the last: {_reason(runs[0]) or 'no reason recorded'}", runs)
    if runs[0].status == "partial" and runs[0].reason_code in DRIFT_REASONS:  # parsed, but lost its shape
        return Condition(FAILING, f"the last run lost what its items carry: {_reason(runs[0])}", runs)
    last_items = session.scalars(select(Run).where(Run.source_id == source_id, Run.items > 0)
                                 .order_by(Run.id.desc()).limit(1)).first()
    if last_items is not None:
        since = last_items.finished_at or last_items.started_at
        what = f"no items since run {last_items.id} on {_when(since)}"
    else:
        since = session.scalars(select(Run.started_at).where(Run.source_id == source_id)
                                .order_by(Run.id).limit(1)).first()
        what = f"no items in any run since its first run on {_when(since)}"
    if since is not None and now - since >= dt.timedelta(days=silent_days):
        return Condition(SILENT, f"{what} ({(now - since).days} days)", runs)
    return Condition(OK, "", runs)


def _run_lines(runs: list[Run]) -> str:
    lines = []
    for run in runs[:5]:
        reason = _reason(run)
        lines.append(f"  run {run.id}  {_when(run.started_at)}  {run.status:7}  {run.items} items"
                     + (f"  {reason}" if reason and run.status != "ok" else ""))
    return "\n".join(lines)


def compose(source_id: str, old: str, new: Condition, old_since: dt.datetime | None, failures: int,
            silent_days: int) -> tuple[str, str]:
    """Subject and text of the alert for a change from OLD to NEW."""
    look = (f"To look closer:\n  fundwatch runs --source {source_id}\n  fundwatch sources\n"
            f"and the crawl log of the source (logs/{source_id}.log beside the HTTP cache).")
    once = "You get one email when this changes again, not one per run."
    if new.state == FAILING and new.runs and new.runs[0].reason_code in DRIFT_REASONS:
        subject = f"fundwatch: {source_id} is failing (its items lost their usual shape)"
        text = (f"The source {source_id} was read, but {_reason(new.runs[0])}.\n\n"
                f"Last runs:\n{_run_lines(new.runs)}\n\nNothing is removed while its runs are partial. "
                f"Check the page; if the new shape is right, accept it:\n  fundwatch runs accept {source_id}\n\n"
                f"{look}\n\n{once}\n")
    elif new.state == FAILING:
        subject = f"fundwatch: {source_id} is failing ({new.detail.split(';')[0]})"
        text = (f"The source {source_id} has failed its last runs ({failures} in a row raise this alert).\n\n"
                f"{new.detail}\n\nLast runs:\n{_run_lines(new.runs)}\n\n"
                "Nothing is removed from the history while runs fail; subscribers' digests just lack "
                f"news from this source.\n\n{look}\n\n{once}\n")
    elif new.state == SILENT:
        subject = f"fundwatch: {source_id} has yielded no items for {silent_days}+ days"
        text = (f"The source {source_id} runs but has found nothing: {new.detail}.\n"
                "The site may have moved its pages or changed its layout.\n\n"
                f"Last runs:\n{_run_lines(new.runs)}\n\n{look}\n\n{once}\n")
    else:
        was = {FAILING: "failing", SILENT: "silent (no items)"}.get(old, old)
        subject = f"fundwatch: {source_id} recovered"
        text = (f"The source {source_id} is working again. It was {was} since {_when(old_since)}.\n\n"
                f"Last runs:\n{_run_lines(new.runs)}\n\n{once}\n")
    return subject, text


def mailer_sender(msg: EmailMessage) -> object:
    """Send through the digest's mailer (SMTP, or the outbox folder without FUNDWATCH_SMTP_URL)."""

    return send_all([msg], links=False)[0]


def build(to: str, subject: str, text: str) -> EmailMessage:

    return build_message(to=to, subject=subject, text=text)


def _claim(session_scope, source_id: str, old: AlertState | None, new: Condition, now: dt.datetime) -> bool:
    """Move the source from its old state to NEW unless someone else already did."""
    if old is None:
        try:
            with session_scope() as session:
                session.add(AlertState(source_id=source_id, state=new.state, since=now, detail=new.detail,
                                       notified_at=None, updated_at=now))
        except IntegrityError:
            return False
        return True
    with session_scope() as session:
        result = session.execute(update(AlertState)
                                 .where(AlertState.source_id == source_id, AlertState.state == old.state)
                                 .values(state=new.state, since=now, detail=new.detail, notified_at=None,
                                         updated_at=now))
        return result.rowcount == 1


def _undo(session_scope, source_id: str, old: AlertState | None, new: Condition) -> None:
    with session_scope() as session:
        row = session.get(AlertState, source_id)
        if row is None or row.state != new.state:
            return
        if old is None:
            session.delete(row)
        else:
            row.state, row.since, row.detail, row.notified_at = old.state, old.since, old.detail, old.notified_at


def evaluate_source(source_id: str, *, sender: Sender | None = None, now: dt.datetime | None = None,
                    engine=None) -> str | None:
    """Evaluate one source; on a change of state, alert the operator once. Returns the alert sent
    ('failing', 'silent', 'recovered') or None."""

    engine = engine or get_engine()
    failures, silent_days = thresholds()
    now = now or utcnow()

    def scope():
        return session_scope(engine)

    with scope() as session:
        cond = condition(session, source_id, now, failures, silent_days)
        if cond is None:
            return None
        old = session.get(AlertState, source_id)
        if old is not None:
            session.expunge(old)
        old_state = old.state if old is not None else OK
        if cond.state == old_state and old is not None:
            if old.detail != cond.detail:
                session.execute(update(AlertState).where(AlertState.source_id == source_id,
                                                         AlertState.state == old_state)
                                .values(detail=cond.detail, updated_at=now))
            return None
    if cond.state == old_state:  # first evaluation, all well: remember it without a word
        _claim(scope, source_id, None, cond, now)
        return None
    if not _claim(scope, source_id, old, cond, now):
        return None  # another evaluation got there first (and sent the alert)
    kind = "recovered" if cond.state == OK else cond.state
    subject, text = compose(source_id, old_state, cond, old.since if old else None, failures, silent_days)
    admin = MailSettings.from_env().admin_email
    if not admin:
        log.warning("alert (FUNDWATCH_ADMIN_EMAIL is not set, so not mailed): %s\n%s", subject, text)
        return kind
    try:
        outcome = (sender or mailer_sender)(build(admin, subject, text))
    except Exception as exc:  # noqa: BLE001 - any failure: undo, try again at the next evaluation
        if type(exc).__name__ == "UncertainDelivery":  # may have arrived: never resend blindly
            log.error("alert %r to %s may not have arrived: %s", subject, admin, exc)
        else:
            log.error("alert %r to %s could not be sent (%s): will try again after the next run", subject, admin, exc)
            _undo(scope, source_id, old, cond)
            return None
    else:
        log.info("alert sent to %s: %s (%s)", admin, subject, outcome)
    with scope() as session:
        session.execute(update(AlertState).where(AlertState.source_id == source_id, AlertState.state == cond.state)
                        .values(notified_at=utcnow()))
    return kind


def alert_states(source_ids: list[str], engine=None) -> list[dict]:

    with session_scope(engine or get_engine()) as session:
        rows = {r.source_id: r for r in session.scalars(select(AlertState))}
    out = []
    for source_id in source_ids:
        row = rows.get(source_id)
        out.append({"source": source_id, "state": row.state if row else "unknown",
                    "since": iso(row.since) if row else None, "detail": row.detail if row else "not evaluated yet",
                    "notified_at": iso(row.notified_at) if row and row.notified_at else None})
    return out
