"""Configuration from the environment: the one place that reads FUNDWATCH_* variables.

Secrets (SMTP password, secret key) only ever come from here, never from files in the repo.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fundwatch.errors import UserError

# name -> (default, what it is); the README's configuration table is this list.
VARIABLES: dict[str, tuple[str | None, str]] = {
    "FUNDWATCH_DATABASE_URL": ("sqlite:///fundwatch.db", "SQLAlchemy URL of the database"),
    "FUNDWATCH_SOURCES": (None, "sources file replacing the shipped fundwatch/sources.toml"),
    "FUNDWATCH_MIRROR": (None, "base URL of a mirror of the agency sites (tests, demo)"),
    "FUNDWATCH_CACHE_DIR": (".fundwatch/httpcache", "HTTP cache used to revalidate pages"),
    "FUNDWATCH_CRAWL_TIMEOUT": ("1800", "seconds before a crawl child process is killed"),
    "FUNDWATCH_STORAGE_RETRY": ("120", "seconds a run's begin and apply are retried while the database does not answer"),
    "FUNDWATCH_REMOVE_AFTER_MISSES": ("2", "healthy runs an item must be missing from before it is removed"),
    "FUNDWATCH_SMTP_URL": (None, "smtp://host:587 (STARTTLS) or smtps://host:465; unset: write .eml files"),
    "FUNDWATCH_SMTP_USER": (None, "SMTP user name"),
    "FUNDWATCH_SMTP_PASSWORD": (None, "SMTP password"),
    "FUNDWATCH_MAIL_FROM": ("fundwatch <fundwatch@localhost>", "From address of every email"),
    "FUNDWATCH_OUTBOX": ("outbox", "folder for .eml files when no SMTP URL is set"),
    "FUNDWATCH_PUBLIC_URL": ("http://127.0.0.1:8080", "base of every link in an email"),
    "FUNDWATCH_SECRET_KEY": (None, "key that signs subscription tokens"),
    "FUNDWATCH_ADMIN_EMAIL": (None, "operator address for alerts"),
    "FUNDWATCH_SEND_EMPTY_DIGEST": ("0", "1: also send digests with nothing in them"),
    "FUNDWATCH_TIMEZONE": ("Europe/Stockholm", "time zone of schedules, deadlines and digest weeks"),
    "FUNDWATCH_CRAWL_SCHEDULE": ("0 6 * * *", "cron expression of every crawl without its own `schedule`"),
    "FUNDWATCH_CRAWL_JITTER": ("300", "seconds of random delay (0..N) added to each scheduled crawl"),
    "FUNDWATCH_DIGEST_SCHEDULE": ("0 7 * * mon", "cron expression of the weekly digest"),
    "FUNDWATCH_ALERT_FAILURES": ("2", "failed runs in a row before a source is reported failing"),
    "FUNDWATCH_ALERT_SILENT_DAYS": ("21", "days without items before a source is reported silent"),
}


def env(name: str) -> str | None:
    """The variable's value, or its default; empty counts as unset."""
    value = os.environ.get(name, "").strip()
    return value or VARIABLES[name][0]


class ConfigError(UserError, ValueError):
    """An environment value that cannot be used."""


DATABASE_URL = re.compile(r"(sqlite|postgresql|postgres)(\+\w+)?://.*", re.S)


def database_url() -> str:
    url = env("FUNDWATCH_DATABASE_URL")
    if not DATABASE_URL.fullmatch(url):  # type: ignore[arg-type]
        shown = "" if "@" in url else f": {url!r}"  # type: ignore[operator] # never a password
        raise ConfigError(f"FUNDWATCH_DATABASE_URL is not a sqlite or postgresql URL{shown} "
                          "(e.g. sqlite:///fundwatch.db or postgresql://user@host/db)")
    return url  # type: ignore[return-value]


def whole_number(name: str, minimum: int = 0) -> int:
    """The variable NAME as a whole number of at least MINIMUM, or a ConfigError saying so."""
    raw = env(name)
    try:
        value = int(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {value}")
    return value


def seconds(name: str) -> float:
    """The variable NAME as a positive number of seconds."""
    raw = env(name)
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number of seconds, not {raw!r}") from None
    if not 0 < value < float("inf"):
        raise ConfigError(f"{name} must be more than 0 seconds, not {raw}")
    return value


def flag(name: str) -> bool:
    raw = (env(name) or "").lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be 1 or 0, not {raw!r}")


def public_url() -> str:
    url = env("FUNDWATCH_PUBLIC_URL").rstrip("/")  # type: ignore[union-attr]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"FUNDWATCH_PUBLIC_URL must be an http(s) URL, not {url!r}")
    return url


def timezone(name: str | None = None) -> ZoneInfo:
    """The zone of deadlines, schedules and digest weeks: NAME, else FUNDWATCH_TIMEZONE."""
    name = name or env("FUNDWATCH_TIMEZONE")
    try:
        return ZoneInfo(name)  # type: ignore[arg-type]
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone {name!r} (FUNDWATCH_TIMEZONE takes an IANA name, "
                          "e.g. Europe/Stockholm)") from None


def outbox() -> Path:
    """The folder for .eml files; a path that is a file (or under one) is a one-line error when read."""
    path = Path(env("FUNDWATCH_OUTBOX"))  # type: ignore[arg-type]
    for part in (path, *path.parents):
        if part.exists() and not part.is_dir():
            raise ConfigError(f"FUNDWATCH_OUTBOX must be a folder, but {str(part)!r} is a file")
    return path


def cache_dir() -> Path:
    return Path(env("FUNDWATCH_CACHE_DIR")).absolute()  # type: ignore[arg-type]


@dataclass(frozen=True)
class MailSettings:
    smtp_url: str | None
    user: str | None
    password: str | None
    mail_from: str
    outbox: Path
    public_url: str
    admin_email: str | None

    @classmethod
    def from_env(cls) -> "MailSettings":
        return cls(
            smtp_url=env("FUNDWATCH_SMTP_URL"),
            user=env("FUNDWATCH_SMTP_USER"),
            password=env("FUNDWATCH_SMTP_PASSWORD"),
            mail_from=env("FUNDWATCH_MAIL_FROM"),  # type: ignore[arg-type]
            outbox=outbox(),
            public_url=public_url(),
            admin_email=env("FUNDWATCH_ADMIN_EMAIL"),
        )
