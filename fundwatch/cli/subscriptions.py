"""What the digest commands do (subscribe, subscribers list/update/delete, unsubscribe, digest
preview/send/status/retry, serve). Their options and help are declared in fundwatch.cli.digest,
which imports this module only when a command runs, so `COMMAND --help` needs neither SQLAlchemy
nor the web stack."""

from __future__ import annotations

import getpass
import re
import sys
from collections import Counter

import click
import uvicorn
from sqlalchemy import select

from fundwatch.cli.output import emit
from fundwatch.digest import subscribers as subs
from fundwatch.digest.builder import iso_week
from fundwatch.digest.filters import DEFAULT_REMINDER_DAYS, Filters, SubscriptionError, clean_filters
from fundwatch.digest.models import Subscriber
from fundwatch.digest.sending import preview as make_preview
from fundwatch.digest.sending import retry, send_due, status_rows
from fundwatch.digest.subscribers import subscriber_json
from fundwatch.digest.tokens import SecretKeyMissing, secret_key
from fundwatch.mail import MailError
from fundwatch.storage.db import get_engine, session_scope
from fundwatch.web.app import create_app


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__)


def _errors():

    return (SubscriptionError, SecretKeyMissing, MailError, LookupError)


def _filters(agencies, kinds, keywords, include_noncompetitive, reminder_days=DEFAULT_REMINDER_DAYS, forms=(), regions=()):

    return clean_filters(agencies, kinds, keywords, include_noncompetitive, reminder_days=reminder_days, forms=forms,
                         regions=regions)


def filters_en(filters: Filters) -> str:
    """A subscriber's filters as one plain line."""
    return (f"agencies {', '.join(filters.agencies) or 'all'}; kinds {', '.join(filters.kinds) or 'all'}; "
            f"keywords {', '.join(filters.keywords) or 'none'}; "
            + (f"forms {', '.join(filters.forms)}; " if filters.forms else "")
            + (f"regions {', '.join(filters.regions)}; " if filters.regions else "")
            + f"non-competitive {'included' if filters.include_noncompetitive else 'left out'}; "
            f"reminder {filters.reminder_days} days before a deadline")



def subscribe(email, org, agencies, kinds, keywords, forms, regions, include_noncompetitive, reminder_days, confirmed,
              imported_by):
    """Subscribe EMAIL: stored unconfirmed and sent a confirmation mail (double opt-in); it gets
    nothing else until the link in that mail is followed."""

    try:
        filters = _filters(agencies, kinds, keywords, include_noncompetitive, reminder_days or DEFAULT_REMINDER_DAYS,
                           forms, regions)
        if not confirmed:
            secret_key("the confirmation link")
        with session_scope() as session:
            outcome = subs.subscribe(session, email, org, filters, consent="import" if confirmed else "cli",
                                     imported_by=(imported_by or getpass.getuser()) if confirmed else None)
            sub = outcome.subscriber
            if outcome.replaced is not None:
                click.echo(f"{sub.email}: was already waiting for confirmation; its filters were "
                           f"{filters_en(outcome.replaced)}; now {filters_en(filters)}")
            if confirmed:
                click.echo(f"{sub.email}: confirmed (imported by {sub.imported_by}); the next digest goes to it")
                return
            if outcome.send_confirmation:
                where = subs.send_confirmation(session, sub)
                click.echo(f"{sub.email}: stored unconfirmed; confirmation sent ({where})")
            else:
                click.echo(f"{sub.email}: stored unconfirmed; a confirmation was sent less than 10 minutes ago")
    except _errors() as exc:
        raise _fail(exc) from None


def subscribers(status_filter, fmt):

    with session_scope() as session:
        query = select(Subscriber).order_by(Subscriber.id)
        if status_filter:
            query = query.where(Subscriber.status == status_filter)
        subs = list(session.scalars(query))
        rows = [subscriber_json(s) for s in subs]
        if fmt == "table":  # one filters column, so the table fits 80 columns (org and filters shortened)
            for row, sub in zip(rows, subs):
                row["filters"] = filters_en(Filters.of(sub))
                row["confirmed"] = (row["confirmed_at"] or "")[:10]
    emit(rows, fmt, ["email", "org", "status", "confirmed", "filters"], widths={"org": 30},
         shrink=["org", "filters"])


