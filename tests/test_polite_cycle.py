"""One polite daily cycle: sources grouped by host, each group crawled whole by one child process (a
crawler per source); crawls of one host, in one process or several, send it one request at a time,
at least its delay (or its robots.txt Crawl-delay) apart, and read its robots.txt once; different
hosts are crawled at the same time."""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import sys
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import select

from fundwatch.crawl import crawl_batches
from fundwatch.hosts import host_groups, last_request, record_request, release, try_hold
from fundwatch.mirror_server import MirrorServer
from fundwatch.sources import Source
from fundwatch.storage.db import get_engine, session_scope
from fundwatch.storage.models import Run, SourceLock
from helpers import LoopbackServer, crawl_args, run_cli, wait_for

PAGE = "<html><body><main><h1>{title}</h1><p>Bidrag till ideella föreningar: {title}.</p></main></body></html>"


def source(sid: str, *urls: str) -> Source:
    return Source(id=sid, agency=sid, spider="page", urls=urls, must_carry=urls)


def test_sources_sharing_a_host_form_one_group_in_order():
    a = source("a", "https://www.lansstyrelsen.se/skane/tia/")
    b = source("b", "https://data.vinnova.se/api/utlysningar/{since}")
    c = source("c", "https://www.lansstyrelsen.se/kalmar/tia/")
    d = source("d", "https://integration.lansstyrelsen.se/", "https://www.lansstyrelsen.se/")  # joins a's group
    e = source("e", "https://integration.lansstyrelsen.se/bidrag/")
    assert [[s.id for s in g] for g in host_groups([a, b, c, d, e])] == [["a", "c", "d", "e"], ["b"]]


def test_a_host_is_held_by_one_process_at_a_time(crawl_env):
    held = try_hold("www.example.se")
    assert held is not None
    assert try_hold("www.example.se") is None  # another open file description: as another process would
    assert try_hold("www.other.se") is not None
    release(held)
    again = try_hold("www.example.se")
    assert again is not None
    release(again)
    record_request("www.example.se", 1000.0, 2.0)
    assert last_request("www.example.se") == (1000.0, 2.0)


def county_mirror(root: Path, n: int, robots: str | None = None) -> list[dict]:
    entries = []
    for i in range(n):
        page = root / "www.lansstyrelsen.se" / f"lan{i}" / "tia"
        page.mkdir(parents=True)
        (page / "index.html").write_text(PAGE.format(title=f"TIA län {i}"), "utf-8")
        entries.append({"id": f"lan{i}", "agency": "lansstyrelsen", "spider": "page",
                        "urls": [f"https://www.lansstyrelsen.se/lan{i}/tia/"]})
    other = root / "www.mucf.se" / "bidrag"
    other.mkdir(parents=True)
    (other / "index.html").write_text(PAGE.format(title="MUCF"), "utf-8")
    entries.append({"id": "mucf", "agency": "mucf", "spider": "page", "urls": ["https://www.mucf.se/bidrag/"]})
    if robots:
        (root / "www.lansstyrelsen.se" / "robots.txt").write_text(robots, "utf-8")
    return entries


def write(path: Path, entries: list[dict]) -> Path:
    lines = []
    for e in entries:
        lines += ["[[source]]", f'id = "{e["id"]}"', f'agency = "{e["agency"]}"', f'spider = "{e["spider"]}"',
                  "urls = [" + ", ".join(f'"{u}"' for u in e["urls"]) + "]", ""]
    path.write_text("\n".join(lines), "utf-8")
    return path


def by_host(log) -> dict[str, list]:
    hosts = defaultdict(list)
    for entry in log:
        hosts[entry.host].append(entry)
    return {h: sorted(es, key=lambda e: e.started) for h, es in hosts.items()}


def crawl_cycle(tmp_path, monkeypatch, n: int, delay: str, robots: str | None = None):
    root = tmp_path / "mirror"
    sources = write(tmp_path / "sources.toml", county_mirror(root, n, robots))
    monkeypatch.setenv("FUNDWATCH_DATABASE_URL", f"sqlite:///{tmp_path / 'fw.db'}")
    monkeypatch.setenv("FUNDWATCH_CACHE_DIR", str(tmp_path / "state" / "httpcache"))
    with MirrorServer(root) as server:
        monkeypatch.setenv("FUNDWATCH_MIRROR", server.url)
        result = run_cli(*crawl_args(sources=sources), "--set", f"DOWNLOAD_DELAY={delay}")
        log = list(server.log)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": ok (run") == n + 1, result.stdout + result.stderr
    return by_host(log)


@pytest.mark.slow
def test_one_host_one_request_at_a_time_and_its_delay_apart_across_crawls(tmp_path, monkeypatch):
    hosts = crawl_cycle(tmp_path, monkeypatch, n=4, delay="0.5")
    county = hosts["www.lansstyrelsen.se"]
    assert len(county) == 5  # robots.txt once, and the page of each of 4 sources (crawlers of one process)
    assert [e.path for e in county].count("/www.lansstyrelsen.se/robots.txt") == 1
    for a, b in zip(county, county[1:]):
        assert b.started >= a.finished, "two requests at once"
        assert b.started - a.finished >= 0.5 - 0.01
    # the other host was crawled meanwhile, not after
    other = hosts["www.mucf.se"]
    assert other[0].started < county[-1].started


