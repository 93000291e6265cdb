"""The public web over real HTTP (uvicorn on 127.0.0.1): the list of calls with its filters,
sorting and pages, a call's page with its history, the change log with source coverage, the Atom
and iCalendar feeds read back by real parsers, the JSON API against the CLI's JSON, conditional
requests, HEAD, the 404 page and escaping of scraped text in every output."""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import re
import sqlite3
import subprocess
import sys
import urllib.parse

import feedparser
import icalendar
import pytest
from click.testing import CliRunner

from fundwatch.cli import main
from fundwatch.storage.db import get_engine
from fundwatch.storage.queries import now_local
from helpers import Client, crawl, free_port, make_item, run_cli, wait_for, web_server

pytestmark = pytest.mark.slow  # every test here starts a server

TODAY = now_local().date()


def days(n: int) -> dt.date:
    return TODAY + dt.timedelta(days=n)


@pytest.fixture
def site(db_url, digest_env):
    """The web app over a fresh database (SQLite and PostgreSQL) and the engine to fill it."""
    engine = get_engine(db_url)
    with web_server() as port:
        yield Client(port), engine


def call_links(page: str) -> list[str]:
    """Item ids of the list's rows, in order."""
    return [urllib.parse.unquote(html.unescape(m)) for m in re.findall(r'<td><a href="/utlysningar/([^"]+)">', page)]


def test_list_sorts_by_deadline_filters_and_hides_closed(site):
    client, engine = site
    crawl(engine, "migrationsverket", [
        make_item("migrationsverket", "Senare", deadline=days(60), text="Projekt om återvändande"),
        make_item("migrationsverket", "Utan datum", status="unknown"),
        make_item("migrationsverket", "Stängd", deadline=days(-10)),
        make_item("migrationsverket", "Kommande", opens=days(20), deadline=days(90)),
    ])
    crawl(engine, "brottsoffermyndigheten", [make_item("brottsoffermyndigheten", "Snart", deadline=days(5))])
    crawl(engine, "arbetsformedlingen", [make_item("arbetsformedlingen", "Upphandling", kind="procurement",
                                                   deadline=days(30), title="Upphandling av ÅTERVÄNDANDE-stöd")])

    response, page = client.get("/utlysningar")
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/html")
    assert call_links(page) == ["brottsoffermyndigheten/funding_call/snart", "arbetsformedlingen/procurement/upphandling",
                                "migrationsverket/funding_call/senare", "migrationsverket/funding_call/kommande",
                                "migrationsverket/funding_call/utan-datum"]  # nearest deadline first, none last; no closed
    assert "kommande" in page and "Arbetsförmedlingen" in page

    _, page = client.get("/utlysningar?agency=migrationsverket")
    assert [i.split("/")[0] for i in call_links(page)] == ["migrationsverket"] * 3
    assert 'value="migrationsverket" checked' in page  # the form shows the filter the URL holds
    _, page = client.get("/utlysningar?kind=procurement")
    assert call_links(page) == ["arbetsformedlingen/procurement/upphandling"]
    # keywords: Swedish case folding, title and text, any of the words
    _, page = client.get("/utlysningar?q=%C3%A5terv%C3%A4ndande")
    assert call_links(page) == ["arbetsformedlingen/procurement/upphandling", "migrationsverket/funding_call/senare"]
    _, page = client.get("/utlysningar?q=Snart,+%C3%85TERV%C3%84NDANDE&agency=brottsoffermyndigheten")
    assert call_links(page) == ["brottsoffermyndigheten/funding_call/snart"]
    _, page = client.get("/utlysningar?status=closed")
    assert call_links(page) == ["migrationsverket/funding_call/stängd"]
    # the feeds links carry the same filter
    assert 'href="/flode.atom?agency=brottsoffermyndigheten&amp;kind=funding_call' in client.get(
        "/utlysningar?agency=brottsoffermyndigheten&kind=funding_call")[1]

    response, page = client.get("/utlysningar?agency=nosuchagency")
    assert response.status == 400 and "Okänd myndighet: nosuchagency" in page


