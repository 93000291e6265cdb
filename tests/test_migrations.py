"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL, and can
be undone."""

from __future__ import annotations

import importlib
import importlib.util

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from fundwatch.storage.db import get_engine, make_engine, schema_revision, upgrade
from fundwatch.storage.models import Base

# Modules that add tables to the shared metadata, when they exist.
for module in ("fundwatch.digest.models", "fundwatch.scheduler.models"):
    if importlib.util.find_spec(module):
        importlib.import_module(module)


@pytest.mark.slow
def test_models_and_migrations_agree(db_url):
    engine = get_engine(db_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = [d for d in compare_metadata(context, Base.metadata)
                if not (isinstance(d, tuple) and d[0] == "remove_table" and d[1].name.startswith("apscheduler"))]
    assert diff == []
    assert {"change_log", "current_items"} <= set(inspect(engine).get_view_names())


@pytest.mark.slow
def test_downgrade_to_nothing_and_back(db_url):
    engine = make_engine(db_url)
    upgrade(engine)
    head = schema_revision(engine)
    upgrade_to_base(engine)
    assert schema_revision(engine) is None
    assert not inspect(engine).has_table("items")
    upgrade(engine)
    assert schema_revision(engine) == head
    engine.dispose()


def test_a_database_behind_the_newest_migration_is_migrated_when_opened(tmp_path):
    """get_engine() skips alembic for a database already at SCHEMA_HEAD, so SCHEMA_HEAD must be
    the newest migration, and an older database is still migrated when opened."""
    from alembic import command
    from alembic.script import ScriptDirectory

    from fundwatch.storage.db import SCHEMA_HEAD, alembic_config, dispose_engines

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    assert ScriptDirectory.from_config(alembic_config(engine)).get_current_head() == SCHEMA_HEAD
    assert schema_revision(engine) is None  # a new database
    command.upgrade(alembic_config(engine), "0003")
    assert schema_revision(engine) == "0003"
    engine.dispose()
    try:
        assert schema_revision(get_engine(url)) == SCHEMA_HEAD
    finally:
        dispose_engines()


def upgrade_to_base(engine) -> None:
    from alembic import command

    from fundwatch.storage.db import alembic_config

    command.downgrade(alembic_config(engine), "base")