@pytest.mark.slow
def test_a_crawl_delay_in_robots_txt_is_obeyed(tmp_path, monkeypatch):
    hosts = crawl_cycle(tmp_path, monkeypatch, n=2, delay="0", robots="User-agent: *\nCrawl-delay: 1.5\n")
    county = hosts["www.lansstyrelsen.se"]
    assert len(county) == 3  # robots.txt once for both sources
    # robots.txt states the delay; every request after it waits it, in the crawler that read it and the other
    gaps = [b.started - a.finished for a, b in zip(county, county[1:])]
    assert min(gaps) >= 1.5 - 0.01, gaps
    assert max(b.started - a.finished for a, b in zip(hosts["www.mucf.se"], hosts["www.mucf.se"][1:])) < 1.0


def overlap(a, b) -> bool:
    return a.started < b.finished and b.started < a.finished


@pytest.mark.slow
def test_a_host_without_a_pace_gets_the_per_domain_concurrency_from_one_crawl_only(tmp_path, monkeypatch):
    """A loopback mirror (no delay, CONCURRENT_REQUESTS_PER_DOMAIN 4): the requests of one crawl
    process overlap, two crawl processes at the host at once never do, and robots.txt is alone on it."""
    root = tmp_path / "mirror"
    entries, slow = [], []
    for name in ("a", "b"):
        urls = []
        for i in range(4):
            page = root / "www.lansstyrelsen.se" / name / f"sida{i}"
            page.mkdir(parents=True)
            (page / "index.html").write_text(PAGE.format(title=f"{name} {i}"), "utf-8")
            urls.append(f"https://www.lansstyrelsen.se/{name}/sida{i}/")
            slow.append(f'["www.lansstyrelsen.se/{name}/sida{i}"]\ndelay = 0.3\n')
        entries.append({"id": name, "agency": "lansstyrelsen", "spider": "page", "urls": urls})
    (root / "_responses.toml").write_text("\n".join(slow), "utf-8")
    sources = write(tmp_path / "sources.toml", entries)
    monkeypatch.setenv("FUNDWATCH_DATABASE_URL", f"sqlite:///{tmp_path / 'fw.db'}")
    monkeypatch.setenv("FUNDWATCH_CACHE_DIR", str(tmp_path / "state" / "httpcache"))
    assert run_cli("db", "upgrade").returncode == 0  # a deployed database: the two do not race to create it
    with MirrorServer(root) as server:
        monkeypatch.setenv("FUNDWATCH_MIRROR", server.url)
        with ThreadPoolExecutor(2) as pool:  # two `fundwatch crawl` processes at once, one source each
            results = list(pool.map(lambda name: run_cli(*crawl_args(name, sources=sources), "--set", "DOWNLOAD_DELAY=0",
                                                         "--set", "CONCURRENT_REQUESTS_PER_DOMAIN=4"), ("a", "b")))
        log = list(server.log)
    for result in results:
        assert result.returncode == 0, result.stderr
        assert ": ok (run" in result.stdout, result.stdout + result.stderr
    pages = {name: [e for e in log if e.path.startswith(f"/www.lansstyrelsen.se/{name}/")] for name in ("a", "b")}
    robots = [e for e in log if e.path.endswith("/robots.txt")]
    assert len(pages["a"]) == len(pages["b"]) == 4 and len(robots) == 2
    assert not [(x.path, y.path) for x in pages["a"] for y in pages["b"] if overlap(x, y)], "two crawls at once"
    assert not [(r.path, e.path) for r in robots for e in log if e is not r and overlap(r, e)]
    for name in ("a", "b"):
        assert any(overlap(x, y) for x in pages[name] for y in pages[name] if x is not y), f"{name}: one at a time"


# -- a group's sources in one process: each its own run, outcome, timeout and log -------------------
class HalfHungSite(LoopbackServer):
    """/hang/ never answers (until the test ends), every other page answers at once."""

    def __init__(self):
        self.closing = threading.Event()
        self.robots_status = 404
        self.robots_asked = 0
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path.endswith("/robots.txt"):
                    site.robots_asked += 1
                    self.send_error(site.robots_status)
                    return
                if "/hang/" in self.path:
                    site.closing.wait(120)
                    return
                body = PAGE.format(title=f"Sidan {self.path}").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        super().__init__(Handler)

    def close(self) -> None:
        self.closing.set()
        super().close()


@pytest.fixture
def half_hung(tmp_path, monkeypatch):
    site = HalfHungSite()
    monkeypatch.setenv("FUNDWATCH_DATABASE_URL", f"sqlite:///{tmp_path / 'fw.db'}")
    monkeypatch.setenv("FUNDWATCH_CACHE_DIR", str(tmp_path / "state" / "httpcache"))
    monkeypatch.setenv("FUNDWATCH_MIRROR", site.url)
    # One group through www.lansstyrelsen.se; the slow source's second page, on a host of its own,
    # never answers (on the shared host it would hold every source's turn, as politeness asks).
    entries = [{"id": sid, "agency": "lansstyrelsen", "spider": "page",
                "urls": [f"https://www.lansstyrelsen.se/{sid}/tia/"]} for sid in ("fast", "slow", "quick")]
    entries[1]["urls"].append("https://integration.lansstyrelsen.se/hang/")
    yield site, write(tmp_path / "sources.toml", entries)
    site.close()


