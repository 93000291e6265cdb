"""CLI commands of the digest (loaded lazily by fundwatch.cli): subscribe, subscribers (list,
update, delete), unsubscribe, digest (preview, send, status, retry), serve. Their options and help
only: the bodies are in fundwatch.cli.subscriptions, imported when a command runs."""

from __future__ import annotations

import click

from fundwatch.cli.output import format_option, implemented_in
from fundwatch.digest.filters import DEFAULT_REMINDER_DAYS, REMINDER_DAYS
from fundwatch.items import KINDS

BODIES = "fundwatch.cli.subscriptions"

agency_option = click.option("--agency", "agencies", multiple=True, metavar="AGENCY",
                             help="Only this agency (slug or name, e.g. migrationsverket); repeatable. Default: all.")
kind_option = click.option("--kind", "kinds", multiple=True, type=click.Choice(KINDS),
                           help="Only this kind of item (news: agency news; page: a watched page without "
                                "calls of its own); repeatable. Default: all.")
keyword_option = click.option("--keyword", "keywords", multiple=True, metavar="WORD",
                              help="Only items with this word in title or text (any of them; case-insensitive, å/ä/ö kept); repeatable.")
form_option = click.option("--form", "forms", multiple=True, metavar="FORM",
                           help="The organisation's form (e.g. \"ideell förening\", stiftelse, trossamfund): calls that name "
                                "who may apply only when they name it; repeatable. Default: any.")
region_option = click.option("--region", "regions", multiple=True, metavar="REGION",
                             help="The organisation's region (e.g. \"Skåne län\", Västsverige): regional calls only of it; "
                                  "national calls always; repeatable. Default: every region.")
reminder_option = click.option("--reminder-days", type=click.Choice([str(d) for d in REMINDER_DAYS]),
                               help="List calls closing within this many days first in each digest "
                                    f"(default {DEFAULT_REMINDER_DAYS}).")


@click.command()
@click.argument("email")
@click.option("--org", required=True, help="The organisation's name.")
@agency_option
@kind_option
@keyword_option
@form_option
@region_option
@click.option("--include-noncompetitive", is_flag=True,
              help="Also calls not open to civil society (icke-konkurrerande). Default: left out.")
@reminder_option
@click.option("--confirmed", is_flag=True,
              help="Import an organisation that already consented elsewhere: confirmed at once, no confirmation mail; "
                   "records who imported it and when.")
@click.option("--by", "imported_by", metavar="NAME", help="With --confirmed: who imported it (default: the OS user).")
def subscribe(**options):
    """Subscribe EMAIL: stored unconfirmed and sent a confirmation mail (double opt-in); it gets
    nothing else until the link in that mail is followed. For an address still unconfirmed, the
    new filters replace the old and the command says so."""
    if options["imported_by"] and not options["confirmed"]:
        raise click.UsageError("--by records who imported a consent: use it with --confirmed")
    implemented_in(f"{BODIES}:subscribe", **options)


@click.group(invoke_without_command=True)
@click.option("--status", "status_filter", type=click.Choice(["unconfirmed", "confirmed", "unsubscribed", "suppressed"]),
              help="Only subscribers in this state.")
@format_option(("table", "json"))
@click.pass_context
def subscribers(ctx, **options):
    """List subscribers (default), or change (update) or erase (delete) one."""
    if ctx.invoked_subcommand is None:
        implemented_in(f"{BODIES}:subscribers", **options)


@subscribers.command("update")
@click.argument("email")
@click.option("--org", help="New organisation name.")
@agency_option
@click.option("--all-agencies", is_flag=True, help="Clear the agency filter.")
@kind_option
@click.option("--all-kinds", is_flag=True, help="Clear the kind filter.")
@keyword_option
@click.option("--no-keywords", is_flag=True, help="Clear the keywords.")
@form_option
@click.option("--any-form", is_flag=True, help="Clear the organisation form filter.")
@region_option
@click.option("--all-regions", is_flag=True, help="Clear the region filter.")
@click.option("--include-noncompetitive/--exclude-noncompetitive", default=None,
              help="Whether calls not open to civil society are included.")
@reminder_option
def update_command(**options):
    """Change a subscriber's filters: each given filter replaces the stored one."""
    implemented_in(f"{BODIES}:update_command", **options)


@subscribers.command("delete")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Delete without asking for confirmation.")
def delete_command(**options):
    """Erase a subscriber (GDPR art. 17): the address is removed everywhere; only a hash stays, so it
    is never mailed or imported again without a new double opt-in."""
    implemented_in(f"{BODIES}:delete_command", **options)


@click.command()
@click.argument("email")
def unsubscribe(**options):
    """Stop sending to EMAIL (the row stays, marked unsubscribed; `subscribers delete` erases it)."""
    implemented_in(f"{BODIES}:unsubscribe", **options)


@click.group()
def digest():
    """The weekly Swedish digest: preview, send, status, retry."""


@digest.command()
@click.option("--email", required=True, help="The subscriber whose digest to show.")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), help="Write the HTML here (default: digest-preview.html).")
def preview(**options):
    """Write the HTML of the digest EMAIL would get now, and print its text part. Stores nothing."""
    implemented_in(f"{BODIES}:preview", **options)


@digest.command()
@click.option("--dry-run", is_flag=True, help="Show what would be sent; send and store nothing.")
@click.option("--send-empty/--no-send-empty", default=None,
              help="Also send digests with nothing in them (default: $FUNDWATCH_SEND_EMPTY_DIGEST, else no).")
@click.option("--email", "emails", multiple=True, help="Only this subscriber; repeatable.")
@click.option("-v", "--verbose", is_flag=True, help="One line per message.")
def send(**options):
    """Send this week's digests that are due: each subscriber gets at most one per ISO week."""
    implemented_in(f"{BODIES}:send", **options)


@digest.command()
@click.option("--week", help="ISO week, e.g. 2027-W18 (default: this week).")
@click.option("--all", "all_weeks", is_flag=True, help="Every week.")
@format_option(("table", "json"))
def status(**options):
    """Deliveries and their state. `unknown`: the sender stopped or lost the connection after the
    message went out; check the relay's log, then `fundwatch digest retry EMAIL` if it never arrived."""
    implemented_in(f"{BODIES}:status", **options)


@digest.command("retry")
@click.argument("email")
def retry_command(**options):
    """Send this week's digest to EMAIL again after it ended unknown, deferred or failed (an
    operator's decision: an `unknown` message may have arrived)."""
    implemented_in(f"{BODIES}:retry_command", **options)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
def serve(**options):
    """The Swedish web app: the list of calls, their history, the change log, Atom and iCalendar
    feeds, the JSON API (/api/v1); subscribe, confirm, change filters, mute an item, unsubscribe."""
    implemented_in(f"{BODIES}:serve", **options)
