"""Subscriptions and deliveries. Same metadata as storage (storage.models.Base); schema in
storage/migrations/versions/0002_subscriptions.py.

Personal data is kept minimal: a subscriber row holds the address, the organisation's name and the
filters. A delivery references its subscriber by id only (never the address) and is anonymised
(subscriber_id NULL, error text cleared) when the subscriber is deleted; what stays after a deletion
is a SHA-256 of the address in `suppressions`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fundwatch.storage.models import Base, utcnow

# Subscriber states. Only `confirmed` receives digests; the others receive at most a confirmation.
UNCONFIRMED, CONFIRMED, UNSUBSCRIBED, SUPPRESSED = "unconfirmed", "confirmed", "unsubscribed", "suppressed"

# Delivery states: pending -> sending (committed before the message goes out) -> sent | deferred
# (4xx, retried with backoff) | failed (5xx or gave up) ; sending left behind by a crash or a
# connection lost after DATA -> unknown (never resent blindly; `fundwatch digest retry`).
PENDING, SENDING, SENT, DEFERRED, FAILED, UNKNOWN = "pending", "sending", "sent", "deferred", "failed", "unknown"
DELIVERY_STATES = (PENDING, SENDING, SENT, DEFERRED, FAILED, UNKNOWN)


class Subscriber(Base):
    __tablename__ = "subscribers"
    __table_args__ = {"sqlite_autoincrement": True}  # an id is never reused (tokens carry it)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # normalised, lower case
    org: Mapped[str] = mapped_column(String(200))
    agencies: Mapped[list[Any]] = mapped_column(default=list)  # agency slugs; empty: all
    kinds: Mapped[list[Any]] = mapped_column(default=list)  # item kinds; empty: all
    keywords: Mapped[list[Any]] = mapped_column(default=list)  # any of them in title or text; empty: all
    include_noncompetitive: Mapped[bool] = mapped_column(default=False)
    reminder_days: Mapped[int] = mapped_column(default=14)  # what closes this soon is listed first (7, 14, 30)
    muted: Mapped[list[Any]] = mapped_column(default=list)  # item ids the subscriber asked not to see again
    forms: Mapped[list[Any]] = mapped_column(default=list)  # organisation forms (eligibility.py); empty: all
    regions: Mapped[list[Any]] = mapped_column(default=list)  # regions (regions.py); empty: all
    status: Mapped[str] = mapped_column(String(20), default=UNCONFIRMED)
    token_key: Mapped[str] = mapped_column(String(32))  # random, part of every signed token
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    consent: Mapped[str] = mapped_column(String(20))  # web | cli (double opt-in) | import (operator)
    confirmed_at: Mapped[dt.datetime | None]
    imported_by: Mapped[str | None] = mapped_column(String(100))  # operator who imported a consent
    confirmation_sent_at: Mapped[dt.datetime | None]
    unsubscribed_at: Mapped[dt.datetime | None]
    hard_bounces: Mapped[int] = mapped_column(default=0)  # consecutive 5xx; reset by a delivery


class Delivery(Base):
    """One digest for one subscriber in one ISO week (of sending). Covers the changes with
    after_change_id < id <= upto_change_id."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("week", "subscriber_id", name="uq_deliveries_week_subscriber"),
        Index("ix_deliveries_week_status", "week", "status"),
        Index("ix_deliveries_subscriber", "subscriber_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    week: Mapped[str] = mapped_column(String(8))  # "2027-W18", Europe/Stockholm
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(20), default=PENDING)
    first: Mapped[bool] = mapped_column(default=False)  # the subscriber's first digest
    after_change_id: Mapped[int] = mapped_column(default=0)
    upto_change_id: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime | None]
    claimed_at: Mapped[dt.datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(200))  # host:pid of the sender
    finished_at: Mapped[dt.datetime | None]
    smtp_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    counts: Mapped[dict[str, Any] | None]  # {"new": n, "changed": n, ...} as sent


class Suppression(Base):
    """Addresses that get nothing: hard bounces, deleted subscribers. Only a hash is kept."""

    __tablename__ = "suppressions"

    email_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(20))  # bounced | deleted
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ConfirmationRequest(Base):
    """One accepted subscribe form: what throttles confirmations per mailbox and per client, and
    the queue of confirmation mail the web app's worker sends. Only hashes of the mailbox and the
    client address are kept."""

    __tablename__ = "confirmation_requests"
    __table_args__ = (
        Index("ix_confirmation_requests_mailbox", "mailbox", "requested_at"),
        Index("ix_confirmation_requests_client", "client", "requested_at"),
        Index("ix_confirmation_requests_due", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    mailbox: Mapped[str] = mapped_column(String(64))  # SHA-256 of the address, plus-tag and case stripped
    client: Mapped[str] = mapped_column(String(64))  # SHA-256 of the client's IP address
    requested_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    due_at: Mapped[dt.datetime | None]  # a mail to send at this time; None: nothing (more) to send
    attempts: Mapped[int] = mapped_column(default=0)
    sent_at: Mapped[dt.datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