def run_rows(tmp_path) -> dict[str, tuple[str, str | None]]:
    engine = get_engine(f"sqlite:///{tmp_path / 'fw.db'}")
    with session_scope(engine) as session:
        rows = {r.source_id: (r.status, r.reason_code) for r in session.scalars(select(Run))}
        locks = list(session.scalars(select(SourceLock)))
    assert locks == []
    return rows


@pytest.mark.slow
def test_a_source_over_its_timeout_fails_alone_and_each_source_keeps_its_own_log(tmp_path, half_hung):
    _, sources = half_hung
    result = run_cli(*crawl_args(sources=sources), "--timeout", "4", "--set", "DOWNLOAD_TIMEOUT=30",
                     "--set", "RETRY_TIMES=0", timeout=90)
    assert result.returncode == 0, result.stderr
    assert "fast: ok (run" in result.stdout and "quick: ok (run" in result.stdout
    assert "slow: failed (run" in result.stdout and "the crawl was stopped after 4 s (timeout)" in result.stdout
    assert run_rows(tmp_path) == {"fast": ("ok", None), "quick": ("ok", None), "slow": ("failed", "timeout")}
    logs = tmp_path / "state" / "logs"
    fast = (logs / "fast.log").read_text("utf-8")
    assert "run 1 of fast started" in fast and "slow" not in fast and "quick" not in fast
    assert "run 2 of slow started" in (logs / "slow.log").read_text("utf-8")
    assert (logs / "group-fast.log").exists()  # the process's own output, all sources together


@pytest.mark.slow
def test_a_crash_of_the_group_process_fails_the_runs_it_had_and_keeps_those_it_finished(tmp_path, half_hung):
    _, sources = half_hung
    proc = subprocess.Popen([sys.executable, "-m", "fundwatch.cli", *crawl_args(sources=sources),
                             "--set", "DOWNLOAD_TIMEOUT=60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    engine = get_engine(f"sqlite:///{tmp_path / 'fw.db'}")

    def finished_and_slow_held():
        with session_scope(engine) as session:
            done = {r.source_id for r in session.scalars(select(Run).where(Run.status == "ok"))}
            lock = session.get(SourceLock, "slow")
            return lock.pgid if done == {"fast", "quick"} and lock is not None and lock.pgid else None

    try:
        group = wait_for(finished_and_slow_held, timeout=60, what="the fast sources' runs and the slow one's lock")
        os.killpg(group, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert "slow: failed (run" in stdout and "the crawl process exited with code -9 before closing its run" in stdout
    assert run_rows(tmp_path) == {"fast": ("ok", None), "quick": ("ok", None), "slow": ("failed", "crashed")}


@pytest.mark.slow
def test_robots_txt_read_once_for_a_host_counts_in_every_run_of_its_sources(tmp_path, half_hung):
    """One crawler fetches the host's robots.txt for the process; each source's run still knows
    what it answered: a 503 (disallow all, RFC 9309) fails them all, with the reason."""
    site, sources = half_hung
    site.robots_status = 503
    result = run_cli(*crawl_args("fast", "quick", sources=sources), "--set", "RETRY_TIMES=0", timeout=90)
    assert result.returncode == 0, result.stderr
    reason = "robots.txt of www.lansstyrelsen.se could not be read (HTTP 503); assumed disallow"
    assert result.stdout.count(f"— {reason}") == 2, result.stdout
    assert site.robots_asked == 1
    rows = run_rows(tmp_path)
    assert rows == {"fast": ("failed", "robots_unreachable"), "quick": ("failed", "robots_unreachable")}


def test_a_crawl_child_per_core_the_longest_host_groups_alone_the_others_together():
    counties = [source(f"lan{i}", f"https://www.lansstyrelsen.se/lan{i}/tia/") for i in range(3)]
    tia = source("tia", *[f"https://www.lansstyrelsen.se/lan{i}/bidrag/" for i in range(5)])
    esf = [source("esf", "https://www.esf.se/utlysningar/"), source("esf-plan", "https://www.esf.se/plan/")]
    mucf, sst = source("mucf", "https://www.mucf.se/bidrag"), source("sst", "https://www.myndighetensst.se/")
    batches = crawl_batches([mucf, *counties, esf[0], sst, tia, esf[1]], processes=2)
    assert [[s.id for s in b] for b in batches] == [["lan0", "lan1", "lan2", "tia"], ["esf", "esf-plan", "mucf", "sst"]]
    assert [[s.id for s in b] for b in crawl_batches([mucf, *esf, sst], processes=4)] == [
        ["esf", "esf-plan"], ["mucf"], ["sst"]]  # a group is never split, and never waits for another
