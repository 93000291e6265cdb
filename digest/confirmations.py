"""Confirmation mail from the web form: throttled, queued, sent by a worker.

The form's answer must not tell whether an address is subscribed, nor wait on the relay: every
accepted form records a request (a confirmation due, or nothing to send for an address that is
already confirmed or suppressed) and answers the same page; the worker of `fundwatch serve`
sends what is due and retries while the relay is down. Requests are throttled per mailbox (so
`name+1@`, `Name+2@` ... count as one inbox) and per client address."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import logging

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from fundwatch.config import MailSettings
from fundwatch.digest import subscribers as subs
from fundwatch.digest.filters import Filters, SubscriptionError
from fundwatch.digest.models import UNCONFIRMED, ConfirmationRequest, Subscriber
from fundwatch.storage.db import session_scope
from fundwatch.storage.models import utcnow

logger = logging.getLogger(__name__)

WINDOW = dt.timedelta(hours=1)
PER_MAILBOX = 3  # forms for one inbox per WINDOW
PER_CLIENT = 10  # forms from one client address per WINDOW
RETRY_BASE = dt.timedelta(seconds=30)  # first retry after the relay failed; doubles, capped
RETRY_CAP = dt.timedelta(minutes=15)
MAX_ATTEMPTS = 8
LEASE = dt.timedelta(minutes=5)  # a claimed mail is not claimed again before this
KEEP = dt.timedelta(days=2)  # requests older than this (and done) are deleted


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def client_key(address: str) -> str:
    """The client a form came from (hashed): an IPv6 address by its /64, which one line usually has."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return _sha(address)
    if ip.version == 6:
        return _sha(str(ipaddress.ip_network(f"{ip}/64", strict=False)))
    return _sha(str(ip))


def mailbox_key(email: str) -> str:
    """The inbox an address reaches: case and a `+tag` stripped (hashed)."""
    local, _, domain = subs.normalize_email(email).rpartition("@")
    return _sha(f"{local.split('+', 1)[0]}@{domain}")


def throttled(session: Session, email: str, client: str, now: dt.datetime | None = None) -> str | None:
    """'mailbox' or 'client' when that has had its share of forms within the window, else None."""
    since = (now or utcnow()) - WINDOW

    def recent(column, value) -> int:
        return session.scalar(select(func.count()).select_from(ConfirmationRequest)
                              .where(column == value, ConfirmationRequest.requested_at > since))

    if recent(ConfirmationRequest.mailbox, mailbox_key(email)) >= PER_MAILBOX:
        return "mailbox"
    if recent(ConfirmationRequest.client, client_key(client)) >= PER_CLIENT:
        return "client"
    return None


def request(session: Session, email: str, org: str, filters: Filters, client: str,
            now: dt.datetime | None = None) -> None:
    """Record a web form: store the subscriber unconfirmed when new, and queue its confirmation
    mail. The same work whatever the address is, and no mail is sent here."""
    now = now or utcnow()
    row = ConfirmationRequest(mailbox=mailbox_key(email), client=client_key(client), requested_at=now, attempts=0)
    try:
        outcome = subs.subscribe(session, email, org, filters, consent="web", now=now)
    except SubscriptionError:  # suppressed: say the same as always, send nothing
        outcome = None
    if outcome is not None and not outcome.already_confirmed:
        row.subscriber_id = outcome.subscriber.id
        pending = session.scalar(select(func.count()).select_from(ConfirmationRequest).where(
            ConfirmationRequest.subscriber_id == outcome.subscriber.id, ConfirmationRequest.due_at.is_not(None)))
        if outcome.send_confirmation and not pending:
            row.due_at = now
    session.add(row)


def _backoff(attempts: int) -> dt.timedelta:
    return min(RETRY_BASE * 2 ** (attempts - 1), RETRY_CAP)


def send_due(settings: MailSettings | None = None, now: dt.datetime | None = None, limit: int = 50) -> int:
    """Send the confirmations that are due; a failure is retried with backoff. Returns how many
    went out. Each mail is claimed (its due time moved on) and committed before it is sent, so
    two workers never send the same one."""
    settings = settings or MailSettings.from_env()
    now = now or utcnow()
    with session_scope() as session:
        rows = session.scalars(select(ConfirmationRequest).where(ConfirmationRequest.due_at <= now)
                               .order_by(ConfirmationRequest.id).limit(limit).with_for_update(skip_locked=True)).all()
        claimed = [r.id for r in rows]
        for row in rows:
            row.due_at = now + LEASE
        session.execute(delete(ConfirmationRequest).where(ConfirmationRequest.requested_at < now - KEEP,
                                                          ConfirmationRequest.due_at.is_(None)))
    sent = 0
    for row_id in claimed:
        with session_scope() as session:
            row = session.get(ConfirmationRequest, row_id)
            sub = session.get(Subscriber, row.subscriber_id) if row and row.subscriber_id else None
            if row is None:
                continue
            if sub is None or sub.status != UNCONFIRMED:  # confirmed or gone meanwhile
                row.due_at = None
                continue
            try:
                subs.send_confirmation(session, sub, settings)
            except Exception as exc:  # noqa: BLE001 - the relay's problem: retried later
                row.attempts += 1
                row.error = (str(exc).splitlines() or [type(exc).__name__])[0][:500]
                row.due_at = now + _backoff(row.attempts) if row.attempts < MAX_ATTEMPTS else None
                logger.warning("confirmation mail not sent (attempt %d): %s", row.attempts, row.error)
                continue
            row.due_at, row.sent_at, row.error = None, utcnow(), None
            sent += 1
    return sent
