"""Engines and sessions. SQLite runs in WAL mode with a busy timeout so the CLI, the digest and the
scheduler can read while a crawl writes; PostgreSQL goes through the same code by URL."""

from __future__ import annotations

import fcntl
import importlib
import threading
from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from fundwatch import config
from fundwatch.errors import UserError
from fundwatch.storage.schema import SCHEMA_HEAD, SQLITE_BUSY_SECONDS

MIGRATION_LOCK_KEY = 0x66775F6D  # pg_advisory_lock key of fundwatch's migrations ("fw_m")
_engines: dict[str, Engine] = {}
_lock = threading.Lock()


class DatabaseError(UserError, RuntimeError):
    """The database cannot be opened or migrated; the message says why in one line."""


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")  # safe in WAL: a crash loses no committed run
    cur.close()


def make_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:  # the URL is not shown: it may hold a password
        raise DatabaseError(f"the database URL cannot be used: {str(exc).splitlines()[0]}") from None
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3, the `postgres` extra
    kwargs: dict = {"pool_pre_ping": True}  # a connection the server dropped (a restart) is replaced, not used
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_SECONDS}
    try:
        engine = create_engine(parsed, **kwargs)
    except NoSuchModuleError:
        raise DatabaseError(f"unknown database kind {parsed.drivername!r} (sqlite or postgresql)") from None
    except ImportError as exc:
        raise DatabaseError(f"no driver for {parsed.drivername}: {exc} (pip install 'fundwatch[postgres]')") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def describe_error(exc: BaseException) -> str:
    """One line naming a database problem: the driver's own first line (no SQL, no parameters),
    and for a database that does not answer, which database."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        first = (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0]
        if transient(exc):
            return f"database unavailable: {first}"
        return first
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def transient(exc: BaseException) -> bool:
    """A database that may answer again soon: locked by another writer, restarting, unreachable."""
    return isinstance(exc, (OperationalError, InterfaceError)) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated)


def get_engine(url: str | None = None, *, migrate: bool = True) -> Engine:
    """The engine for URL (default: FUNDWATCH_DATABASE_URL), migrated to the latest schema on first use."""
    url = url or config.database_url()
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = make_engine(url)
            if migrate and schema_revision(engine) != SCHEMA_HEAD:  # alembic only when there is work for it
                upgrade(engine)
            _engines[url] = engine
    return engine


def dispose_engines() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def _alembic(name: str):
    """An alembic module, imported when a migration runs: a database already at SCHEMA_HEAD (every
    CLI command after the first) never needs it, and it is a third of a read command's start-up."""
    return importlib.import_module(f"alembic.{name}")


def alembic_config(engine: Engine):

    cfg = _alembic("config").Config()
    cfg.set_main_option("script_location", "fundwatch.storage:migrations")
    cfg.attributes["engine"] = engine
    return cfg


@contextmanager
def _one_migration_at_a_time(engine: Engine) -> Iterator[None]:
    """Two processes opening a new database at once (two crawls, a crawl and the web app) would both
    create its tables; the second waits here, then finds the schema current. PostgreSQL: an advisory
    lock; a SQLite file: a lock file beside it (SQLite's own locks come too late: alembic reads the
    revision before its first write)."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")
            try:
                yield
            finally:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})")
                conn.commit()
    elif engine.url.database and engine.url.database != ":memory:":
        with open(f"{engine.url.database}-migrate.lock", "a") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)  # released when the file closes, or the process dies
            yield
    else:
        yield


def upgrade(engine: Engine, revision: str = "head") -> None:

    try:
        with _one_migration_at_a_time(engine):
            _alembic("command").upgrade(alembic_config(engine), revision)
    except Exception as exc:  # noqa: BLE001 - one clear line for the operator
        raise DatabaseError(f"cannot open or migrate {engine.url.render_as_string(hide_password=True)}: "
                            f"{describe_error(exc)}") from exc


def schema_revision(engine: Engine) -> str | None:
    """The database's migration revision, read without alembic (a third of a second to import);
    None for a new database (or one emptied by a downgrade to base) or one that cannot be read
    (upgrade() then says why)."""
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    except Exception:  # noqa: BLE001 - no table yet, or no database: upgrade() creates or explains
        return None
    return rows[0][0] if len(rows) == 1 else None


def has_schema(engine: Engine) -> bool:
    return inspect(engine).has_table("runs")


def session_factory(engine: Engine | None = None) -> sessionmaker[Session]:
    return sessionmaker(engine or get_engine(), expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session whose transaction commits on success and rolls back on error."""
    with session_factory(engine)() as session, session.begin():
        yield session
