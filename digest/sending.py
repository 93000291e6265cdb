"""Sending the week's digests: never twice.

One delivery row per (ISO week of sending, subscriber), enforced by a unique constraint. A run:
  1. recovers: `sending` rows whose sender process is gone become `unknown` (never resent blindly);
  2. plans: for each confirmed subscriber without a row this week, builds the digest from the
     week's data (loaded once) and inserts a `pending` row (ON CONFLICT DO NOTHING) that fixes the
     range of changes it covers: after the last change its previous sent digest covered, up to
     the newest change now (a crawl committing meanwhile is in next week's digest, never skipped);
  3. sends: each due row (pending, or deferred and its backoff over) is claimed by a conditional
     UPDATE pending→sending committed before the message goes out, then marked sent | deferred
     (4xx) | failed (5xx; hard bounces counted, the address suppressed at 3) | unknown (connection
     lost after DATA). Two senders at once: only one claim of a row succeeds.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import socket
from dataclasses import dataclass, field
from typing import Callable, Iterable

from markupsafe import escape
from sqlalchemy import and_, bindparam, exists, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from fundwatch import config
from fundwatch import mail as mailer
from fundwatch.config import MailSettings
from fundwatch.digest.builder import Digest, WeekData, iso_week
from fundwatch.digest.filters import Filters, known_agencies
from fundwatch.digest.models import (
    CONFIRMED,
    DEFERRED,
    FAILED,
    PENDING,
    SENDING,
    SENT,
    UNKNOWN,
    Delivery,
    Subscriber,
)
from fundwatch.digest.render import Fragments, filters_sv, render_digest
from fundwatch.digest.subscribers import links, normalize_email, record_hard_bounce, require
from fundwatch.digest.tokens import Signer, secret_key
from fundwatch.liveness import process_alive
from fundwatch.storage.db import get_engine, session_scope
from fundwatch.storage.models import utcnow
from fundwatch.storage.queries import iso, now_local

MAX_ATTEMPTS = 6  # a deferred delivery is given up (failed) after this many tries
BACKOFF = (dt.timedelta(minutes=5), dt.timedelta(minutes=15), dt.timedelta(minutes=45),
           dt.timedelta(hours=2), dt.timedelta(hours=6))
STALE_CLAIM = dt.timedelta(hours=2)  # a claim this old, by a process we cannot check, is dead
CONNECT_FAILURES_BEFORE_STOP = 3
RENDER_CACHE = 8  # rendered digests kept for reuse (sending goes digest by digest)


def send_empty_default() -> bool:
    return config.flag("FUNDWATCH_SEND_EMPTY_DIGEST")


def claimer() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class Report:
    week: str
    planned: int = 0
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    unknown: int = 0
    recovered: int = 0
    suppressed: int = 0
    skipped_empty: int = 0
    stopped: str | None = None
    dry_run: bool = False
    lines: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        if self.dry_run:
            text = f"{self.week}: dry run, {self.planned} digest(s) would be sent, {self.skipped_empty} empty not sent"
        else:
            text = (f"{self.week}: {self.sent} sent, {self.deferred} deferred, {self.failed} failed, "
                    f"{self.unknown} unknown; {self.skipped_empty} empty not sent")
        if self.recovered:
            text += f"; {self.recovered} interrupted delivery(ies) marked unknown (see `fundwatch digest status`)"
        if self.suppressed:
            text += f"; {self.suppressed} address(es) suppressed after repeated hard bounces"
        if self.stopped:
            text += f"; stopped early: {self.stopped}"
        return text


# -- recovery -------------------------------------------------------------------------------------
def recover_interrupted(session: Session, now: dt.datetime | None = None) -> int:
    """`sending` rows left by a process that is gone (or a claim too old to trust) -> unknown."""
    now = now or utcnow()
    host = socket.gethostname()
    count = 0
    for d in session.scalars(select(Delivery).where(Delivery.status == SENDING)):
        c_host, _, c_pid = (d.claimed_by or "").rpartition(":")
        dead = c_host == host and c_pid.isdigit() and not process_alive(int(c_pid))
        if dead or (d.claimed_at is not None and now - d.claimed_at > STALE_CLAIM):
            d.status, d.finished_at = UNKNOWN, now
            d.error = "the sender stopped while this message was going out: it may or may not have been delivered"
            count += 1
    return count


def retry(session: Session, subscriber: Subscriber, week: str | None = None) -> Delivery:
    """Operator decision: send again the subscriber's digest of WEEK (default: the newest that was
    not sent). Sets it back to pending; the next `digest send` sends it."""
    query = select(Delivery).where(Delivery.subscriber_id == subscriber.id)
    query = query.where(Delivery.week == week) if week else query.where(Delivery.status != SENT)
    d = session.scalars(query.order_by(Delivery.id.desc()).limit(1)).one_or_none()
    if d is None:
        raise LookupError(f"no {'delivery in ' + week if week else 'unsent delivery'} for {subscriber.email}")
    if d.status in (SENT, SENDING):
        raise LookupError(f"the {d.week} digest of {subscriber.email} is {d.status}: nothing to retry")
    d.status, d.next_attempt_at, d.error = PENDING, None, None
    return d


# -- one message ----------------------------------------------------------------------------------
def _filled(pieces: list[str], values: dict[str, str]) -> str:
    """Text cut at its markers (a split() with a group: odd pieces are markers), joined again with
    each marker's value."""
    return "".join([values[piece] if n % 2 else piece for n, piece in enumerate(pieces)])


