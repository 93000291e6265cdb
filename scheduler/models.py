"""Alert state per source (schema: storage/migrations/versions/0003_alerts.py). One row per source
that has been evaluated; an email goes out only when `state` changes."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fundwatch.storage.models import Base, utcnow

JOBS_TABLE = "apscheduler_jobs"  # created and owned by APScheduler's SQLAlchemyJobStore

OK, FAILING, SILENT = "ok", "failing", "silent"
ALERT_STATES = (OK, FAILING, SILENT)


class AlertState(Base):
    __tablename__ = "alert_states"

    source_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    state: Mapped[str] = mapped_column(String(20), default=OK)  # ok | failing | silent
    since: Mapped[dt.datetime] = mapped_column(default=utcnow)  # when this state was entered
    detail: Mapped[str] = mapped_column(Text, default="")  # why, in English
    notified_at: Mapped[dt.datetime | None]  # when the operator was told of this state (None: not told)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