def test_removed_behind_a_filter_and_pages(site):
    client, engine = site
    items = [make_item("migrationsverket", f"Utlysning {n:02d}", deadline=days(n + 1)) for n in range(55)]
    crawl(engine, "migrationsverket", items)
    crawl(engine, "migrationsverket", items[1:])  # the first is gone: removed after one miss

    _, page = client.get("/utlysningar")
    assert "Visar 1–50 av 54." in page and len(call_links(page)) == 50
    assert call_links(page)[0] == "migrationsverket/funding_call/utlysning-01"
    next_href = html.unescape(re.search(r'<a href="([^"]+)" rel="next">', page).group(1))
    assert next_href == "/utlysningar?page=2"
    _, page = client.get(next_href)
    assert "Visar 51–54 av 54." in page and call_links(page)[-1] == "migrationsverket/funding_call/utlysning-54"
    assert 'rel="next"' not in page and 'href="/utlysningar" rel="prev"' in page

    _, page = client.get("/utlysningar?status=removed")
    assert call_links(page) == ["migrationsverket/funding_call/utlysning-00"]
    assert client.get("/utlysningar?page=0")[0].status == 400


def test_call_page_shows_every_field_and_a_moved_deadline(site):
    client, engine = site
    first = make_item("migrationsverket", "AMIF 2027", deadline=days(30), amount_text="2 000 000 kr",
                      text="Stycke ett.\nStycke två.", details={"Diarienummer": "MV-123"})
    crawl(engine, "migrationsverket", [first])
    crawl(engine, "migrationsverket", [make_item("migrationsverket", "AMIF 2027", deadline=days(45),
                                                 amount_text="2 000 000 kr", text="Stycke ett.\nStycke tre.",
                                                 details={"Diarienummer": "MV-124"})])

    response, page = client.get("/utlysningar/migrationsverket/funding_call/amif-2027")
    assert response.status == 200
    assert "<h1>AMIF 2027</h1>" in page and "2 000 000 kr" in page and "<dd>MV-124</dd>" in page
    assert 'href="https://www.migrationsverket.se/utlysningar/amif-2027"' in page
    assert "Stycke tre." in page  # the text as it is now
    from fundwatch.swedish import format_date_sv
    old, new = format_date_sv(days(30)), format_date_sv(days(45))
    assert re.search(rf'Sista ansökningsdag</td><td><span class="old">{old}</span> → <span class="new">{new}</span>', page)
    assert 'Diarienummer</td><td><span class="old">MV-123</span> → <span class="new">MV-124</span>' in page
    assert '<span class="del">-Stycke två.</span>' in page and '<span class="add">+Stycke tre.</span>' in page
    assert page.index("Ändrad") < page.index(">Ny<")  # newest change first

    response, page = client.get("/utlysningar/migrationsverket/funding_call/finns-inte")
    assert response.status == 404 and "Sidan finns inte" in page and 'href="/utlysningar"' in page


def test_change_log_filters_and_shows_source_coverage(site):
    client, engine = site
    crawl(engine, "migrationsverket", [make_item("migrationsverket", "Ett", deadline=days(10))])
    crawl(engine, "brottsoffermyndigheten", [make_item("brottsoffermyndigheten", "Två", deadline=days(10))])
    crawl(engine, "arbetsformedlingen", [], status="failed", reason_code="http_status",
          reason_params={"url": "https://arbetsformedlingen.se/x", "status": 503})

    _, page = client.get("/andringar")
    assert page.index("Två") < page.index("Ett")  # newest first
    coverage = page[page.index('<table class="coverage">'):page.index("</table>")]
    assert re.search(r"Arbetsförmedlingen.*?misslyckades.*?svarade.*?503", coverage, re.S), coverage
    assert re.search(r"Migrationsverket.*?fullständig", coverage, re.S)
    _, page = client.get("/andringar?agency=migrationsverket")
    assert "Ett" in page and "/utlysningar/brottsoffermyndigheten" not in page
    _, page = client.get("/andringar?q=tv%C3%A5")
    assert "/utlysningar/brottsoffermyndigheten/funding_call/tv%C3%A5" in page and "/utlysningar/migrationsverket" not in page


