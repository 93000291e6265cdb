"""Shared pieces of the scheduler, lock and alert tests (no tests here): sources files, the mirror,
a server that accepts connections and never answers (a hung site), waiting for a condition."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

from fundwatch.mirror_server import MirrorServer

TESTS = Path(__file__).parent
STATE1 = TESTS / "mirror" / "state1"
MUCF = "mucf-statsbidrag"
MUCF_URL = "https://www.mucf.se/bidrag/statsbidrag"
SOCIALSTYRELSEN = "socialstyrelsen-statsbidrag"


def write_sources(folder: Path, sources: list[dict], name: str = "sources.toml") -> str:
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


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


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


def env_with(**values: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(values)
    return env
