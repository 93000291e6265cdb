"""SQLAlchemy 2 models. History is append-only: a crawl inserts runs, item versions, changes and
change fields; it never edits or deletes them. `items` holds each item's current state."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator):
    """Timestamps stored in UTC and always read back timezone-aware (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, dt.datetime: UTCDateTime}


class SourceRow(Base):
    __tablename__ = "sources"
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    agency: Mapped[str] = mapped_column(String(100))
    spider: Mapped[str] = mapped_column(String(100))
    first_seen: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Run(Base):
    """One crawl of one source. Written as `running` when it starts; ok / partial / failed at the
    close, in the transaction that applies its items."""

    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id"), index=True)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]
    status: Mapped[str] = mapped_column(String(20), default="running")  # running|ok|partial|failed
    pid: Mapped[int | None]
    hostname: Mapped[str | None] = mapped_column(String(255))
    pages: Mapped[int] = mapped_column(default=0)
    items: Mapped[int] = mapped_column(default=0)
    errors: Mapped[int] = mapped_column(default=0)
    new: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    removed: Mapped[int] = mapped_column(default=0)
    reappeared: Mapped[int] = mapped_column(default=0)
    reason_code: Mapped[str | None] = mapped_column(String(50))
    reason_params: Mapped[dict[str, Any] | None]
    warnings: Mapped[list[Any] | None]  # [{"code": ..., "params": {...}}]
    page_log: Mapped[list[Any] | None]  # [{"url", "role", "status", "items", "error"}]
    # {"kinds": {kind: {"items", "deadline", "opens", "amount"}}, "pages": {must-carry page: items}}
    shape: Mapped[dict[str, Any] | None]
    accepted: Mapped[bool] = mapped_column(default=False)  # the operator accepted its shape as the baseline


class Item(Base):
    __tablename__ = "items"
    id: Mapped[str] = mapped_column(String(400), primary_key=True)  # agency/kind/slug
    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id"), index=True)
    agency: Mapped[str] = mapped_column(String(100), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    title: Mapped[str] = mapped_column(Text)
    url: Mapped[str] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(Text, default="")
    opens: Mapped[dt.date | None] = mapped_column(Date)
    deadline: Mapped[dt.date | None] = mapped_column(Date)
    deadline_text: Mapped[str | None] = mapped_column(Text)
    deadline_rule: Mapped[str | None] = mapped_column(String(100))
    published: Mapped[dt.date | None] = mapped_column(Date)
    amount_text: Mapped[str | None] = mapped_column(Text)
    amount_sek: Mapped[int | None] = mapped_column(BigInteger)
    competitive: Mapped[bool | None] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(20), default="unknown")
    text: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    deadline_time: Mapped[str | None] = mapped_column(String(5))
    eligibility: Mapped[list[Any] | None]
    region: Mapped[str | None] = mapped_column(String(100), index=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(default=1)
    misses: Mapped[int] = mapped_column(default=0)  # consecutive counted misses
    first_seen: Mapped[dt.datetime]
    last_seen: Mapped[dt.datetime]
    removed_at: Mapped[dt.datetime | None]

    versions: Mapped[list["ItemVersion"]] = relationship(
        back_populates="item", order_by="ItemVersion.version", viewonly=True
    )


class ItemVersion(Base):
    """A full snapshot of an item's content fields, one row per change of content."""

    __tablename__ = "item_versions"
    __table_args__ = (UniqueConstraint("item_id", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("items.id"))
    version: Mapped[int]
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    content_hash: Mapped[str] = mapped_column(String(64))
    snapshot: Mapped[dict[str, Any]]

    item: Mapped[Item] = relationship(back_populates="versions", viewonly=True)


class Change(Base):
    """new | updated | removed | reappeared, detected by one run."""

    __tablename__ = "changes"
    __table_args__ = (Index("ix_changes_item", "item_id"), Index("ix_changes_detected", "detected_at"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("items.id"))
    change: Mapped[str] = mapped_column(String(20))
    detected_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    diff: Mapped[str | None] = mapped_column(Text)  # unified diff of `text`, when it changed

    fields: Mapped[list["ChangeField"]] = relationship(
        order_by="ChangeField.id", lazy="selectin", viewonly=True
    )


class ChangeField(Base):
    """One field of an update: old and new value as readable text (dates ISO, details JSON)."""

    __tablename__ = "change_fields"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id"), index=True)
    field: Mapped[str] = mapped_column(String(50))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)


class SourceLock(Base):
    """At most one crawl per source: held by the process recording the run, from its start to its close."""

    __tablename__ = "source_locks"
    source_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    run_id: Mapped[int | None]
    pid: Mapped[int]
    hostname: Mapped[str] = mapped_column(String(255))
    acquired_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[dt.datetime | None]  # refreshed while held: another host's lock goes stale without it
    pgid: Mapped[int | None]  # the process group of the crawl's `scrapy crawl` child
