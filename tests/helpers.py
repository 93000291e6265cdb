"""Test helpers: saved pages as Scrapy responses (City Scrapers' file_response), spiders bound to
a source without a crawl, sources files, the CLI in a child process, a site that hangs, waiting for
a condition. Fixtures live in conftest.py."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import http.client
import http.server
import os
import re
import select
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from contextlib import contextmanager
from pathlib import Path

from scrapy.http import HtmlResponse, Request, Response, TextResponse, XmlResponse
from sqlalchemy.orm import Session

from fundwatch.digest.filters import clean_filters
from fundwatch.items import FundItem, item_id, slugify
from fundwatch.mirror_server import mirror_root
from fundwatch.storage.models import Run
from fundwatch.storage.outcome import RunOutcome
from fundwatch.storage.runlife import finish_run, start_run

TESTS = Path(__file__).parent
MIRROR = mirror_root()
STATE1 = MIRROR / "state1"
MUCF = "mucf-statsbidrag"
MUCF_URL = "https://www.mucf.se/bidrag/statsbidrag"
SOCIALSTYRELSEN = "socialstyrelsen-statsbidrag"


def file_response(path: str | Path, url: str, meta: dict | None = None) -> Response:
    """A response for URL whose body is the saved file at PATH (relative to tests/ or absolute)."""
    path = Path(path)
    if not path.is_absolute():
        path = TESTS / path
    if path.is_dir():
        path = path / "index.html"
    body = path.read_bytes()
    request = Request(url=url, meta=meta or {})
    if path.suffix in (".pdf", ".gz"):
        return Response(url=url, body=body, request=request)
    if path.suffix == ".xml":
        return XmlResponse(url=url, body=body, request=request)
    if path.suffix in (".html", ""):
        return HtmlResponse(url=url, body=body, request=request, encoding="utf-8")
    return TextResponse(url=url, body=body, request=request, encoding="utf-8")


def mirror_response(state: str, url: str, meta: dict | None = None) -> Response:
    """The mirror's copy of URL in STATE (state1, state2, broken) as a response carrying URL."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    return file_response(MIRROR / state / parts.netloc / unquote(parts.path).strip("/"), url, meta)


def make_spider(spider_cls, source: str | None = None, sources_file: str | None = None):
    """A spider bound to its source (from the sources file) without running a crawl."""
    from scrapy.utils.test import get_crawler

    crawler = get_crawler(spider_cls, {"FUNDWATCH_SOURCES": sources_file} if sources_file else None)
    return spider_cls.from_crawler(crawler, source=source)


def write_sources(path: Path, entries: list[dict]) -> Path:
    """A sources file with ENTRIES ({id, agency, spider, urls, must_carry?})."""
    lines = []
    for entry in entries:
        lines.append("[[source]]")
        for key, value in entry.items():
            if isinstance(value, (list, tuple)):
                lines.append(f"{key} = [" + ", ".join(f'"{v}"' for v in value) + "]")
            else:
                lines.append(f'{key} = "{value}"')
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def run_cli(*args: str, env: dict | None = None, timeout: float = 120):
    """`fundwatch ARGS` in a child process, as a user runs it."""
    import os

    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "fundwatch.cli", *args], env=full_env, capture_output=True,
                          text=True, timeout=timeout, cwd=str(TESTS.parent))


def crawl_args(*source_ids: str, sources: Path | None = None) -> list[str]:
    """Arguments for `fundwatch crawl` against a loopback mirror: no politeness delays."""
    from fundwatch.crawl import FAST_SETTINGS

    args = ["crawl", *source_ids]
    if sources:
        args += ["--sources", str(sources)]
    for key, value in FAST_SETTINGS.items():
        args += ["--set", f"{key}={value}"]
    return args


def mirror_answers(server, overrides: dict[str, dict]) -> None:
    """Each path of OVERRIDES answers otherwise on the mirror SERVER (`_responses.toml`: status,
    location, delay, headers, ...), as a broken site does."""
    lines = []
    for key, override in overrides.items():
        lines.append(f'["{key}"]')
        for name, value in override.items():
            if isinstance(value, dict):
                lines.append(f"{name} = {{ " + ", ".join(f'"{k}" = "{v}"' for k, v in value.items()) + " }")
            elif isinstance(value, str):
                lines.append(f'{name} = "{value}"')
            else:
                lines.append(f"{name} = {value}")
    (server.root / "_responses.toml").write_text("\n".join(lines) + "\n", "utf-8")


