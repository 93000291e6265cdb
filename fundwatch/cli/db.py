"""`fundwatch db upgrade`: database maintenance."""

from __future__ import annotations

import click

from fundwatch import config
from fundwatch.storage.db import get_engine, schema_revision


@click.group()
def db():
    """Database maintenance."""


@db.command()
def upgrade():
    """Apply the database migrations (also done automatically on first use)."""
    engine = get_engine(migrate=True)
    click.echo(f"{config.database_url()}: schema at revision {schema_revision(engine)}")