def test_change_log_pages_by_change_id(site):
    client, engine = site
    for n in range(3):
        crawl(engine, "migrationsverket", [make_item("migrationsverket", f"Rad {m}", deadline=days(9)) for m in range(n * 30, n * 30 + 30)],
              remove_after=99)
    _, page = client.get("/andringar")
    ids = [int(i) for i in re.findall(r'<li id="andring-(\d+)">', page)]
    assert ids == list(range(90, 40, -1))
    next_href = html.unescape(re.search(r'<a href="([^"]+)" rel="next">', page).group(1))
    assert next_href == "/andringar?before=41"
    _, page = client.get(next_href)
    assert [int(i) for i in re.findall(r'<li id="andring-(\d+)">', page)] == list(range(40, 0, -1))
    assert 'rel="next"' not in page
    # a keyword filter pages the same way: "rad 8" is in Rad 8 and Rad 80 to Rad 89
    _, page = client.get("/andringar?q=rad+8&before=90")
    ids = [int(i) for i in re.findall(r'<li id="andring-(\d+)">', page)]
    assert len(ids) == 10 and ids == sorted(ids, reverse=True) and max(ids) == 89
    assert set(re.findall(r'funding_call/rad-(\d+)"', page)) == {"8", *map(str, range(80, 89))}


def test_atom_feed_parses_with_stable_ids_and_follows_the_filter(site):
    client, engine = site
    crawl(engine, "migrationsverket", [make_item("migrationsverket", "AMIF", deadline=days(30))])
    crawl(engine, "migrationsverket", [make_item("migrationsverket", "AMIF", deadline=days(40))])
    crawl(engine, "brottsoffermyndigheten", [make_item("brottsoffermyndigheten", "Brottsofferfonden", deadline=days(9))])

    response, body = client.get("/flode.atom")
    assert response.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    feed = feedparser.parse(body)
    assert not feed.bozo and feed.version == "atom10"
    assert [e.title for e in feed.entries] == ["Ny: Brottsofferfonden", "Ändrad: AMIF", "Ny: AMIF"]
    moved = feed.entries[1]
    assert moved.link == "https://fundwatch.example.org/utlysningar/migrationsverket/funding_call/amif"
    assert moved.author == "Migrationsverket" and "Sista ansökningsdag" in moved.summary and "→" in moved.summary
    ids = [e.id for e in feed.entries]
    crawl(engine, "arbetsformedlingen", [make_item("arbetsformedlingen", "Ny upphandling", kind="procurement")])
    again = feedparser.parse(client.get("/flode.atom")[1])
    assert [e.id for e in again.entries][1:] == ids and len(set(ids)) == 3  # stable across renders and runs

    only = feedparser.parse(client.get("/flode.atom?agency=migrationsverket")[1])
    assert [e.title for e in only.entries] == ["Ändrad: AMIF", "Ny: AMIF"]
    assert client.get("/flode.atom?kind=nonsense")[0].status == 400


