"""A static server for a mirror of the agency sites (the convention in the README, `FUNDWATCH_MIRROR`):
`/HOST/PATH` is served from `ROOT/HOST/PATH`; a folder from its index.html, with or without a
trailing slash; a file without an extension is HTML; the query string is ignored. A path ending in
a date with no file of that date (an API's changes-since-DATE, asked with a later date than the
mirror holds) is served the newest file dated on or before it: a superset of what changed since.

`ROOT/_responses.toml` can make a path answer otherwise, as a broken site does:
    ["www.example.se/hub"]
    status = 503
    headers = { Retry-After = "1" }
`delay = SECONDS` makes a path answer late (a hung site, for timeout tests). Without `status`,
`body` or `location`, `headers` are added to the file's own answer (a wrong charset header);
`cut = BYTES` sends the file without a length header and closes the connection after BYTES (a
dropped connection; more than the file's size sends it whole, close-delimited).
With `validators=True` the server sends ETag and Last-Modified and answers 304 to a matching
If-None-Match / If-Modified-Since. TCP_NODELAY is set: without it a keep-alive client stalls
~40 ms per response and any timing is meaningless.
"""

from __future__ import annotations

import email.utils
import hashlib
import mimetypes
import re
import socket
import threading
import time
import tomllib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass
class LoggedRequest:
    method: str
    path: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    bytes_sent: int = 0
    started: float = 0.0  # time.time() when the request arrived and when its answer was sent:
    finished: float = 0.0  # a per-host request log (bench/daily_cycle.py checks no overlap)

    @property
    def host(self) -> str:
        return self.path.lstrip("/").split("/", 1)[0]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server: "MirrorServer"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format, *args) -> None:  # noqa: A002 - quiet; requests go to .log
        pass

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_GET(self) -> None:
        self._serve(head=False)

    def _serve(self, head: bool) -> None:
        started = time.time()
        path = urlsplit(self.path).path
        key = unquote(path).strip("/")
        status, headers, body = self.server.resolve(key, self.headers)
        cut = headers.pop("X-Mirror-Cut", None)
        if cut is not None:
            body, self.close_connection = body[:int(cut)], True
            headers["Connection"] = "close"
        else:
            headers.setdefault("Content-Length", str(len(body)))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if not head and status != 304:
            self.wfile.write(body)
        with self.server.log_lock:
            self.server.log.append(LoggedRequest("HEAD" if head else "GET", path, status,
                                                 dict(self.headers.items()), 0 if head else len(body),
                                                 started, time.time()))


class MirrorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's listen backlog is 5: a crawler opening more connections at once has the
    # rest dropped and retried after the SYN timeout.
    request_queue_size = 128

    def __init__(self, root: Path, host: str = "127.0.0.1", port: int = 0, validators: bool = False):
        super().__init__((host, port), _Handler)
        self.root = Path(root)
        self.validators = validators
        self.log: list[LoggedRequest] = []
        self.log_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def set_root(self, root: Path) -> None:
        """Switch the mirror to another state (e.g. state1 -> state2) without restarting."""
        self.root = Path(root)

    def _overrides(self) -> dict:
        path = self.root / "_responses.toml"
        return tomllib.loads(path.read_text("utf-8")) if path.exists() else {}

    def _file_for(self, key: str) -> Path | None:
        if ".." in key.split("/"):
            return None
        candidate = self.root / key
        if candidate.is_dir():
            candidate = candidate / "index.html"
        if not candidate.is_file() and ISO_DAY.fullmatch(candidate.name) and candidate.parent.is_dir():
            earlier = sorted(p for p in candidate.parent.iterdir()
                             if ISO_DAY.fullmatch(p.name) and p.name <= candidate.name and p.is_file())
            candidate = earlier[-1] if earlier else candidate
        return candidate if candidate.is_file() else None

    def resolve(self, key: str, request_headers) -> tuple[int, dict[str, str], bytes]:
        override = self._overrides().get(key)
        if override and "delay" in override:
            time.sleep(float(override["delay"]))
            override = {k: v for k, v in override.items() if k != "delay"}
        extra = {}
        if override and not {"status", "body", "location"} & override.keys():
            extra = {k: str(v) for k, v in override.get("headers", {}).items()}
            if "cut" in override:
                extra["X-Mirror-Cut"] = str(override["cut"])
            override = None
        if override:
            headers = {k: str(v) for k, v in override.get("headers", {}).items()}
            if "location" in override:
                headers["Location"] = override["location"]
            body = override.get("body", "").encode()
            headers.setdefault("Content-Type", "text/html; charset=utf-8")
            return int(override.get("status", 200)), headers, body
        path = self._file_for(key)
        if path is None:
            return 404, {"Content-Type": "text/html; charset=utf-8"}, b"<h1>404 Not Found</h1>"
        body = path.read_bytes()
        ctype = mimetypes.guess_type(path.name)[0] if path.suffix else None
        if path.name.endswith(".gz"):
            ctype = "application/gzip"  # sitemap1.xml.gz is a gzip file, not a compressed response
        if ctype is None or ctype == "text/html":
            ctype = "text/html; charset=utf-8"
        headers = {"Content-Type": ctype, **extra}
        if self.validators:
            etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
            headers["ETag"] = etag
            headers["Last-Modified"] = email.utils.formatdate(path.stat().st_mtime, usegmt=True)
            headers["Cache-Control"] = "no-cache"
            if request_headers.get("If-None-Match") == etag:
                return 304, headers, b""
        return 200, headers, body

    def start(self) -> "MirrorServer":
        self._thread = threading.Thread(target=self.serve_forever, name="mirror", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def __enter__(self) -> "MirrorServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def mirror_root() -> Path:
    """The project's own mirror of the agency sites (package data of fundwatch, read by the tests too)."""
    return Path(__file__).parent / "mirror"
