"""Sites that misbehave in ways that look like success: a redirect to a maintenance page, a wrong
charset header, a page cut off by a dropped connection. Real `fundwatch crawl` processes against a
fault-injecting mirror on 127.0.0.1, and the checks themselves on built responses."""

from __future__ import annotations

import json
import shutil
import socket
import struct
import subprocess
import threading
from pathlib import Path

import pytest
from scrapy.exceptions import DownloadFailedError, IgnoreRequest
from scrapy.http import HtmlResponse, Request

from fundwatch.mirror_server import MirrorServer
from fundwatch.spiders.health import RunHealth, same_page
from fundwatch.spiders.middlewares import CharsetCheckMiddleware, TruncationCheckMiddleware
from fundwatch.spiders.page import carries
from fundwatch.storage.reasons import reason_en, reason_sv
from helpers import MIRROR, crawl_args, mirror_answers, run_cli, write_sources

PAGE = "https://www.mucf.se/bidrag/statsbidrag"
PAGE_FILE = "www.mucf.se/bidrag/statsbidrag/index.html"
MAINTENANCE = "https://www.mucf.se/underhall"


@pytest.fixture
def faulty(tmp_path, monkeypatch):
    """A copy of the mirror on 127.0.0.1 whose answers a test can break (`_responses.toml`)."""
    root = tmp_path / "mirror"
    shutil.copytree(MIRROR / "state1", root, ignore=shutil.ignore_patterns("_responses.toml"))
    (root / "www.mucf.se" / "underhall").mkdir()
    (root / "www.mucf.se" / "underhall" / "index.html").write_text(
        "<!DOCTYPE html><html><head><title>Underhåll</title></head><body><main><h1>Underhåll</h1>"
        "<p>Webbplatsen är tillfälligt stängd för underhåll. Välkommen tillbaka senare.</p></main></body></html>",
        "utf-8")
    monkeypatch.setenv("FUNDWATCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("FUNDWATCH_SOURCES", raising=False)
    server = MirrorServer(root).start()
    monkeypatch.setenv("FUNDWATCH_MIRROR", server.url)
    yield server
    server.stop()


@pytest.fixture
def sources(tmp_path):
    return write_sources(tmp_path / "sources.toml", [{"id": "mucf", "agency": "mucf", "spider": "page", "urls": [PAGE]}])


def answer(server, key: str, **override) -> None:
    mirror_answers(server, {key: override})


def restore(server) -> None:
    (server.root / "_responses.toml").unlink()


def crawl(sources) -> None:
    result = run_cli(*crawl_args("mucf", sources=sources))
    assert result.returncode == 0, result.stdout + result.stderr


def read(*args: str):
    return json.loads(run_cli(*args, "--format", "json").stdout)


# -- redirects ------------------------------------------------------------------------------------
# Five watched pages of one site, each redirected to the maintenance page with another status.
REDIRECTED = {301: PAGE, 302: "https://www.mucf.se/bidrag",
              303: "https://www.mucf.se/bidrag/eu-bidrag/solidaritetsprojekt",
              307: "https://www.mucf.se/bidrag/statsbidrag/projektbidrag/stodja-ungas-organisering",
              308: "https://www.mucf.se/bidrag/statsbidrag/organisationsbidrag/barn-och-ungdomsorganisationer"}


@pytest.mark.slow
def test_a_page_redirected_to_a_maintenance_page_is_never_removed_nor_replaced(sqlite_url, faulty, tmp_path):
    """Whatever the redirect says (a move, or for now), a target that does not carry the watched page
    fails the run `redirected`: never an update of the item, never a miss. A source per status,
    crawled together."""
    watches = write_sources(tmp_path / "watches.toml", [
        {"id": f"mucf-{status}", "agency": "mucf", "spider": "page", "urls": [url]} for status, url in REDIRECTED.items()])

    def crawl_all() -> None:
        result = run_cli(*crawl_args(sources=watches))
        assert result.returncode == 0, result.stdout + result.stderr

    def shown(calls: list[dict]) -> dict:
        return {c["url"]: (c["id"], c["title"], c["status"]) for c in calls}

    crawl_all()
    before = shown(read("calls"))
    assert sorted(before) == sorted(REDIRECTED.values())
    mirror_answers(faulty, {url.removeprefix("https://"): {"status": status, "location": "/www.mucf.se/underhall"}
                     for status, url in REDIRECTED.items()})
    for _ in range(3):
        crawl_all()
    latest = {}
    for run in read("runs"):  # newest first
        latest.setdefault(run["source"], run)
    for status, url in REDIRECTED.items():
        run = latest[f"mucf-{status}"]
        assert (run["status"], run["reason"]) == (
            "failed", f"{url} redirected to {MAINTENANCE}, which does not carry its items"), status
    assert shown(read("calls", "--all")) == before
    assert [c["change"] for c in read("history")] == ["new"] * 5  # no removal, no update, no maintenance page item

    restore(faulty)  # the pages are back
    crawl_all()
    assert {run["status"] for run in read("runs", "--limit", "5")} == {"ok"}
    assert [c["change"] for c in read("history")] == ["new"] * 5


MOVED = "https://www.mucf.se/bidrag/statsbidrag-2027"


def move_page(server, status: int) -> Path:
    """The watched page moves to MOVED, and its old URL redirects there with STATUS; the moved page's file."""
    moved = server.root / "www.mucf.se" / "bidrag" / "statsbidrag-2027"
    shutil.copytree(server.root / "www.mucf.se" / "bidrag" / "statsbidrag", moved)
    answer(server, "www.mucf.se/bidrag/statsbidrag", status=status, location="/www.mucf.se/bidrag/statsbidrag-2027")
    return moved / "index.html"


@pytest.mark.slow
def test_a_moved_page_keeps_its_item_and_the_run_healthy(sqlite_url, faulty, sources):
    crawl(sources)
    [before] = read("calls")
    move_page(faulty, 301)
    for _ in range(3):
        crawl(sources)
    assert [r["status"] for r in read("runs")] == ["ok"] * 4
    [after] = read("calls", "--all")
    assert after["id"] == before["id"] and after["status"] != "removed"
    assert after["url"] == MOVED
    assert [c["change"] for c in read("history")] == ["new"]  # the same item, never a second one


@pytest.mark.slow
def test_a_moved_page_with_a_new_title_is_still_the_watched_page_by_its_text(sqlite_url, faulty, sources):
    crawl(sources)
    [before] = read("calls")
    page = move_page(faulty, 308)
    html = page.read_text("utf-8")
    page.write_text(html.replace("<h1>Statsbidrag</h1>", "<h1>Statsbidrag 2027</h1>"), "utf-8")
    crawl(sources)
    assert read("runs")[0]["status"] == "ok"
    [after] = read("calls", "--all")
    assert after["id"] == before["id"] and after["title"] == "Statsbidrag 2027"
    assert [c["change"] for c in read("history")] == ["new", "updated"]  # its title changed; the same item


def test_a_page_carries_the_watched_page_by_its_title_or_most_of_its_words():
    before = ("Statsbidrag | MUCF", "Här kan du söka statsbidrag för organisationer.\nSista dag 1 mars.")
    assert carries(before, " statsbidrag |  mucf", "helt annan text")  # the same title
    assert carries(before, "Statsbidrag 2027", "Här kan du söka statsbidrag för ideella organisationer. Sista dag 1 mars.")
    assert not carries(before, "Underhåll", "Webbplatsen är tillfälligt stängd för underhåll.")
    assert not carries(before, "Underhåll", "statsbidrag")  # a few shared words of a long page are not it


def test_a_redirect_is_the_same_page_across_https_www_and_a_trailing_slash():
    assert same_page("http://mucf.se/bidrag", "https://www.mucf.se/bidrag/")
    assert same_page("https://www.mucf.se:443/bidrag", "https://WWW.mucf.se/bidrag")
    assert not same_page("https://www.mucf.se/bidrag", "https://www.mucf.se/underhall")
    assert not same_page("https://www.mucf.se/bidrag?a=1", "https://www.mucf.se/bidrag?a=2")


def test_a_temporary_redirect_to_https_keeps_the_run_healthy_and_one_elsewhere_fails_it():
    health = RunHealth(must_carry=("http://www.mucf.se/bidrag",), start_pages={"http://www.mucf.se/bidrag"})
    health.page_ok("http://www.mucf.se/bidrag", 200, "https://www.mucf.se/bidrag/", redirect_codes=(302,))
    health.item_from("http://www.mucf.se/bidrag")
    assert health.outcome("finished").status == "ok"
    assert "http://www.mucf.se/bidrag" in health.outcome("finished").fetched_pages

    health = RunHealth(must_carry=(PAGE,), start_pages={PAGE})
    health.page_ok(PAGE, 200, MAINTENANCE, redirect_codes=(307,))
    outcome = health.outcome("finished")
    assert (outcome.status, outcome.reason_code) == ("failed", "redirected")
    assert PAGE not in outcome.fetched_pages  # nothing on it may count as missing

    health = RunHealth(must_carry=(PAGE,), start_pages={PAGE})
    health.page_ok(PAGE, 200, MAINTENANCE, redirect_codes=("meta refresh",))
    health.item_from(PAGE)
    assert health.outcome("finished").reason_code == "redirected"  # a meta refresh is no move


def test_a_redirected_page_that_is_not_must_carry_makes_the_run_partial_and_counts_no_miss():
    other = "https://www.mucf.se/nyheter"
    health = RunHealth(must_carry=(PAGE,), start_pages={PAGE})
    health.page_ok(PAGE, 200, PAGE)
    health.item_from(PAGE)
    health.page_ok(other, 200, MAINTENANCE, redirect_codes=(302,))
    outcome = health.outcome("finished")
    assert (outcome.status, outcome.reason_code) == ("partial", "page_failed")
    assert outcome.reason_params["error"] == f"redirected to {MAINTENANCE}"
    assert other not in outcome.fetched_pages and PAGE in outcome.fetched_pages


def test_the_redirected_reason_reads_in_english_and_swedish():
    params = {"url": PAGE, "target": MAINTENANCE}
    assert reason_en("redirected", params) == f"{PAGE} redirected to {MAINTENANCE}, which does not carry its items"
    assert "underhållssida" in reason_sv("redirected", params)


# -- charsets -------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_utf8_page_served_as_iso_8859_1_is_stored_without_mojibake(sqlite_url, faulty, sources):
    answer(faulty, "www.mucf.se/bidrag/statsbidrag", headers={"Content-Type": "text/html; charset=ISO-8859-1"})
    crawl(sources)
    assert read("runs")[0]["status"] == "ok"
    [item] = read("calls")
    text = read("show", item["id"])["text"]
    assert "Ansökan öppnar: 17 maj 2027" in text and "Ã" not in text
    restore(faulty)  # served right again: nothing changed
    crawl(sources)
    assert [c["change"] for c in read("history")] == ["new"]


def _html(body: bytes, content_type: bytes) -> HtmlResponse:
    return HtmlResponse(url=PAGE, body=body, headers={b"Content-Type": content_type}, request=Request(PAGE))


def test_charset_the_bytes_prove_wins_over_header_and_meta():
    check = CharsetCheckMiddleware()
    utf8 = '<html><head><meta charset="iso-8859-1"></head><body>Ansökan</body></html>'.encode()
    assert check.process_response(None, _html(utf8, b"text/html; charset=ISO-8859-1")).text.count("Ansökan") == 1
    latin = '<html><head><meta charset="iso-8859-1"></head><body>Ansökan</body></html>'.encode("latin-1")
    assert "Ansökan" in check.process_response(None, _html(latin, b"text/html; charset=utf-8")).text
    assert "Ansökan" in check.process_response(None, _html(latin, b"text/html; charset=windows-1252")).text
    with pytest.raises(IgnoreRequest, match="not valid utf-8"):
        check.process_response(None, _html(latin.replace(b'<meta charset="iso-8859-1">', b""), b"text/html; charset=utf-8"))


# -- close-delimited bodies -----------------------------------------------------------------------
@pytest.mark.slow
def test_a_page_cut_off_by_a_dropped_connection_is_a_failed_page(sqlite_url, faulty, sources):
    crawl(sources)
    answer(faulty, "www.mucf.se/bidrag/statsbidrag", cut=900)  # no length header, closed mid-page
    crawl(sources)
    run = read("runs")[0]
    assert run["status"] == "failed"
    assert run["reason"].startswith(f"{PAGE} could not be fetched: the page was cut off")
    assert [c["change"] for c in read("history")] == ["new"]  # no shortened text stored as an update

    answer(faulty, "www.mucf.se/bidrag/statsbidrag", cut=10**6)  # close-delimited but whole
    crawl(sources)
    assert read("runs")[0]["status"] == "ok"
    assert [c["change"] for c in read("history")] == ["new"]


def test_only_an_unflagged_or_complete_body_passes_the_truncation_check():
    check = TruncationCheckMiddleware()
    whole = b"<html><body><p>a</p></body></html>\n<!-- cache -->\n"
    cut = b"<html><body><p>a</p><p>b"
    assert check.process_response(None, _html(cut, b"text/html")) is not None  # a length header: complete
    assert check.process_response(None, _html(whole, b"text/html").replace(flags=["partial"])) is not None
    with pytest.raises(IgnoreRequest, match="cut off"):
        check.process_response(None, _html(cut, b"text/html").replace(flags=["partial"]))


# -- readable reasons -------------------------------------------------------------------------------
class ResettingServer:
    """Accepts each connection and resets it at once (RST): a server dropping connections."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.recv(1024)
            conn.close()


@pytest.mark.slow
def test_a_connection_reset_reads_as_such_not_as_a_twisted_failure(sqlite_url, sources, tmp_path, monkeypatch):
    server = ResettingServer()
    monkeypatch.setenv("FUNDWATCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FUNDWATCH_MIRROR", server.url)
    try:
        crawl(sources)
    finally:
        server.sock.close()
    reason = read("runs")[0]["reason"]
    assert reason == "robots.txt of www.mucf.se could not be read (connection reset or closed by the server); assumed disallow"


def test_download_errors_read_as_one_plain_line():
    from twisted.internet.error import ConnectionLost, ConnectionRefusedError, DNSLookupError, TimeoutError
    from twisted.python.failure import Failure
    from twisted.web._newclient import ResponseFailed

    from fundwatch.spiders.middlewares import describe_error

    assert describe_error(ResponseFailed([Failure(ConnectionLost("Connection lost."))])) == \
        "connection reset or closed by the server"
    assert describe_error(ConnectionRefusedError("111: Connection refused.")) == "connection refused"
    assert describe_error(TimeoutError("took longer than 60 s")) == "no answer in time (timeout)"
    assert describe_error(DNSLookupError("no results")) == "host not found or not reachable"
    assert describe_error(IgnoreRequest("the page was cut off")) == "the page was cut off"
    wrapped = DownloadFailedError("[<twisted.python.failure.Failure ...>]")
    wrapped.__cause__ = ResponseFailed([Failure(ConnectionLost("Connection lost."))])
    assert describe_error(wrapped) == "connection reset or closed by the server"


@pytest.fixture
def full_disk(tmp_path):
    """A small tmpfs, filled to the last byte (mounting needs root: without it, this says so)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    (disk / "cache").mkdir()
    (disk / "logs").mkdir()
    try:
        with open(disk / "filler", "wb") as fh:
            while True:
                fh.write(b"\0" * 4096)
                fh.flush()
    except OSError:
        pass
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


@pytest.mark.slow
def test_a_crawl_on_a_full_disk_fails_naming_the_disk(sqlite_url, faulty, sources, full_disk, monkeypatch):
    monkeypatch.setenv("FUNDWATCH_CACHE_DIR", str(full_disk / "cache"))
    monkeypatch.setenv("TMPDIR", str(full_disk))
    result = run_cli(*crawl_args("mucf", sources=sources))
    assert result.returncode == 0, result.stdout + result.stderr
    run = read("runs")[0]
    assert run["status"] == "failed"
    assert run["reason"].startswith(f"the disk holding {full_disk}") and "is full" in run["reason"], run["reason"]
    assert "exited with code" not in run["reason"]