def test_calendar_events_with_timezone_sequence_and_cancellation(site):
    client, engine = site
    crawl(engine, "migrationsverket", [make_item("migrationsverket", "Flyttad", deadline=days(20)),
                                       make_item("migrationsverket", "Stryks", deadline=days(25)),
                                       make_item("migrationsverket", "Datumlös", status="unknown")])
    first = icalendar.Calendar.from_ical(client.get("/kalender.ics")[1])
    uids = {str(e["UID"]) for e in first.walk("VEVENT")}
    assert uids == {"migrationsverket/funding_call/flyttad@fundwatch", "migrationsverket/funding_call/stryks@fundwatch"}

    crawl(engine, "migrationsverket", [make_item("migrationsverket", "Flyttad", deadline=days(35),
                                                 deadline_text=f"{days(35).isoformat()} kl. 12.00"),
                                       make_item("migrationsverket", "Datumlös", status="unknown")])
    response, body = client.get("/kalender.ics")
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    cal = icalendar.Calendar.from_ical(body)
    assert [str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")] == ["Europe/Stockholm"]
    events = {str(e["UID"]): e for e in cal.walk("VEVENT")}
    assert set(events) == uids  # the same UIDs as before the run
    moved = events["migrationsverket/funding_call/flyttad@fundwatch"]
    start = moved.decoded("DTSTART")
    assert (start.date(), start.hour, start.minute, str(start.tzinfo)) == (days(35), 12, 0, "Europe/Stockholm")
    assert moved["SEQUENCE"] == 1 and str(moved["STATUS"]) == "CONFIRMED"
    assert "DTSTART;TZID=Europe/Stockholm:" in body
    gone = events["migrationsverket/funding_call/stryks@fundwatch"]
    assert str(gone["STATUS"]) == "CANCELLED" and gone["SEQUENCE"] == 1

    only = icalendar.Calendar.from_ical(client.get("/kalender.ics?agency=brottsoffermyndigheten")[1])
    assert only.walk("VEVENT") == []


def cli_json(*args: str):
    result = CliRunner().invoke(main, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_api_answers_the_cli_shapes_with_filters_and_cursors(site):
    client, engine = site
    crawl(engine, "migrationsverket", [make_item("migrationsverket", f"Kall {n}", deadline=days(n - 2)) for n in range(5)])
    crawl(engine, "migrationsverket", [make_item("migrationsverket", f"Kall {n}", deadline=days(n + 7)) for n in range(4)])
    crawl(engine, "arbetsformedlingen", [make_item("arbetsformedlingen", "Upphandling", kind="procurement")],
          status="partial", reason_code="no_items", reason_params={"url": "https://arbetsformedlingen.se/a"})

    def api(path):
        response, body = client.get(path)
        assert response.status == 200 and response.headers["Content-Type"] == "application/json", body
        return response, json.loads(body)

    assert api("/api/v1/calls?all=1")[1] == sorted(cli_json("calls", "--all"), key=lambda r: r["id"])
    assert api("/api/v1/calls")[1] == sorted(cli_json("calls"), key=lambda r: r["id"])
    assert api("/api/v1/calls?agency=migrationsverket&open=1")[1] == sorted(
        cli_json("calls", "--agency", "migrationsverket", "--open"), key=lambda r: r["id"])
    assert api("/api/v1/calls?kind=procurement")[1] == cli_json("calls", "--kind", "procurement")
    assert api("/api/v1/changes")[1] == cli_json("history")
    assert api("/api/v1/changes?agency=arbetsformedlingen")[1] == cli_json("history", "--agency", "arbetsformedlingen")
    item = "migrationsverket/funding_call/kall-1"
    assert api(f"/api/v1/changes?item={item}")[1] == cli_json("history", "--item", item)
    assert api("/api/v1/runs")[1] == cli_json("runs")
    assert api("/api/v1/runs?source=migrationsverket")[1] == cli_json("runs", "--source", "migrationsverket")
    one = api(f"/api/v1/calls/{item}")[1]
    assert one == next(r for r in cli_json("calls", "--all") if r["id"] == item)

    # cursors: follow Link rel="next" until it is gone; every row once, in order
    for start, expected in (("/api/v1/changes?limit=4", cli_json("history")),
                            ("/api/v1/calls?all=1&limit=2", sorted(cli_json("calls", "--all"), key=lambda r: r["id"])),
                            ("/api/v1/runs?limit=2", cli_json("runs"))):
        rows, path = [], start
        while path:
            response, page = api(path)
            assert len(page) <= int(re.search(r"limit=(\d+)", path).group(1))
            rows += page
            link = response.headers.get("Link")
            path = re.match(r'<([^>]+)>; rel="next"', link).group(1) if link else None
        assert rows == expected

    response, body = client.get("/api/v1/calls/migrationsverket/funding_call/nope")
    assert response.status == 404 and json.loads(body) == {"error": "no item 'migrationsverket/funding_call/nope'"}
    response, body = client.get("/api/v1/changes?after=x")
    assert response.status == 400 and "after must be an integer" in json.loads(body)["error"]
    assert client.get("/api/v1/calls?kind=nonsense")[0].status == 400
    assert client.get("/api/v1/nothing")[0].status == 404


def test_api_cors_is_read_only(site):
    client, _ = site
    response, _ = client.get("/api/v1/calls", headers={"Origin": "https://example.com"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "ETag" in response.headers["Access-Control-Expose-Headers"]
    response, _ = client.request("OPTIONS", "/api/v1/calls", headers={
        "Origin": "https://example.com", "Access-Control-Request-Method": "GET"})
    assert response.status == 200 and response.headers["Access-Control-Allow-Origin"] == "*"
    response, _ = client.request("OPTIONS", "/api/v1/calls", headers={
        "Origin": "https://example.com", "Access-Control-Request-Method": "DELETE"})
    assert response.status == 400  # no writes across origins
    assert "Access-Control-Allow-Credentials" not in response.headers


PATHS = ["/utlysningar", "/utlysningar/migrationsverket/funding_call/amif", "/andringar", "/flode.atom",
         "/kalender.ics", "/api/v1/calls", "/api/v1/calls/migrationsverket/funding_call/amif", "/api/v1/changes",
         "/api/v1/runs"]


def test_conditional_requests_answer_304_until_the_data_changes(site):
    client, engine = site
    crawl(engine, "migrationsverket", [make_item("migrationsverket", "AMIF", deadline=days(30))])
    tags = {}
    for path in PATHS:
        response, _ = client.get(path)
        assert response.status == 200, path
        tags[path] = response.headers["ETag"]
        assert response.headers["Last-Modified"].endswith(" GMT")
        response, body = client.get(path, headers={"If-None-Match": tags[path]})
        assert (response.status, body) == (304, ""), path
        assert response.headers["ETag"] == tags[path]
        modified = client.get(path)[0].headers["Last-Modified"]
        assert client.get(path, headers={"If-Modified-Since": modified})[0].status == 304
        assert client.get(path, headers={"If-None-Match": '"other"', "If-Modified-Since": modified})[0].status == 200

    crawl(engine, "migrationsverket", [make_item("migrationsverket", "AMIF", deadline=days(31))])
    for path in PATHS:
        response, _ = client.get(path, headers={"If-None-Match": tags[path]})
        assert response.status == 200 and response.headers["ETag"] != tags[path], path


def test_head_works_on_every_get_route_and_404_is_a_page(site):
    client, engine = site
    crawl(engine, "migrationsverket", [make_item("migrationsverket", "AMIF", deadline=days(30))])
    for path in [*PATHS, "/", "/integritet", "/static/style.css"]:
        get, body = client.get(path)
        head, empty = client.request("HEAD", path)
        assert (head.status, empty) == (200, ""), path
        assert head.headers["Content-Type"] == get.headers["Content-Type"], path
    response, page = client.get("/finns/inte")
    assert response.status == 404 and response.headers["Content-Type"].startswith("text/html")
    assert "<h1>Sidan finns inte</h1>" in page and '<nav class="site"' in page and 'href="/static/style.css"' in page
    assert "<style" not in page and "<script" not in page  # nothing inline: a strict CSP applies


def test_scraped_script_is_escaped_in_html_atom_calendar_and_json(site):
    client, engine = site
    evil = '<script>alert("x")</script> & <b>fet</b>'
    crawl(engine, "migrationsverket", [make_item("migrationsverket", "Elak", title=evil, deadline=days(30),
                                                 text="<script>alert(2)</script>", amount_text="<img src=x onerror=y>",
                                                 details={"<i>Etikett</i>": "<script>3</script>"})])
    crawl(engine, "migrationsverket", [make_item("migrationsverket", "Elak", title=evil, deadline=days(31),
                                                 text="<script>alert(4)</script>", amount_text="<img src=x onerror=y>",
                                                 details={"<i>Etikett</i>": "<script>3</script>"})])
    item = "/utlysningar/migrationsverket/funding_call/elak"
    for path in ("/utlysningar", item, "/andringar"):
        page = client.get(path)[1]
        assert "<script" not in page and "<img" not in page and "<b>fet" not in page and "<i>Etikett" not in page, path
        assert "&lt;script&gt;alert(" in page, path
    _, body = client.get("/flode.atom")
    assert "<script" not in body
    assert feedparser.parse(body).entries[0].title == f"Ändrad: {evil}"
    _, body = client.get("/kalender.ics")
    event = icalendar.Calendar.from_ical(body).walk("VEVENT")[0]
    assert str(event["SUMMARY"]) == f"Sista ansökningsdag: {evil}"
    response, body = client.get("/api/v1/calls")
    assert response.headers["Content-Type"] == "application/json" and json.loads(body)[0]["title"] == evil


def test_list_api_and_feeds_filter_on_region_and_who_may_apply(site):
    """The list, the change log, the API and both feeds take `region` and `form` with the
    subscribers' meaning: a national call, or one that does not say who may apply, is for everyone;
    the API answers as `fundwatch calls --region --form`; a value it does not know is a 400."""
    client, engine = site
    crawl(engine, "migrationsverket", [
        make_item("migrationsverket", "TIA Skåne", deadline=days(20), region="Skåne län", eligibility=["ideell förening"]),
        make_item("migrationsverket", "TIA Kalmar", deadline=days(25), region="Kalmar län"),
        make_item("migrationsverket", "För kommuner", deadline=days(30), eligibility=["kommun"]),
        make_item("migrationsverket", "Säger inte vem", deadline=days(40)),
    ])
    slug = "migrationsverket/funding_call/"
    skane = urllib.parse.quote("Skåne län")
    _, page = client.get(f"/utlysningar?region={skane}")
    assert call_links(page) == [slug + "tia-skåne", slug + "för-kommuner", slug + "säger-inte-vem"]
    assert '<option value="Skåne län" selected>' in page  # the form shows the filter the URL holds
    assert re.search(r'href="/kalender\.ics\?[^"]*region=Sk%C3%A5ne\+l%C3%A4n"', html.unescape(page))  # its feeds
    _, page = client.get("/utlysningar?form=ideell+f%C3%B6rening")
    assert call_links(page) == [slug + "tia-skåne", slug + "tia-kalmar", slug + "säger-inte-vem"]
    assert 'value="ideell förening" checked' in page
    _, page = client.get("/utlysningar?form=ideell+f%C3%B6rening&form=kommun&region=Kalmar+l%C3%A4n")
    assert call_links(page) == [slug + "tia-kalmar", slug + "för-kommuner", slug + "säger-inte-vem"]
    _, page = client.get("/utlysningar?region=")  # the form's "Hela Sverige"
    assert len(call_links(page)) == 4
    _, page = client.get("/andringar?region=Kalmar+l%C3%A4n")
    assert "TIA Kalmar" in page and "TIA Skåne" not in page

    # the API: the same rows as the CLI's --region/--form, in the API's order (by id)
    response, body = client.get(f"/api/v1/calls?region={skane}&form=kommun")
    assert response.status == 200
    cli = CliRunner().invoke(main, ["calls", "--region", "Skåne län", "--form", "kommun", "--format", "json"])
    assert json.loads(body) == sorted(json.loads(cli.output), key=lambda r: r["id"])
    assert [r["title"] for r in json.loads(body)] == ["För kommuner", "Säger inte vem"]

    # the feeds take the same filter
    atom = feedparser.parse(client.get("/flode.atom?region=Kalmar+l%C3%A4n")[1])
    assert sorted(e.title for e in atom.entries) == ["Ny: För kommuner", "Ny: Säger inte vem", "Ny: TIA Kalmar"]
    cal = icalendar.Calendar.from_ical(client.get("/kalender.ics?form=kommun")[1])
    assert sorted(str(e["UID"]) for e in cal.walk("VEVENT")) == [
        f"{slug}för-kommuner@fundwatch", f"{slug}säger-inte-vem@fundwatch", f"{slug}tia-kalmar@fundwatch"]

    # unknown values: a clear 400 in each answer's own form, the value escaped
    response, page = client.get("/utlysningar?region=%3Cscript%3Ealert(1)%3C/script%3E")
    assert response.status == 400 and "Okänd region: &lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page
    response, page = client.get("/utlysningar?form=aktiebolag")
    assert response.status == 400 and "Okänd organisationsform: aktiebolag" in page
    response, body = client.get("/api/v1/calls?region=Narnia")
    assert response.status == 400 and "unknown region 'Narnia'" in json.loads(body)["error"]
    response, body = client.get("/kalender.ics?form=x")
    assert response.status == 400 and body == "Okänd organisationsform: x"


def test_demo_ends_with_the_list_url_and_serve_shows_its_calls_and_the_view_its_deadlines(tmp_path, monkeypatch):
    for name in ("FUNDWATCH_DATABASE_URL", "FUNDWATCH_SOURCES", "FUNDWATCH_MIRROR", "FUNDWATCH_SMTP_URL"):
        monkeypatch.delenv(name, raising=False)
    demo = run_cli("demo", "--dir", str(tmp_path / "demo"), timeout=600)
    assert demo.returncode == 0, demo.stderr
    assert demo.stdout.rstrip().endswith("and open http://127.0.0.1:8080/utlysningar")
    lines = demo.stdout.splitlines()
    export = next(line for line in lines if line.strip().startswith("export FUNDWATCH_DATABASE_URL="))
    serve_line = next(line for line in lines if line.rstrip().endswith(" serve"))
    env = dict(pair.split("=", 1) for pair in export.split()[1:] + serve_line.split()[:-2])
    assert env["FUNDWATCH_DATABASE_URL"] == f"sqlite:///{tmp_path / 'demo' / 'fundwatch.db'}"
    # the demo's standing grants read the same in `calls` and in the SQL view (README, Datasette)
    listed = run_cli("calls", "--format", "json", env={"FUNDWATCH_DATABASE_URL": env["FUNDWATCH_DATABASE_URL"]})
    assert listed.returncode == 0, listed.stderr
    with sqlite3.connect(tmp_path / "demo" / "fundwatch.db") as conn:
        view = dict(conn.execute("SELECT id, deadline FROM current_items WHERE deadline_rule IS NOT NULL").fetchall())
    standing = {r["id"]: r["deadline"] for r in json.loads(listed.stdout) if r["id"] in view}
    assert "brottsoffermyndigheten/funding_call/brottsofferinriktade-projekt" in view
    assert all(view.values()) and view == standing
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "fundwatch.cli", "serve", "--port", str(port)],
                              env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        client = Client(port)

        def answers():
            try:
                return client.get("/utlysningar")[0].status == 200
            except OSError:
                return False

        wait_for(answers, 30, what="fundwatch serve to answer")
        _, page = client.get("/utlysningar")
        rows = call_links(page)
        assert len(rows) >= 3 and {r.split("/")[0] for r in rows} >= {"migrationsverket", "arbetsformedlingen"}
        _, changes = client.get("/andringar")
        assert "Ändrad" in changes and "fullständig" in changes  # the second crawl's changes, healthy runs
    finally:
        server.terminate()
        server.wait(timeout=30)
