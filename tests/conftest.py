"""Shared fixtures: a fresh database per test on SQLite and (when configured) PostgreSQL, and the
project's mirror of the agency sites served on 127.0.0.1."""

from __future__ import annotations

import os
import uuid

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from fundwatch.mirror_server import MirrorServer
from fundwatch.storage.db import dispose_engines, get_engine
from helpers import (
    MAIL_FROM,
    PUBLIC_URL,
    SOURCES_TOML,
    STATE1,
    Client,
    Handler,
    HungServer,
    TcpProxy,
    free_port,
    web_server,
)

POSTGRES_URL = os.environ.get("FUNDWATCH_TEST_POSTGRES_URL", "").strip()


def _postgres_schema_url(base: str) -> tuple[str, str]:
    """A URL whose connections live in a new schema, so each test starts from nothing."""
    schema = f"fw_{uuid.uuid4().hex[:12]}"
    engine = create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", schema


def _drop_schema(base: str, schema: str) -> None:
    engine = create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path, monkeypatch):
    """Database URL for one test: SQLite file, or a fresh PostgreSQL schema. Also set as
    FUNDWATCH_DATABASE_URL so child processes (scrapy crawl) use it."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'fundwatch.db'}"
        schema = None
    else:
        if not POSTGRES_URL:
            pytest.skip("FUNDWATCH_TEST_POSTGRES_URL is not set (.ci/run sets it); PostgreSQL tests skipped")
        url, schema = _postgres_schema_url(POSTGRES_URL)
    monkeypatch.setenv("FUNDWATCH_DATABASE_URL", url)
    yield url
    dispose_engines()
    if schema:
        _drop_schema(POSTGRES_URL, schema)


@pytest.fixture
def postgres_proxy(monkeypatch):
    """A fresh PostgreSQL schema reached through a TcpProxy the test may cut (the server itself is
    shared and never stopped). FUNDWATCH_DATABASE_URL goes through the proxy; yields (proxy, the
    direct URL for the test's own look)."""
    if not POSTGRES_URL:
        pytest.skip("FUNDWATCH_TEST_POSTGRES_URL is not set (.ci/run sets it); PostgreSQL tests skipped")
    direct, schema = _postgres_schema_url(POSTGRES_URL)
    parsed = make_url(POSTGRES_URL)
    proxy = TcpProxy((parsed.host or "127.0.0.1", parsed.port or 5432))
    proxied = make_url(direct).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    monkeypatch.setenv("FUNDWATCH_DATABASE_URL", proxied)
    yield proxy, direct
    proxy.close()
    dispose_engines()
    _drop_schema(POSTGRES_URL, schema)


@pytest.fixture
def sqlite_url(tmp_path, monkeypatch):
    """SQLite only: for tests of things that do not depend on the database engine."""
    url = f"sqlite:///{tmp_path / 'fundwatch.db'}"
    monkeypatch.setenv("FUNDWATCH_DATABASE_URL", url)
    yield url
    dispose_engines()


@pytest.fixture
def engine(db_url):
    return get_engine(db_url)


@pytest.fixture
def crawl_env(tmp_path, monkeypatch):
    """Cache and logs in tmp_path; children inherit os.environ."""
    monkeypatch.setenv("FUNDWATCH_CACHE_DIR", str(tmp_path / "cache" / "httpcache"))
    monkeypatch.delenv("FUNDWATCH_SOURCES", raising=False)
    return tmp_path


@pytest.fixture
def mirror(crawl_env, monkeypatch):
    server = MirrorServer(STATE1).start()
    monkeypatch.setenv("FUNDWATCH_MIRROR", server.url)
    yield server
    server.stop()


@pytest.fixture
def hung():
    server = HungServer()
    yield server
    server.close()


@pytest.fixture
def digest_env(tmp_path, monkeypatch):
    """The environment every digest test runs in (outbox mode; tests that want SMTP set the URL)."""
    sources = tmp_path / "sources.toml"
    sources.write_text(SOURCES_TOML, encoding="utf-8")
    outbox = tmp_path / "outbox"
    monkeypatch.setenv("FUNDWATCH_SOURCES", str(sources))
    monkeypatch.setenv("FUNDWATCH_SECRET_KEY", "test-secret-key-not-for-production")
    monkeypatch.setenv("FUNDWATCH_OUTBOX", str(outbox))
    monkeypatch.setenv("FUNDWATCH_PUBLIC_URL", PUBLIC_URL)
    monkeypatch.setenv("FUNDWATCH_MAIL_FROM", MAIL_FROM)
    monkeypatch.setenv("FUNDWATCH_TIMEZONE", "Europe/Stockholm")
    for name in ("FUNDWATCH_SMTP_URL", "FUNDWATCH_SMTP_USER", "FUNDWATCH_SMTP_PASSWORD", "FUNDWATCH_SEND_EMPTY_DIGEST"):
        monkeypatch.delenv(name, raising=False)
    return outbox


@pytest.fixture
def smtp(monkeypatch):
    """A real SMTP server on 127.0.0.1; FUNDWATCH_SMTP_URL points at it."""
    handler = Handler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    handler.port = port
    monkeypatch.setenv("FUNDWATCH_SMTP_URL", f"smtp://127.0.0.1:{port}")
    yield handler
    handler.blocking = False
    controller.stop()


SERVER_FIXTURES = {"smtp", "mirror", "hung"}


def pytest_collection_modifyitems(items):
    """A test that uses a server fixture is slow by definition, marked or not."""
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def web(sqlite_url, digest_env):
    """The web app on 127.0.0.1 over a fresh SQLite database, and a client with cookies."""
    get_engine(sqlite_url)
    with web_server() as port:
        yield Client(port)