@dataclass
class _Rendered:
    """A digest rendered with markers in place of what is personal, cut at the markers (even
    pieces are the digest's own text, odd ones markers)."""
    digest: Digest
    subject: str
    text: list[str]
    html: list[str]


class Composer:
    """Builds digest messages; holds what is the same for every subscriber of a run."""

    def __init__(self, settings: MailSettings, signer: Signer | None = None):
        self.settings = settings
        self.signer = signer or Signer(secret_key("sending digests"))
        self.sender = mailer.parse_from(settings.mail_from)
        self.domain = self.sender.domain
        self.agency_names = known_agencies()
        self.list_id = f"fundwatch veckobrev <veckobrev.{self.domain}>"
        self.fragments = {"text": Fragments(), "html": Fragments()}
        token = secrets.token_hex(8)  # unguessable: scraped text cannot contain a marker
        keys = ("org", "email", "manage", "unsubscribe", "mute", "filters")
        self.markers = {k: f"fwmarker{token}{k}" for k in keys}
        self._marker_pattern = re.compile("(" + "|".join(self.markers.values()) + ")")
        self._rendered: dict[int, _Rendered] = {}  # by id(digest), least recently used first

    def links(self, sub: Subscriber) -> dict[str, str]:
        return links(sub, self.settings.public_url, self.signer, names=("manage", "unsubscribe", "mute"))

    def _render(self, d: Digest) -> _Rendered:
        """D rendered once while it is in use: with markers in place of what is personal
        (organisation, address, links, filters), cut at the markers; each subscriber's text is
        the pieces joined with their own values."""
        hit = self._rendered.pop(id(d), None)
        if hit is None or hit.digest is not d:
            m = self.markers
            subject, text, html = render_digest(
                d, org=m["org"], email=m["email"], links={"manage": m["manage"], "unsubscribe": m["unsubscribe"], "mute": m["mute"]},
                filters_text=m["filters"], fragments=self.fragments,
                list_url=f"{self.settings.public_url.rstrip('/')}/utlysningar")
            hit = _Rendered(d, subject, self._marker_pattern.split(text), self._marker_pattern.split(html))
            if len(self._rendered) >= RENDER_CACHE:
                self._rendered.pop(next(iter(self._rendered)))
        self._rendered[id(d)] = hit
        return hit

    def render(self, d: Digest, sub: Subscriber) -> tuple[str, str, str, dict[str, str]]:
        """(subject, text, html, headers): SUB's digest D, and its headers of its own."""
        r = self._render(d)
        lk = self.links(sub)
        values = {"org": " ".join(sub.org.split()), "email": sub.email, "manage": lk["manage"],
                  "unsubscribe": lk["unsubscribe"], "mute": lk["mute"],
                  "filters": filters_sv(Filters.of(sub), self.agency_names)}
        by_marker = {self.markers[k]: v for k, v in values.items()}
        escaped = {marker: str(escape(value)) for marker, value in by_marker.items()}
        headers = {"Message-ID": f"<digest.{d.week}.{sub.id}@{self.domain}>",  # the same for the same message
                   "List-Unsubscribe": f"<{lk['unsubscribe']}>"}
        return r.subject, _filled(r.text, by_marker), _filled(r.html, escaped), headers

    def message(self, d: Digest, sub: Subscriber):
        subject, text, html, headers = self.render(d, sub)
        return mailer.build_message(
            to=mailer.address(sub.email, sub.org), subject=subject, text=text, html=html, mail_from=self.sender,
            msg_id=headers["Message-ID"],
            headers={"List-Id": self.list_id, "List-Unsubscribe": headers["List-Unsubscribe"],
                     "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})


# -- planning -------------------------------------------------------------------------------------
def _last_sent(session: Session, subscriber_ids: Iterable[int] | None = None) -> dict[int, int]:
    query = (select(Delivery.subscriber_id, func.max(Delivery.upto_change_id))
             .where(Delivery.status == SENT, Delivery.subscriber_id.is_not(None)).group_by(Delivery.subscriber_id))
    return {sid: upto for sid, upto in session.execute(query)}


def _insert_ignore(session: Session, rows: list[dict]) -> None:
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        dialect_insert = postgresql.insert
    elif dialect == "sqlite":
        dialect_insert = sqlite.insert
    else:  # pragma: no cover - other engines: one by one, the unique constraint decides
        for row in rows:
            try:
                with session.begin_nested():
                    session.execute(insert(Delivery).values(**row))
            except Exception:  # noqa: BLE001
                pass
        return
    # one statement, many parameter sets (executemany): a multi-row VALUES clause is compiled
    # anew for every batch, about a quarter of a millisecond per row
    session.execute(dialect_insert(Delivery.__table__).on_conflict_do_nothing(index_elements=["week", "subscriber_id"]),
                    rows)


def _due_query(week: str, now: dt.datetime, subscriber_ids: list[int] | None):
    query = (select(Delivery, Subscriber).join(Subscriber, Subscriber.id == Delivery.subscriber_id)
             .where(Delivery.week == week, Subscriber.status == CONFIRMED,
                    or_(Delivery.status == PENDING,
                        and_(Delivery.status == DEFERRED, Delivery.next_attempt_at <= now)))
             .order_by(Delivery.id))
    if subscriber_ids is not None:
        query = query.where(Delivery.subscriber_id.in_(subscriber_ids))
    return query


def send_due(*, dry_run: bool = False, send_empty: bool | None = None, settings: MailSettings | None = None,
             now: dt.datetime | None = None, emails: list[str] | None = None,
             echo: Callable[[str], None] | None = None) -> Report:
    """Send this week's due digests (all confirmed subscribers, or only EMAILS). Returns a Report
    whose str() is a one-line summary (printed by `fundwatch run`)."""
    settings = settings or MailSettings.from_env()
    send_empty = send_empty_default() if send_empty is None else send_empty
    composer = Composer(settings)
    if settings.smtp_url and not dry_run:
        mailer.check_links(settings)
    now_l = now or now_local()
    now_utc = now_l.astimezone(dt.UTC)
    week = iso_week(now_l)
    report = Report(week, dry_run=dry_run)
    engine = get_engine()

    with session_scope(engine) as session:
        if not dry_run:
            report.recovered = recover_interrupted(session, now_utc)
        ids = None
        if emails is not None:

            wanted = [normalize_email(e) for e in emails]
            ids = list(session.scalars(select(Subscriber.id).where(Subscriber.email.in_(wanted))))
        upto = WeekData.max_change_id(session)
        first_after = WeekData.first_after(session, now_l, upto)
        has_row = exists().where(Delivery.week == week, Delivery.subscriber_id == Subscriber.id)
        query = select(Subscriber).where(Subscriber.status == CONFIRMED, ~has_row).order_by(Subscriber.id)
        if ids is not None:
            query = query.where(Subscriber.id.in_(ids))
        candidates = list(session.scalars(query))
        last_sent = _last_sent(session)
        due = list(session.execute(_due_query(week, now_utc, ids)))
        lows = [last_sent.get(s.id, first_after) for s in candidates] + [d.after_change_id for d, _ in due]
        highs = [upto] + [d.upto_change_id for d, _ in due]
        data = WeekData.load(session, after_id=min(lows + [first_after]), upto_id=max(highs), now=now_l,
                             first_after_id=first_after)
        rows = []
        for sub in candidates:
            after = last_sent.get(sub.id, first_after)
            first = sub.id not in last_sent
            digest = data.build(Filters.of(sub), after_id=after, upto_id=upto, first=first)
            if digest.empty and not send_empty:
                report.skipped_empty += 1
                continue
            if dry_run:
                report.planned += 1
                report.lines.append(f"{sub.email}: {digest.counts}")
                continue
            rows.append({"week": week, "subscriber_id": sub.id, "status": PENDING, "first": first,
                         "after_change_id": after, "upto_change_id": upto, "created_at": now_utc,
                         "attempts": 0, "counts": digest.counts})
        report.planned = report.planned or len(rows)
        _insert_ignore(session, rows)
        del candidates, rows
    if dry_run:
        if due:
            report.lines.append(f"{len(due)} delivery(ies) already pending or due for retry")
            report.planned += len(due)
        return report

    with session_scope(engine) as session:
        due = list(session.execute(_due_query(week, now_utc, ids)))
        session.expunge_all()
    if due and not all(data.covers(d.after_change_id, d.upto_change_id) for d, _ in due):
        with session_scope(engine) as session:  # another sender planned with newer data
            data = WeekData.load(session, after_id=min(d.after_change_id for d, _ in due),
                                 upto_id=max(d.upto_change_id for d, _ in due), now=now_l,
                                 first_after_id=first_after)
    _send_rows(engine, data, composer, settings, due, report, now_utc, echo)
    return report


def _send_rows(engine, data: WeekData, composer: Composer, settings: MailSettings, due, report: Report,
               now_utc: dt.datetime, echo) -> None:
    """Claim, send and record each due row in order: the claim is committed before the message
    goes out, its result right after."""
    me = claimer()
    deliveries = Delivery.__table__
    subscribers = Subscriber.__table__
    claim_stmt = (
        update(deliveries)
        .where(deliveries.c.id == bindparam("did"),
               or_(deliveries.c.status == PENDING,
                   and_(deliveries.c.status == DEFERRED, deliveries.c.next_attempt_at <= bindparam("now"))),
               exists().where(subscribers.c.id == deliveries.c.subscriber_id, subscribers.c.status == CONFIRMED))
        .values(status=SENDING, claimed_by=me, claimed_at=bindparam("claimed_at"), attempts=deliveries.c.attempts + 1)
    )

    # Subscribers with the same digest go out one after another, so each digest is rendered once
    # (the composer keeps the last few); otherwise in the order they were planned.
    digests = [data.build(Filters.of(sub), after_id=delivery.after_change_id, upto_id=delivery.upto_change_id,
                          first=delivery.first) for delivery, sub in due]
    group: dict[int, int] = {}
    for n, digest in enumerate(digests):
        group.setdefault(id(digest), n)
    order = sorted(range(len(due)), key=lambda n: group[id(digests[n])])

    connect_failures = 0
    with mailer.open_transport(settings) as transport, engine.connect() as conn:
        for n in order:
            delivery, sub = due[n]
            with conn.begin():
                claimed = conn.execute(claim_stmt, {"did": delivery.id, "now": now_utc,
                                                    "claimed_at": utcnow()}).rowcount
            if claimed != 1:
                continue  # another sender has it, or the subscriber left meanwhile
            attempts = delivery.attempts + 1
            bounce = False
            try:
                reply = transport.send(composer.message(digests[n], sub))
            except mailer.MailConfigError:
                with conn.begin():  # nothing went out: give the row back
                    conn.execute(update(deliveries).where(deliveries.c.id == delivery.id)
                                 .values(status=PENDING, attempts=delivery.attempts, claimed_by=None,
                                         claimed_at=None))
                raise
            except mailer.TemporaryFailure as exc:
                gave_up = attempts >= MAX_ATTEMPTS
                values = {"status": FAILED if gave_up else DEFERRED, "smtp_code": exc.code, "error": str(exc),
                          "next_attempt_at": None if gave_up else utcnow() + BACKOFF[min(attempts, len(BACKOFF)) - 1]}
                report.failed += gave_up
                report.deferred += not gave_up
                connect_failures = connect_failures + 1 if exc.code is None else 0
            except mailer.PermanentFailure as exc:
                values = {"status": FAILED, "smtp_code": exc.code, "error": str(exc), "next_attempt_at": None}
                report.failed += 1
                bounce = True
            except mailer.UncertainDelivery as exc:
                values = {"status": UNKNOWN, "smtp_code": None, "error": str(exc), "next_attempt_at": None}
                report.unknown += 1
            else:
                values = {"status": SENT, "smtp_code": int(reply[:3]) if reply[:3].isdigit() else None,
                          "error": None, "next_attempt_at": None}
                report.sent += 1
                connect_failures = 0
            with conn.begin():
                conn.execute(update(deliveries).where(deliveries.c.id == delivery.id)
                             .values(**values, finished_at=utcnow()))
                if values["status"] == SENT and sub.hard_bounces:
                    conn.execute(update(subscribers).where(subscribers.c.id == sub.id).values(hard_bounces=0))
            if bounce:
                with session_scope(engine) as session:
                    fresh = session.get(Subscriber, sub.id)
                    if fresh is not None and record_hard_bounce(session, fresh):
                        report.suppressed += 1
            if echo:
                echo(f"{sub.email}: {values['status']}" + (f" ({values['error']})" if values["error"] else ""))
            if connect_failures >= CONNECT_FAILURES_BEFORE_STOP:
                report.stopped = "the SMTP server cannot be reached; the rest stay pending"
                break


# -- status ---------------------------------------------------------------------------------------
def status_rows(session: Session, week: str | None = None) -> list[dict]:

    query = (select(Delivery, Subscriber.email).outerjoin(Subscriber, Subscriber.id == Delivery.subscriber_id)
             .order_by(Delivery.id))
    if week:
        query = query.where(Delivery.week == week)
    return [{"id": d.id, "week": d.week, "email": email, "status": d.status, "attempts": d.attempts,
             "first": d.first, "after_change_id": d.after_change_id, "upto_change_id": d.upto_change_id,
             "created_at": iso(d.created_at), "finished_at": iso(d.finished_at),
             "next_attempt_at": iso(d.next_attempt_at), "smtp_code": d.smtp_code, "error": d.error,
             "counts": d.counts} for d, email in session.execute(query)]


def preview(email: str, settings: MailSettings | None = None, now: dt.datetime | None = None):
    """(digest, message) that would be sent to EMAIL now (nothing is stored)."""

    settings = settings or MailSettings.from_env()
    composer = Composer(settings)
    now_l = now or now_local()
    with session_scope() as session:
        sub = require(session, email)
        upto = WeekData.max_change_id(session)
        first_after = WeekData.first_after(session, now_l, upto)
        last = _last_sent(session).get(sub.id)
        after = last if last is not None else first_after
        data = WeekData.load(session, after_id=after, upto_id=upto, now=now_l, first_after_id=first_after)
        digest = data.build(Filters.of(sub), after_id=after, upto_id=upto, first=last is None)
        session.expunge(sub)
    return digest, composer.message(digest, sub), sub
