"""The read commands: calls, history, runs, show, sources. Their options and help only: the
bodies are in fundwatch.cli.listing, imported when a command runs (see `implemented_in`)."""

from __future__ import annotations

import click

from fundwatch.cli.output import format_option, implemented_in, sources_option
from fundwatch.items import KINDS


@click.command()
@click.option("--agency", help="Only this agency (slug or name, e.g. migrationsverket or Migrationsverket).")
@click.option("--kind", type=click.Choice(KINDS),
              help="Only this kind: funding_call, procurement, collaboration, news (agency news), decision "
                   "(who got funded) or page (a watched page without calls of its own).")
@click.option("--region", help="Only national calls and those of this region (e.g. \"Skåne län\", Västsverige).")
@click.option("--form", help="Only calls open to this organisation form (e.g. \"ideell förening\") or not saying who.")
@click.option("--open", "only_open", is_flag=True, help="Only items whose status is open.")
@click.option("--all", "include_removed", is_flag=True, help="Include removed items.")
@format_option()
def calls(**options):
    """List watched items: calls, procurements, news and pages, with their current state. The ID
    column is what `fundwatch show` takes."""
    implemented_in("fundwatch.cli.listing:calls", **options)


@click.command()
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]),
              help="Only changes detected on or after this date (YYYY-MM-DD, in FUNDWATCH_TIMEZONE).")
@click.option("--agency", help="Only this agency (slug or name).")
@click.option("--item", "item_id", help="Only this item (its id, or the id `calls` prints).")
@format_option()
def history(**options):
    """The change history: new, updated (field by field), removed, reappeared."""
    implemented_in("fundwatch.cli.listing:history", **options)


@click.group(invoke_without_command=True)
@click.option("--source", help="Only this source id.")
@click.option("--limit", type=int, default=50, show_default=True, help="Newest runs first, at most this many.")
@format_option()
@click.pass_context
def runs(ctx, **options):
    """Crawl runs with their status and, when not ok, the reason.

    `fundwatch runs accept SOURCE` accepts a source's new shape after the drift guard made its
    runs partial (fields_missing, items_dropped)."""
    if ctx.invoked_subcommand is None:
        implemented_in("fundwatch.cli.listing:runs", **options)


@runs.command("accept")
@click.argument("source")
def accept_shape(**options):
    """Make SOURCE's latest run the drift guard's baseline: its items' shape is the new normal."""
    implemented_in("fundwatch.cli.listing:accept_shape", **options)


@click.command()
@click.argument("item_id")
@format_option(("text", "json"), default="text")
def show(**options):
    """One item: its current state, text, every version and the diffs between them. ITEM_ID is the
    full id or the id `fundwatch calls` prints."""
    implemented_in("fundwatch.cli.listing:show", **options)


@click.command()
@sources_option
@format_option(("table", "json"))
def sources(**options):
    """Configured sources with their last run's status."""
    implemented_in("fundwatch.cli.listing:sources", **options)
