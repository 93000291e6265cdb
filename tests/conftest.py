"""Shared fixtures: a fresh database per test on SQLite and (when configured) PostgreSQL, and the
project's mirror of the agency sites served on 127.0.0.1."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from storage.db import dispose_engines, get_engine

TESTS = Path(__file__).parent
MIRROR = TESTS / "mirror"
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
def sqlite_url(tmp_path, monkeypatch):
    """SQLite only: for tests of things that do not depend on the database engine."""
    url = f"sqlite:///{tmp_path / 'fundwatch.db'}"
    monkeypatch.setenv("FUNDWATCH_DATABASE_URL", url)
    yield url
    dispose_engines()


@pytest.fixture
def engine(db_url):
    return get_engine(db_url)
