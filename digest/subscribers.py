"""Subscribers: double opt-in, operator import of an existing consent, filters, unsubscribe,
deletion (only a hash of the address stays, in `suppressions`). Used by the CLI and the web app.
Errors a person can fix raise SubscriptionError with one line of English (the web app shows its
own Swedish text)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete as sa_delete
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from fundwatch.config import MailSettings
from fundwatch.digest import tokens
from fundwatch.digest.filters import Filters, SubscriptionError
from fundwatch.digest.models import (
    CONFIRMED,
    SUPPRESSED,
    UNCONFIRMED,
    UNSUBSCRIBED,
    ConfirmationRequest,
    Delivery,
    Subscriber,
    Suppression,
)
from fundwatch.digest.render import render_confirmation
from fundwatch.items import KINDS
from fundwatch.mail import address, build_message, open_transport
from fundwatch.storage.models import utcnow
from fundwatch.storage.queries import iso

HARD_BOUNCE_LIMIT = 3  # consecutive hard bounces before an address is suppressed
CONFIRMATION_RESEND_AFTER = dt.timedelta(minutes=10)  # the web form cannot be used to flood an inbox
MAX_ORG_LEN = 200
DIGEST_KINDS = tuple(k for k in KINDS)


def normalize_email(raw: str) -> str:
    """Validated (syntax, no DNS) and normalised: lower case, ASCII domain."""
    try:
        info = validate_email((raw or "").strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise SubscriptionError(f"not a valid email address: {raw!r} ({exc})") from None
    return f"{info.local_part}@{info.ascii_domain}".lower()


def email_hash(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def clean_org(org: str) -> str:
    org = " ".join((org or "").split())
    if not org:
        raise SubscriptionError("the organisation's name is required")
    if len(org) > MAX_ORG_LEN:
        raise SubscriptionError(f"organisation name too long (at most {MAX_ORG_LEN} characters)")
    return org


def suppression(session: Session, email: str) -> Suppression | None:
    return session.get(Suppression, email_hash(email))


def get_by_email(session: Session, email: str) -> Subscriber | None:
    return session.scalars(select(Subscriber).where(Subscriber.email == normalize_email(email))).one_or_none()


def require(session: Session, email: str) -> Subscriber:
    sub = get_by_email(session, email)
    if sub is None:
        raise SubscriptionError(f"no subscriber {email!r} (see `fundwatch subscribers`)")
    return sub


def _apply(sub: Subscriber, org: str, filters: Filters) -> None:
    sub.org = org
    sub.agencies, sub.kinds, sub.keywords = filters.agencies, filters.kinds, filters.keywords
    sub.include_noncompetitive = filters.include_noncompetitive
    sub.reminder_days = filters.reminder_days
    sub.forms, sub.regions = filters.forms, filters.regions


def mute(session: Session, sub: Subscriber, item_id: str) -> bool:
    """Leave ITEM_ID out of SUB's digests from now on. True when this call muted it."""
    if item_id in (sub.muted or []):
        return False
    sub.muted = [*(sub.muted or []), item_id]  # a new list: the JSON column sees the change
    return True


@dataclass
class Outcome:
    subscriber: Subscriber
    send_confirmation: bool  # a confirmation mail should go out now
    created: bool
    already_confirmed: bool = False
    replaced: Filters | None = None  # an existing unconfirmed subscriber's filters this call replaced


def subscribe(session: Session, email: str, org: str, filters: Filters, *, consent: str = "cli",
              imported_by: str | None = None, now: dt.datetime | None = None) -> Outcome:
    """Double opt-in (consent web|cli): stored unconfirmed, a confirmation is due. Import (consent
    'import', imported_by set): the operator records a consent given elsewhere; confirmed at once."""
    now = now or utcnow()
    email = normalize_email(email)
    org = clean_org(org)
    supp = suppression(session, email)
    if supp is not None and supp.reason == "bounced":
        raise SubscriptionError(f"{email} is suppressed after repeated hard bounces")
    if supp is not None and consent == "import":
        raise SubscriptionError(f"{email} was deleted on request: it can only subscribe again itself (double opt-in)")
    sub = session.scalars(select(Subscriber).where(Subscriber.email == email)).one_or_none()
    created = sub is None
    if sub is None:
        sub = Subscriber(email=email, org=org, status=UNCONFIRMED, token_key=secrets.token_hex(16),
                         consent=consent, created_at=now, hard_bounces=0)
        session.add(sub)
    elif sub.status == CONFIRMED:
        if consent == "web":  # say nothing more to a stranger typing someone's address
            return Outcome(sub, False, False, already_confirmed=True)
        raise SubscriptionError(f"{email} is already subscribed (use `fundwatch subscribers update`)")
    elif sub.status == SUPPRESSED:
        raise SubscriptionError(f"{email} is suppressed after repeated hard bounces")
    before = None if created else Filters.of(sub)
    if created or consent != "web":
        # a form anyone can post never rewrites a stored organisation name or filters: the owner
        # changes them after confirming, through the link in the mail
        _apply(sub, org, filters)
    replaced = before if before is not None and before.key() != Filters.of(sub).key() else None
    if consent == "import":
        sub.status, sub.confirmed_at, sub.consent, sub.imported_by = CONFIRMED, now, "import", imported_by
        sub.unsubscribed_at = None
        session.flush()
        return Outcome(sub, False, created, replaced=replaced)
    if sub.status == UNSUBSCRIBED:
        sub.status, sub.consent = UNCONFIRMED, consent
    session.flush()
    recent = sub.confirmation_sent_at and now - sub.confirmation_sent_at < CONFIRMATION_RESEND_AFTER
    return Outcome(sub, not recent, created, replaced=replaced)


