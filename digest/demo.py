"""`fundwatch demo`'s digest: one confirmed demo subscriber, this week's digest into the outbox."""

from __future__ import annotations

import dataclasses
import os
import secrets
from pathlib import Path

from fundwatch.config import MailSettings
from fundwatch.digest import subscribers as subs
from fundwatch.digest.builder import iso_week
from fundwatch.digest.filters import Filters
from fundwatch.digest.sending import send_due
from fundwatch.storage.db import session_scope

DEMO_EMAIL = "demo@example.org"
DEMO_ORG = "Demoföreningen"


def send_demo_digest() -> str | None:
    """Creates (or keeps) the confirmed demo subscriber and writes this week's digest for it to
    the outbox (never SMTP). Returns the .eml path, or None when nothing was written."""

    if not os.environ.get("FUNDWATCH_SECRET_KEY", "").strip():
        os.environ["FUNDWATCH_SECRET_KEY"] = secrets.token_urlsafe(32)  # demo only: links will not verify later
    settings = dataclasses.replace(MailSettings.from_env(), smtp_url=None)
    with session_scope() as session:
        sub = subs.get_by_email(session, DEMO_EMAIL)
        if sub is None:
            sub = subs.subscribe(session, DEMO_EMAIL, DEMO_ORG, Filters(), consent="import",
                                 imported_by="fundwatch demo").subscriber
        elif sub.status != "confirmed":
            sub.status = "confirmed"
        sub_id = sub.id
    send_due(emails=[DEMO_EMAIL], settings=settings, send_empty=True)
    path = Path(settings.outbox) / f"digest.{iso_week()}.{sub_id}.eml"
    return str(path) if path.exists() else None
