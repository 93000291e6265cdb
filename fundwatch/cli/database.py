"""The body of `fundwatch db upgrade` (declared in fundwatch.cli.db)."""

from __future__ import annotations

import click

from fundwatch import config
from fundwatch.storage.db import get_engine, schema_revision


def upgrade():
    engine = get_engine(migrate=True)
    click.echo(f"{config.database_url()}: schema at revision {schema_revision(engine)}")
