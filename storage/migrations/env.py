"""Alembic environment: the engine comes from storage.db (config.attributes["engine"]). Every model
module is imported so autogenerate sees the whole schema; APScheduler's own job table is not ours."""

from alembic import context

from fundwatch.digest import models as digest_models  # noqa: F401 - registers its tables
from fundwatch.scheduler import models as scheduler_models
from fundwatch.storage.models import Base

config = context.config
engine = config.attributes["engine"]


def include_object(obj, name, type_, reflected, compare_to):
    return not (type_ == "table" and name == scheduler_models.JOBS_TABLE)


with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # A batch ALTER copies a table and drops the old one: with foreign keys on, SQLite refuses
        # that for any table other rows point at (runs, items, subscribers). Checked again after.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    with connection.begin():
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            include_object=include_object,
            render_as_batch=sqlite,  # SQLite needs batch ALTERs
        )
        context.run_migrations()
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"the migration left rows pointing nowhere: {broken[:3]}")
    if sqlite:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()
