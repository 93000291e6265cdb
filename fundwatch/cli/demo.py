"""`fundwatch demo`: its option and help; the body is in fundwatch.cli.demonstration, imported when
it runs (see `implemented_in`)."""

from __future__ import annotations

import click

from fundwatch.cli.output import implemented_in


@click.command()
@click.option("--dir", "folder", type=click.Path(file_okay=False), default="fundwatch-demo", show_default=True,
              help="Folder for the demo database, cache and outbox (emptied first).")
def demo(folder):
    """The main job against fundwatch's own mirror of the agency sites, served on 127.0.0.1:
    no network needed. Crawls the mirror's first state, then its second, into a fresh database."""
    implemented_in("fundwatch.cli.demonstration:run_demo", folder=folder)