def write_page_sources(folder: Path, sources: list[dict], name: str = "sources.toml") -> str:
    """A sources file of page sources: [{"id": ..., "url": ..., "schedule": ...}]."""
    lines = []
    for s in sources:
        lines += ["[[source]]", f'id = "{s["id"]}"', f'agency = "{s.get("agency", s["id"].split("-")[0])}"',
                  'spider = "page"', f'urls = ["{s.get("url", MUCF_URL)}"]']
        if s.get("schedule"):
            lines.append(f'schedule = "{s["schedule"]}"')
        lines.append("")
    path = folder / name
    path.write_text("\n".join(lines), "utf-8")
    return str(path)


class HungServer:
    """Accepts TCP connections and never answers: a site that hangs."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self) -> None:
        for conn in self.conns:
            conn.close()
        self.sock.close()


class LoopbackServer:
    """An HTTP server on 127.0.0.1 (a free port) answering with HANDLER, a thread per request."""

    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler]):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class HoldingServer(LoopbackServer):
    """An HTTP server that answers robots.txt at once (404) and holds every other request open
    until its client goes away, logging how many such requests were in flight at once: a site
    that sees whether a source is ever crawled twice at the same time."""

    def __init__(self):
        self.active = self.most = self.requests = 0
        self._guard = threading.Lock()
        self._closing = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path.endswith("/robots.txt"):
                    self.send_error(404)
                    return
                if server._closing.is_set():
                    return
                with server._guard:
                    server.requests += 1
                    server.active += 1
                    server.most = max(server.most, server.active)
                try:
                    while not server._closing.is_set():
                        readable, _, _ = select.select([self.connection], [], [], 0.1)
                        if readable and not self.connection.recv(1):
                            return  # the client is gone (killed, or gave up)
                finally:
                    with server._guard:
                        server.active -= 1

        super().__init__(Handler)

    def release(self) -> None:
        """Drop every held request unanswered (a download error for its client); hold none after."""
        self._closing.set()

    def close(self) -> None:
        self._closing.set()
        super().close()


class TcpProxy:
    """Forwards 127.0.0.1:PORT to TARGET (host, port) until cut(): then every connection through it
    is closed and new ones are refused, as a database that went down; restore() opens it again on
    the same port. A test cuts its own way to the shared PostgreSQL, never the server."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = free_port()
        self._conns: list[socket.socket] = []
        self._guard = threading.Lock()
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(32)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._guard:
                self._conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        if self._listener is not None:
            try:  # wakes the accept() blocked on it: close() alone would leave it listening
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._guard:
            conns, self._conns = self._conns, []
        for sock in conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    close = cut


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def env_with(**values: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(values)
    return env


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
    from fundwatch.digest import subscribers as subs
    from fundwatch.storage.db import session_scope

    with session_scope() as session:
        f = clean_filters(filters.get("agencies", ()), filters.get("kinds", ()), filters.get("keywords", ()),
                               filters.get("include_noncompetitive", False),
                               reminder_days=filters.get("reminder_days", 14), forms=filters.get("forms", ()),
                               regions=filters.get("regions", ()))
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
    """The text a mail client shows: an 8bit part read from the wire keeps its CRLFs."""
    return msg.get_body(("plain",)).get_content().replace("\r\n", "\n")


def html_part(msg) -> str:
    return msg.get_body(("html",)).get_content().replace("\r\n", "\n")


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


class Client:
    """http.client with a cookie store of one site."""

    def __init__(self, port: int):
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                cookies: bool = True):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = dict(headers or {})
        if cookies and self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read().decode("utf-8")
        for value in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name] = rest.split(";")[0]
        conn.close()
        return response, data

    def get(self, path: str, headers: dict | None = None):
        return self.request("GET", path, headers=headers)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def post(self, path: str, fields: list[tuple[str, str]] | dict, cookies: bool = True, headers: dict | None = None):
        """A form posted as a browser posts it from this site (Origin set), unless HEADERS say otherwise."""
        body = urllib.parse.urlencode(fields).encode()
        sent = {"Content-Type": "application/x-www-form-urlencoded", "Origin": self.origin, **(headers or {})}
        return self.request("POST", path, body, {k: v for k, v in sent.items() if v is not None}, cookies)

    def post_multipart(self, path: str, fields: dict[str, str]):
        boundary = uuid.uuid4().hex
        parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in fields.items()]
        body = ("".join(parts) + f"--{boundary}--\r\n").encode()
        return self.request("POST", path, body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}, False)

    def csrf(self, html: str) -> str:
        return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


@contextmanager
def web_server(app=None):
    """The web app (or APP) under uvicorn in a thread on a free port of 127.0.0.1 (database and
    settings from the environment; its lifespan too); yields its port."""
    import uvicorn

    from fundwatch.web.app import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app or create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, 10, what="the web app to start")
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)
