"""`fundwatch db upgrade`: database maintenance (options and help; the body imports SQLAlchemy and
runs from fundwatch.cli.database when the command runs)."""

from __future__ import annotations

import click

from fundwatch.cli.output import implemented_in


@click.group()
def db():
    """Database maintenance."""


@db.command()
def upgrade():
    """Apply the database migrations (also done automatically on first use)."""
    implemented_in("fundwatch.cli.database:upgrade")
