"""One polite daily cycle: sources grouped by host; crawls of one host, in any number of processes,
send it one request at a time, at least its delay (or its robots.txt Crawl-delay) apart; different
hosts are crawled at the same time."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from fundwatch.hosts import host_groups, last_request, record_request, release, try_hold
from fundwatch.mirror_server import MirrorServer
from fundwatch.sources import Source
from helpers import crawl_args, run_cli

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
    assert len(county) == 8  # robots.txt and the page, for each of 4 crawls (processes)
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
    assert len(county) == 4
    # robots.txt states the delay; every request after it waits it, in its crawl and the next
    gaps = [b.started - a.finished for a, b in zip(county, county[1:])]
    assert min(gaps) >= 1.5 - 0.01, gaps
    assert max(b.started - a.finished for a, b in zip(hosts["www.mucf.se"], hosts["www.mucf.se"][1:])) < 1.0


def overlap(a, b) -> bool:
    return a.started < b.finished and b.started < a.finished


@pytest.mark.slow
def test_a_host_without_a_pace_gets_the_per_domain_concurrency_from_one_crawl_only(tmp_path, monkeypatch):
    """A loopback mirror (no delay, CONCURRENT_REQUESTS_PER_DOMAIN 4): one crawl's requests overlap,
    two crawls of the host never do, and robots.txt is alone on the host."""
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
    with MirrorServer(root) as server:
        monkeypatch.setenv("FUNDWATCH_MIRROR", server.url)
        result = run_cli(*crawl_args(sources=sources), "--set", "DOWNLOAD_DELAY=0",
                         "--set", "CONCURRENT_REQUESTS_PER_DOMAIN=4")
        log = list(server.log)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": ok (run") == 2, result.stdout + result.stderr
    pages = {name: [e for e in log if e.path.startswith(f"/www.lansstyrelsen.se/{name}/")] for name in ("a", "b")}
    robots = [e for e in log if e.path.endswith("/robots.txt")]
    assert len(pages["a"]) == len(pages["b"]) == 4 and len(robots) == 2
    assert not [(x.path, y.path) for x in pages["a"] for y in pages["b"] if overlap(x, y)], "two crawls at once"
    assert not [(r.path, e.path) for r in robots for e in log if e is not r and overlap(r, e)]
    for name in ("a", "b"):
        assert any(overlap(x, y) for x in pages[name] for y in pages[name] if x is not y), f"{name}: one at a time"
