"""Shared pieces of the digest tests (no tests here): a three-source sources file, items and runs
written through storage.runs, subscribers, a real SMTP server on 127.0.0.1 (aiosmtpd) whose
handler can answer 4xx/5xx, drop the connection or block, and the `digest_env` fixture."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import socket
import time
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy.orm import Session

from spiders.items import FundItem, item_id, slugify
from storage.models import Run
from storage.outcome import RunOutcome
from storage.runs import finish_run, start_run

SOURCES_TOML = """
[agencies]
migrationsverket = "Migrationsverket"
brottsoffermyndigheten = "Brottsoffermyndigheten"
arbetsformedlingen = "Arbetsförmedlingen"

[[source]]
id = "migrationsverket"
agency = "migrationsverket"
spider = "migrationsverket"
urls = ["https://www.migrationsverket.se/sitemap1.xml.gz"]

[[source]]
id = "brottsoffermyndigheten"
agency = "brottsoffermyndigheten"
spider = "brottsoffermyndigheten"
urls = ["https://www.brottsoffermyndigheten.se/sok-projektmedel/"]

[[source]]
id = "arbetsformedlingen"
agency = "arbetsformedlingen"
spider = "arbetsformedlingen"
urls = ["https://arbetsformedlingen.se/for-leverantorer/upphandlingar-och-regelverk"]
"""
PUBLIC_URL = "https://fundwatch.example.org"
MAIL_FROM = "fundwatch <veckobrev@example.org>"
STOCKHOLM = dt.timezone(dt.timedelta(hours=2))  # CEST, for pinned times in May


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


AGENCY_PAGES = {
    "migrationsverket": ("migrationsverket", "https://www.migrationsverket.se/utlysningar"),
    "brottsoffermyndigheten": ("brottsoffermyndigheten", "https://www.brottsoffermyndigheten.se/sok-projektmedel/"),
    "arbetsformedlingen": ("arbetsformedlingen", "https://arbetsformedlingen.se/for-leverantorer/upphandlingar-och-regelverk"),
}


def make_item(agency: str, key: str, kind: str = "funding_call", **kw) -> FundItem:
    source, page = AGENCY_PAGES[agency]
    kw.setdefault("title", key)
    kw.setdefault("url", f"{page}/{slugify(key)}")
    kw.setdefault("origin", page)
    kw.setdefault("status", "open")
    item = FundItem(agency=agency, kind=kind, key=key, **kw)
    item.id, item.source = item_id(agency, kind, key), source
    return item


def crawl(engine, agency: str, items: list[FundItem], status: str = "ok", reason_code: str | None = None,
          reason_params: dict | None = None, remove_after: int = 1) -> Run:
    source, page = AGENCY_PAGES[agency]
    with Session(engine, expire_on_commit=False) as s:
        with s.begin():
            run_id = start_run(s, source, agency, source).id
        with s.begin():
            outcome = RunOutcome(status=status, reason_code=reason_code, reason_params=reason_params,
                                 fetched_pages={page} if status == "ok" else set())
            return finish_run(s, run_id, outcome, items, remove_after=remove_after)


def add_subscriber(email_addr: str, org: str = "Föreningen Exempel", confirmed: bool = True, **filters) -> int:
    from digest import subscribers as subs
    from storage.db import session_scope

    with session_scope() as session:
        f = subs.clean_filters(filters.get("agencies", ()), filters.get("kinds", ()), filters.get("keywords", ()),
                               filters.get("include_noncompetitive", False))
        outcome = subs.subscribe(session, email_addr, org, f, consent="import" if confirmed else "cli",
                                 imported_by="test" if confirmed else None)
        return outcome.subscriber.id


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def read_outbox(outbox: Path) -> dict[str, email.message.EmailMessage]:
    """{recipient address: message} of every .eml in the outbox."""
    out = {}
    for path in sorted(Path(outbox).glob("*.eml")):
        msg = parse(path.read_bytes())
        out[msg["To"].addresses[0].addr_spec] = msg
    return out


def text_part(msg) -> str:
    return msg.get_body(("plain",)).get_content()


def html_part(msg) -> str:
    return msg.get_body(("html",)).get_content()


class Handler:
    """aiosmtpd handler. `replies[address] = (stage, "450 ...")` answers RCPT or DATA for that
    address; `drop[address]` closes the connection after the DATA of that address without a reply;
    `block_after=n` holds the n-th accepted message's reply until `blocking` is cleared;
    `offer_8bitmime = False` leaves 8BITMIME out of the EHLO reply. `mail_options` holds the
    MAIL FROM parameters of each accepted message (e.g. BODY=8BITMIME)."""

    def __init__(self):
        self.messages: list[tuple[list[str], bytes]] = []
        self.mail_options: list[list[str]] = []
        self.offer_8bitmime = True
        self.sessions: set[int] = set()
        self.replies: dict[str, tuple[str, str]] = {}
        self.drop: set[str] = set()
        self.block_after: int | None = None
        self.blocking = True
        self.delay = 0.0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname  # this hook's duty in aiosmtpd
        return [r for r in responses if self.offer_8bitmime or "8BITMIME" not in r]

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        stage, reply = self.replies.get(address, ("", ""))
        if stage == "rcpt":
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.sessions.add(id(session))
        for address in envelope.rcpt_tos:
            stage, reply = self.replies.get(address, ("", ""))
            if stage == "data":
                return reply
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        self.mail_options.append(list(envelope.mail_options))
        if self.delay:
            await asyncio.sleep(self.delay)
        if any(a in self.drop for a in envelope.rcpt_tos):
            server.transport.close()
            return "250 never seen"
        if self.block_after is not None and len(self.messages) >= self.block_after:
            while self.blocking:
                await asyncio.sleep(0.05)
        return "250 Message accepted for delivery"

    def recipients(self) -> list[str]:
        return [r for rcpts, _ in self.messages for r in rcpts]


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


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