def update_command(email, org, agencies, all_agencies, kinds, all_kinds, keywords, no_keywords, forms, any_form,
                   regions, all_regions, include_noncompetitive, reminder_days):
    """Change a subscriber's filters: each given filter replaces the stored one."""

    try:
        with session_scope() as session:
            sub = subs.require(session, email)
            current = Filters.of(sub)
            filters = _filters(
                [] if all_agencies else (agencies or current.agencies),
                [] if all_kinds else (kinds or current.kinds),
                [] if no_keywords else (keywords or current.keywords),
                current.include_noncompetitive if include_noncompetitive is None else include_noncompetitive,
                reminder_days or current.reminder_days,
                [] if any_form else (forms or current.forms),
                [] if all_regions else (regions or current.regions),
            )
            subs.update_filters(session, sub, org, filters)
            click.echo(f"{sub.email}: {filters_en(filters)}")
    except _errors() as exc:
        raise _fail(exc) from None


def delete_command(email, yes):
    """Erase a subscriber (GDPR art. 17): the address is removed everywhere; only a hash stays, so it
    is never mailed or imported again without a new double opt-in."""

    try:
        with session_scope() as session:
            sub = subs.require(session, email)
            if not yes and not click.confirm(f"Delete {sub.email} ({sub.org}) and its address everywhere?"):
                raise click.Abort()
            subs.delete(session, sub)
        click.echo(f"{email}: deleted; a hash of the address is kept in the suppression list")
    except _errors() as exc:
        raise _fail(exc) from None


def unsubscribe(email):
    """Stop sending to EMAIL (the row stays, marked unsubscribed; `subscribers delete` erases it)."""

    try:
        with session_scope() as session:
            sub = subs.require(session, email)
            changed = subs.unsubscribe(session, sub)
        click.echo(f"{email}: {'unsubscribed' if changed else 'already ' + sub.status}")
    except _errors() as exc:
        raise _fail(exc) from None


# -- digest ------------------------------------------------------------------------------------------

def preview(email, out):
    """Write the HTML of the digest EMAIL would get now, and print its text part. Stores nothing."""

    try:
        d, msg, sub = make_preview(email)
    except _errors() as exc:
        raise _fail(exc) from None
    html = msg.get_body(("html",)).get_content()
    text = msg.get_body(("plain",)).get_content()
    path = out or "digest-preview.html"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(html)
    click.echo(f"Subject: {msg['Subject']}")
    click.echo(f"To: {msg['To']}")
    click.echo("")
    click.echo(text)
    click.echo(f"HTML written to {path}" + (" (nothing in it: an empty digest is not sent)" if d.empty else ""), err=True)


def send(dry_run, send_empty, emails, verbose):
    """Send this week's digests that are due: each subscriber gets at most one per ISO week."""

    try:
        report = send_due(dry_run=dry_run, send_empty=send_empty, emails=list(emails) or None,
                          echo=click.echo if verbose else None)
    except _errors() as exc:
        raise _fail(exc) from None
    for line in report.lines:
        click.echo(line)
    click.echo(str(report))
    if report.stopped:
        sys.exit(1)


def status(week, all_weeks, fmt):
    """Deliveries and their state. `unknown`: the sender stopped or lost the connection after the
    message went out; check the relay's log, then `fundwatch digest retry EMAIL` if it never arrived."""


    if week and not re.fullmatch(r"\d{4}-W(0[1-9]|[1-4]\d|5[0-3])", week):
        raise click.BadParameter(f"{week!r} is not an ISO week: give it as YYYY-Www, e.g. {iso_week()}",
                                 param_hint="--week")
    week = None if all_weeks else (week or iso_week())
    with session_scope() as session:
        rows = status_rows(session, week)
    emit(rows, fmt, ["week", "email", "status", "attempts", "finished_at", "next_attempt_at", "error"],
         shrink=["error", "next_attempt_at", "finished_at"])
    if fmt == "table":
        counts = Counter(r["status"] for r in rows)
        click.echo(", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no deliveries", err=True)


def retry_command(email):
    """Send this week's digest to EMAIL again after it ended unknown, deferred or failed (an
    operator's decision: an `unknown` message may have arrived)."""

    try:
        with session_scope() as session:
            sub = subs.require(session, email)
            d = retry(session, sub, iso_week())
            click.echo(f"{sub.email}: the {d.week} digest is pending again")
        report = send_due(emails=[email])
    except _errors() as exc:
        raise _fail(exc) from None
    click.echo(str(report))


# -- web app -----------------------------------------------------------------------------------------
def serve(host, port):
    """The subscription web app (Swedish): subscribe, confirm, change filters, unsubscribe."""


    try:
        secret_key("`fundwatch serve`")
    except SecretKeyMissing as exc:
        raise _fail(exc) from None
    get_engine()

    uvicorn.run(create_app(), host=host, port=port, log_level="info", proxy_headers=True)
