"""What a crawl records when sites misbehave, through real `fundwatch crawl` child processes
against a mirror on 127.0.0.1: robots.txt, HTTP errors, redirects, revalidation, a killed crawl."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from fundwatch.mirror_server import MirrorServer
from fundwatch.spiders.mirror import from_mirror, to_mirror
from fundwatch.storage.db import get_engine, session_scope
from fundwatch.storage.models import Item, Run, SourceLock
from helpers import MIRROR, crawl_args, mirror_answers, run_cli, write_sources

PAGE = "https://www.mucf.se/bidrag/statsbidrag"
OTHER = "https://statsbidrag.socialstyrelsen.se/organisationer/"


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    root = tmp_path / "mirror"
    shutil.copytree(MIRROR / "state1", root, ignore=shutil.ignore_patterns("_responses.toml"))
    monkeypatch.setenv("FUNDWATCH_CACHE_DIR", str(tmp_path / "cache"))
    server = MirrorServer(root).start()
    monkeypatch.setenv("FUNDWATCH_MIRROR", server.url)
    yield server
    server.stop()


@pytest.fixture
def sources(tmp_path):
    return write_sources(tmp_path / "sources.toml", [
        {"id": "mucf", "agency": "mucf", "spider": "page", "urls": [PAGE]},
        {"id": "two", "agency": "mucf", "spider": "page", "urls": [PAGE, OTHER], "must_carry": [PAGE]},
    ])


def crawl(sources, source="mucf", *extra):
    result = run_cli(*crawl_args(source, sources=sources), *extra)
    return result


def runs():
    return json.loads(run_cli("runs", "--format", "json").stdout)


def test_mirror_url_mapping_keeps_query_and_encoding():
    base = "http://127.0.0.1:8765"
    url = "https://www.migrationsverket.se/Andra-aktorer/EU-fonder/Nyheter%20f%C3%B6r/x.html?y=2026"
    mirrored = to_mirror(url, base)
    assert mirrored == "http://127.0.0.1:8765/www.migrationsverket.se/Andra-aktorer/EU-fonder/Nyheter%20f%C3%B6r/x.html?y=2026"
    assert from_mirror(mirrored, base) == url
    assert from_mirror("https://elsewhere.se/a", base) == "https://elsewhere.se/a"


@pytest.mark.slow
def test_redirect_from_the_mirror_maps_back_to_the_real_host(sqlite_url, mirror, tmp_path):
    old = "https://www.mucf.se/gammal-sida"
    mirror_answers(mirror, {"www.mucf.se/gammal-sida": {"status": 301, "location": "/www.mucf.se/bidrag/statsbidrag"}})
    sources = write_sources(tmp_path / "redirect.toml", [{"id": "r", "agency": "mucf", "spider": "page", "urls": [old]}])
    result = crawl(sources, "r")
    assert result.returncode == 0 and "r: ok" in result.stdout, result.stdout + result.stderr
    [item] = json.loads(run_cli("calls", "--format", "json").stdout)
    assert item["url"] == PAGE  # the redirect target, on the real host


@pytest.mark.slow
def test_robots_txt_answering_503_fails_the_run_and_fetches_nothing(db_url, mirror, sources):
    mirror_answers(mirror, {"www.mucf.se/robots.txt": {"status": 503}})
    result = crawl(sources)
    assert result.returncode == 0  # a failed run is still a recorded run
    [run] = runs()
    assert run["status"] == "failed"
    assert "robots.txt of www.mucf.se could not be read" in run["reason"]
    assert not any(r.path == "/www.mucf.se/bidrag/statsbidrag" for r in mirror.log)


@pytest.mark.slow
def test_robots_txt_disallow_is_obeyed_and_fails_the_run(sqlite_url, mirror, sources):
    (mirror.root / "www.mucf.se" / "robots.txt").write_text("User-agent: *\nDisallow: /bidrag/\n")
    crawl(sources)
    [run] = runs()
    assert run["status"] == "failed" and "robots.txt forbids https://www.mucf.se/bidrag/statsbidrag" == run["reason"]
    assert not any(r.path.startswith("/www.mucf.se/bidrag") for r in mirror.log)


@pytest.mark.slow
def test_404_on_a_start_page_fails_the_run_and_removes_nothing(db_url, mirror, sources):
    assert crawl(sources).returncode == 0
    mirror_answers(mirror, {"www.mucf.se/bidrag/statsbidrag": {"status": 404}})
    for _ in range(3):
        crawl(sources)
    statuses = [r["status"] for r in runs()]
    assert statuses == ["failed", "failed", "failed", "ok"]  # newest first
    assert runs()[0]["reason"] == f"{PAGE} answered HTTP 404"
    calls = json.loads(run_cli("calls", "--all", "--format", "json").stdout)
    assert [c["status"] for c in calls] == ["unknown"]  # still there, not removed
    assert [c["change"] for c in json.loads(run_cli("history", "--format", "json").stdout)] == ["new"]


@pytest.mark.slow
def test_503_is_retried_with_retry_after_then_fails_the_run(sqlite_url, mirror, sources):
    mirror_answers(mirror, {"statsbidrag.socialstyrelsen.se/organisationer": {"status": 503, "headers": {"Retry-After": "1"}}})
    started = time.monotonic()
    result = crawl(sources, "two", "--set", "FUNDWATCH_RETRY_AFTER_MAX=0.5")
    assert result.returncode == 0
    [run] = runs()
    assert (run["status"], run["reason"]) == ("failed", f"{OTHER} answered HTTP 503")  # a start page
    assert run["items"] == 1  # the rest of the run went on
    hits = [r for r in mirror.log if r.path == "/statsbidrag.socialstyrelsen.se/organisationer/"]
    assert len(hits) == 3  # first try + RETRY_TIMES=2
    assert time.monotonic() - started >= 1.0  # two waits of Retry-After, capped at 0.5 s each


@pytest.mark.slow
def test_revalidation_yields_every_item_from_304_responses(db_url, tmp_path, monkeypatch, sources):
    root = tmp_path / "etag-mirror"
    shutil.copytree(MIRROR / "state1", root, ignore=shutil.ignore_patterns("_responses.toml"))
    monkeypatch.setenv("FUNDWATCH_CACHE_DIR", str(tmp_path / "cache"))
    with MirrorServer(root, validators=True) as server:
        monkeypatch.setenv("FUNDWATCH_MIRROR", server.url)
        for _ in range(3):
            assert crawl(sources, "two").returncode == 0
        page_hits = [r for r in server.log if not r.path.endswith("robots.txt")]
    assert [r.status for r in page_hits] == [200, 200, 304, 304, 304, 304]
    assert all(r.bytes_sent == 0 for r in page_hits[2:])
    assert "If-None-Match" in page_hits[-1].headers
    assert [(r["status"], r["items"]) for r in runs()] == [("ok", 2)] * 3
    calls = json.loads(run_cli("calls", "--format", "json").stdout)
    assert len(calls) == 2  # a quiet week is not an empty site: nothing removed


@pytest.mark.slow
def test_killed_crawl_leaves_no_half_state_and_is_recorded_as_interrupted(db_url, mirror, sources, tmp_path):
    mirror_answers(mirror, {"statsbidrag.socialstyrelsen.se/organisationer": {"delay": 60}})
    spools = tmp_path / "spool"  # beside the cache (FUNDWATCH_CACHE_DIR) and the logs
    # A `scrapy crawl` on its own records its run itself.
    env = dict(os.environ, SCRAPY_SETTINGS_MODULE="fundwatch.spiders.settings")
    cmd = [sys.executable, "-m", "scrapy", "crawl", "page", "-a", "source=two", "-a", f"sources_file={sources}",
           "-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=0"]
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    engine = get_engine(db_url)

    def spooled() -> int:
        return sum(len(p.read_text("utf-8").splitlines()) for p in spools.glob("run-*.jsonl"))

    deadline = time.monotonic() + 30
    while spooled() == 0 and time.monotonic() < deadline:  # the fast page's item is spooled...
        time.sleep(0.1)
    assert spooled() == 1
    child.send_signal(signal.SIGKILL)  # ...while the slow page hangs
    child.wait()
    with session_scope(engine) as s:
        assert [r.status for r in s.scalars(select(Run))] == ["running"]
        assert s.scalar(select(func.count()).select_from(Item)) == 0  # nothing half-applied
        assert s.get(SourceLock, "two") is not None  # its lock is left behind, stale

    mirror_answers(mirror, {})
    result = crawl(sources, "two")  # the next crawl recovers both
    assert result.returncode == 0, result.stderr
    assert "two: ok (run 2): 2 pages, 2 items; 2 new" in result.stdout  # the killed crawl's item was never applied
    statuses = [(r["status"], r["reason"]) for r in runs()]
    assert statuses[0][0] == "ok"
    assert statuses[1] == ("failed", "the crawl process ended without closing its run")
    assert list(spools.iterdir()) == []  # the killed crawl's spool went with its run


@pytest.mark.slow
def test_page_over_the_size_limit_fails_alone_and_the_run_goes_on(sqlite_url, mirror, sources):
    big = mirror.root / "statsbidrag.socialstyrelsen.se" / "organisationer" / "index.html"
    big.write_text(big.read_text("utf-8").replace("</body>", "<p>" + "utfyllnad " * 10_000 + "</p></body>"), "utf-8")
    assert crawl(sources, "two", "--set", "DOWNLOAD_MAXSIZE=50000", "--set", "DOWNLOAD_WARNSIZE=0").returncode == 0
    [run] = runs()
    assert run["status"] == "failed" and run["items"] == 1  # the rest of the run went on
    assert run["reason"].startswith(f"{OTHER} could not be fetched: ") and "50000" in run["reason"]


@pytest.mark.slow
def test_wrong_charset_is_read_with_the_pages_own_or_fails_clearly(sqlite_url, mirror, sources):
    page = mirror.root / "www.mucf.se" / "bidrag" / "statsbidrag" / "index.html"
    html = page.read_text("utf-8").replace('<meta charset="utf-8">', '<meta charset="iso-8859-1">')
    page.write_bytes(html.encode("iso-8859-1"))  # served as utf-8 by the mirror: a wrong header
    crawl(sources)
    [item] = json.loads(run_cli("calls", "--format", "json").stdout)
    assert item["title"] == "Statsbidrag"
    text = json.loads(run_cli("show", item["id"], "--format", "json").stdout)["text"]
    assert "Ansökan öppnar: 17 maj 2027" in text and "\ufffd" not in text

    page.write_bytes(html.replace('<meta charset="iso-8859-1">', "").encode("iso-8859-1"))  # nothing to go by
    crawl(sources)
    run = runs()[0]
    assert run["status"] == "failed"
    assert "not valid utf-8 (wrong or missing charset)" in run["reason"]
    assert [c["change"] for c in json.loads(run_cli("history", "--format", "json").stdout)] == ["new"]


@pytest.mark.slow
def test_agency_crawl_revalidated_with_etags_yields_every_item(sqlite_url, tmp_path, monkeypatch):
    monkeypatch.setenv("FUNDWATCH_CACHE_DIR", str(tmp_path / "cache"))
    with MirrorServer(MIRROR / "state1", validators=True) as server:
        monkeypatch.setenv("FUNDWATCH_MIRROR", server.url)
        for _ in range(2):
            assert run_cli(*crawl_args("arbetsformedlingen")).returncode == 0
        second = [r for r in server.log[len(server.log) // 2:] if not r.path.endswith("robots.txt")]
    assert second and all(r.status == 304 for r in second)  # hub, current list, PDF, news: all 304
    assert [(r["status"], r["items"]) for r in runs()] == [("ok", 14), ("ok", 14)]
    assert [c["change"] for c in json.loads(run_cli("history", "--format", "json").stdout)] == ["new"] * 14


@pytest.mark.slow
def test_few_calls_with_a_deadline_is_a_warning_on_a_healthy_run(sqlite_url, tmp_path):
    from fundwatch.items import FundItem
    from fundwatch.spiders.page import PageSpider
    from fundwatch.spiders.pipelines import StoragePipeline
    from helpers import MUCF, make_spider, write_page_sources

    spider = make_spider(PageSpider, MUCF, sources_file=write_page_sources(tmp_path, [{"id": MUCF}]))
    pipeline = StoragePipeline.from_crawler(spider.crawler)
    pipeline.open_spider(spider)
    spider.health.page_ok(PAGE, 200, PAGE)
    for n in range(10):
        pipeline.process_item(FundItem(agency="mucf", kind="funding_call", key=f"c{n}", title=f"c{n}", url=PAGE,
                                       origin=PAGE, deadline_text="Ej bestämt" if n < 8 else None), spider)
        spider.health.item_from(PAGE)
    pipeline.spider_closed(spider, "finished")
    with session_scope(get_engine()) as s:
        run = s.scalars(select(Run)).one()
        assert run.status == "ok"
        assert run.warnings == [{"code": "low_deadline_coverage", "params": {"with_deadline": 8, "total": 10}}]
    assert "warning: only 8 of 10 funding calls have a deadline" in run_cli("runs", env={"COLUMNS": "250"}).stdout


@pytest.mark.slow
def test_hung_crawl_is_stopped_at_the_timeout_and_recorded_as_such(sqlite_url, mirror, sources):
    mirror_answers(mirror, {"www.mucf.se/bidrag/statsbidrag": {"delay": 30}})
    result = crawl(sources, "mucf", "--timeout", "3")
    assert result.returncode == 0  # the source ran; its run failed
    assert "mucf: failed" in result.stdout
    [run] = runs()
    assert (run["status"], run["reason"]) == ("failed", "the crawl was stopped after 3 s (timeout)")
    with session_scope(get_engine()) as s:
        assert s.get(SourceLock, "mucf") is None


@pytest.mark.slow
def test_a_start_page_that_errors_fails_the_run_even_when_not_must_carry(sqlite_url, mirror, sources):
    mirror_answers(mirror, {"statsbidrag.socialstyrelsen.se/organisationer": {"status": 404}})
    crawl(sources, "two")  # OTHER is a start page of "two", though not a must-carry page
    [run] = runs()
    assert (run["status"], run["reason"]) == ("failed", f"{OTHER} answered HTTP 404")


@pytest.mark.slow
def test_ctrl_c_of_fundwatch_crawl_stops_its_crawl_and_closes_the_run(sqlite_url, sources, tmp_path, monkeypatch):
    from helpers import HungServer, wait_for

    monkeypatch.setenv("FUNDWATCH_CACHE_DIR", str(tmp_path / "cache"))
    hung = HungServer()  # the download in flight gives up after DOWNLOAD_TIMEOUT, then Scrapy closes
    try:
        monkeypatch.setenv("FUNDWATCH_MIRROR", hung.url)
        proc = subprocess.Popen([sys.executable, "-m", "fundwatch.cli", *crawl_args("mucf", sources=sources),
                                 "--set", "DOWNLOAD_TIMEOUT=2", "--set", "RETRY_TIMES=0"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                # Ctrl-C as at a terminal: a suite started in the background (`cmd &`)
                                # hands its children SIGINT ignored, and the crawl would never see it
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            wait_for(lambda: hung.conns, timeout=30, what="the crawl's first request")
            proc.send_signal(signal.SIGINT)
            _, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    finally:
        hung.close()
    assert proc.returncode == 1 and "Aborted" in stderr, stderr
    [run] = runs()
    assert (run["status"], run["reason"]) == ("failed", "Scrapy stopped with finish reason 'shutdown'")
    with session_scope(get_engine()) as s:
        assert s.scalar(select(func.count()).select_from(SourceLock)) == 0


@pytest.mark.slow
def test_a_healthy_crawl_logs_no_warning(sqlite_url, mirror, sources, tmp_path):
    """The crawl log is what an operator reads when a run fails: a healthy run leaves nothing there
    that looks like a problem (Scrapy warns, for one, when its redirects find no Referer middleware)."""
    assert crawl(sources, "two").returncode == 0
    assert runs()[0]["status"] == "ok"
    log = (tmp_path / "logs" / "two.log").read_text("utf-8")
    assert "Spider closed (finished)" in log
    assert [line for line in log.splitlines() if " WARNING: " in line or " ERROR: " in line] == []