def confirm(session: Session, sub: Subscriber, now: dt.datetime | None = None) -> bool:
    """True when this call confirmed; False when already confirmed (a repeat changes nothing)."""
    if sub.status == CONFIRMED:
        return False
    if sub.status == SUPPRESSED:
        raise SubscriptionError(f"{sub.email} is suppressed")
    sub.status, sub.confirmed_at, sub.unsubscribed_at = CONFIRMED, now or utcnow(), None
    supp = suppression(session, sub.email)
    if supp is not None and supp.reason == "deleted":  # they asked again and confirmed: welcome back
        session.delete(supp)
    return True


def unsubscribe(session: Session, sub: Subscriber, now: dt.datetime | None = None) -> bool:
    if sub.status in (UNSUBSCRIBED, SUPPRESSED):
        return False
    sub.status, sub.unsubscribed_at = UNSUBSCRIBED, now or utcnow()
    return True


def update_filters(session: Session, sub: Subscriber, org: str | None, filters: Filters) -> None:
    _apply(sub, clean_org(org) if org is not None else sub.org, filters)


def delete(session: Session, sub: Subscriber) -> None:
    """Erase the subscriber: deliveries lose their link to it (and any server text that could hold
    the address); only a hash of the address stays, so it is never imported or mailed again
    without a new double opt-in."""
    h = email_hash(sub.email)
    if session.get(Suppression, h) is None:
        session.add(Suppression(email_hash=h, reason="deleted"))
    session.execute(update(Delivery).where(Delivery.subscriber_id == sub.id)
                    .values(subscriber_id=None, error=None))
    session.execute(sa_delete(ConfirmationRequest).where(ConfirmationRequest.subscriber_id == sub.id))
    session.delete(sub)
    session.flush()


def record_hard_bounce(session: Session, sub: Subscriber) -> bool:
    """Count a 5xx; at HARD_BOUNCE_LIMIT in a row the address is suppressed. True if suppressed now."""
    sub.hard_bounces = (sub.hard_bounces or 0) + 1
    if sub.hard_bounces >= HARD_BOUNCE_LIMIT and sub.status != SUPPRESSED:
        sub.status = SUPPRESSED
        h = email_hash(sub.email)
        existing = session.get(Suppression, h)
        if existing is None:
            session.add(Suppression(email_hash=h, reason="bounced"))
        else:
            existing.reason = "bounced"
        return True
    return False


def subscriber_json(sub: Subscriber) -> dict:

    return {
        "id": sub.id, "email": sub.email, "org": sub.org, "status": sub.status,
        "agencies": list(sub.agencies or []), "kinds": list(sub.kinds or []), "keywords": list(sub.keywords or []),
        "include_noncompetitive": bool(sub.include_noncompetitive), "reminder_days": sub.reminder_days,
        "muted": list(sub.muted or []), "consent": sub.consent,
        "forms": list(sub.forms or []), "regions": list(sub.regions or []),
        "created_at": iso(sub.created_at), "confirmed_at": iso(sub.confirmed_at), "imported_by": sub.imported_by,
        "unsubscribed_at": iso(sub.unsubscribed_at), "hard_bounces": sub.hard_bounces,
    }


# -- links and the confirmation mail ---------------------------------------------------------------
LINK_PATHS = {"confirm": "bekrafta", "unsubscribe": "avregistrera", "manage": "installningar", "mute": "dolj"}


def links(sub: Subscriber, public_url: str, signer=None, names=tuple(LINK_PATHS)) -> dict[str, str]:
    """{name: signed link} for the NAMES wanted (a token costs about 50 µs: a digest signs two)."""

    signer = signer or tokens.Signer()
    base = public_url.rstrip("/")
    purposes = {"confirm": tokens.CONFIRM, "unsubscribe": tokens.UNSUBSCRIBE, "manage": tokens.MANAGE,
                "mute": tokens.MUTE}
    return {name: f"{base}/{LINK_PATHS[name]}/{signer.make(sub.id, sub.token_key, purposes[name])}" for name in names}


def confirmation_message(sub: Subscriber, settings=None):

    settings = settings or MailSettings.from_env()
    link = links(sub, settings.public_url)
    text, html = render_confirmation(sub, link, settings.public_url)
    return build_message(to=address(sub.email, sub.org), subject="Bekräfta din prenumeration på fundwatch",
                         text=text, html=html, mail_from=settings.mail_from)


def send_confirmation(session: Session, sub: Subscriber, settings=None) -> str:
    """Send (or write to the outbox) the confirmation mail; never to a suppressed address."""

    if sub.status != UNCONFIRMED:
        raise SubscriptionError(f"{sub.email} is {sub.status}: no confirmation sent")
    settings = settings or MailSettings.from_env()
    msg = confirmation_message(sub, settings)
    with open_transport(settings) as transport:
        result = transport.send(msg)
    sub.confirmation_sent_at = utcnow()
    return result
