"""The generic page watch over a mirror served on 127.0.0.1: a main-text edit is exactly one
update with a diff; an edit of navigation or footer is no change. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shutil

import pytest

from fundwatch.mirror_server import MirrorServer
from helpers import MIRROR, crawl_args, run_cli, write_sources

PAGE = "https://www.mucf.se/bidrag/statsbidrag"


@pytest.fixture
def site(tmp_path, monkeypatch):
    """An editable copy of the MUCF page, served as a mirror; sources watching it."""
    root = tmp_path / "mirror"
    shutil.copytree(MIRROR / "state1" / "www.mucf.se", root / "www.mucf.se")
    sources = write_sources(tmp_path / "sources.toml", [
        {"id": "mucf", "agency": "mucf", "spider": "page", "urls": [PAGE]},
    ])
    monkeypatch.setenv("FUNDWATCH_CACHE_DIR", str(tmp_path / "cache"))
    with MirrorServer(root) as server:
        monkeypatch.setenv("FUNDWATCH_MIRROR", server.url)
        yield root / "www.mucf.se" / "bidrag" / "statsbidrag" / "index.html", sources, server


def crawl(sources):
    result = run_cli(*crawl_args(sources=sources))
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout


def history():
    result = run_cli("history", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def edit(path, old, new):
    html = path.read_text("utf-8")
    assert old in html
    path.write_text(html.replace(old, new), "utf-8")


@pytest.mark.slow
def test_main_text_edit_is_one_update_with_diff_and_nav_edit_is_none(db_url, site):
    page, sources, server = site
    out = crawl(sources)
    assert "mucf: ok" in out and "1 new" in out

    edit(page, "<li><a href=\"/kunskap\">Kunskap</a></li>", "<li><a href=\"/kunskap\">Kunskap och stöd</a></li>")
    edit(page, "Box 17801", "Box 17801 (ny adress från 2027)")
    edit(page, "Vi använder kakor", "Vi använder kakor och liknande tekniker")
    crawl(sources)
    assert [c["change"] for c in history()] == ["new"]  # chrome changed, content did not

    edit(page, "Ansökan stänger: 17 juni 2027", "Ansökan stänger: 24 juni 2027")
    crawl(sources)
    changes = history()
    assert [c["change"] for c in changes] == ["new", "updated"]
    update = changes[1]
    assert update["item_id"] == "mucf/page/https-www-mucf-se-bidrag-statsbidrag"
    assert list(update["fields"]) == ["text"]
    assert "-Ansökan stänger: 17 juni 2027 (klockan 23.59)" in update["diff"].splitlines()
    assert "+Ansökan stänger: 24 juni 2027 (klockan 23.59)" in update["diff"].splitlines()

    crawl(sources)  # unchanged again: nothing new
    assert len(history()) == 2


@pytest.mark.slow
def test_page_item_carries_the_real_url_and_main_text_only(sqlite_url, site):
    page, sources, server = site
    crawl(sources)
    items = json.loads(run_cli("calls", "--format", "json").stdout)
    assert len(items) == 1
    item = items[0]
    assert item["url"] == PAGE  # the real URL, never the mirror's
    assert item["kind"] == "page" and item["title"] == "Statsbidrag" and item["agency"] == "mucf"
    shown = json.loads(run_cli("show", item["id"], "--format", "json").stdout)
    assert "Ansökan öppnar: 17 maj 2027" in shown["text"]
    for chrome in ("kakor", "Box 17801", "Om MUCF", "dataLayer"):
        assert chrome not in shown["text"]
    assert any(r.path == "/www.mucf.se/robots.txt" for r in server.log)  # robots.txt through the mirror
    agents = {r.headers.get("User-Agent", "") for r in server.log}
    assert all(a.startswith("fundwatch/") for a in agents)


def test_extraction_keeps_accordion_titles_and_drops_chrome():
    from fundwatch.spiders.extract import main_text

    html = """<html><body><header class="site-header"><nav class="main-nav">Meny</nav></header>
    <div id="cookieConsent">Kakor</div>
    <main><h1>Planerade utlysningar</h1>
    <div class="sv-collapsible-content"><a class="env-collapse-header">Specifikt mål 2</a>
    <div class="env-collapse" aria-hidden="true"><p>Stänger: 15 mars 2027</p></div></div>
    <div class="share-box">Dela sidan</div></main>
    <footer>Migrationsverket</footer></body></html>"""
    assert main_text(html).splitlines() == ["Planerade utlysningar", "Specifikt mål 2", "Stänger: 15 mars 2027"]


@pytest.mark.slow
def test_crawler_keeps_no_cookies(sqlite_url, site):
    """A site that sets a cookie (Sitevision's load balancer does) never gets it back: the crawler
    is not tracked from one request to the next."""
    page, sources, server = site
    (page.parents[3] / "_responses.toml").write_text(  # the mirror root
        '["www.mucf.se/robots.txt"]\nbody = "User-agent: *\\nAllow: /\\n"\n'
        'headers = { Set-Cookie = "SiteVisionLTM=abc123; Path=/", Content-Type = "text/plain" }\n', "utf-8")
    crawl(sources)
    page_requests = [r for r in server.log if r.path == "/www.mucf.se/bidrag/statsbidrag"]
    assert page_requests and [r.path for r in server.log][0] == "/www.mucf.se/robots.txt"
    assert all("Cookie" not in r.headers for r in page_requests)


def test_extraction_finds_main_inside_a_page_wide_form_and_stops_at_its_end():
    from fundwatch.spiders.extract import main_text

    # ASP.NET-style pages wrap the whole body in a <form>: its main is still the content
    html = """<html><body><form id="aspnetForm"><header>Meny</header>
    <main><h1>Utlysning</h1><p>Sista ansökningsdag: 3 maj 2027</p></main>Efter huvudinnehållet
    <footer>Kontakt</footer></form></body></html>"""
    assert main_text(html).splitlines() == ["Utlysning", "Sista ansökningsdag: 3 maj 2027"]


@pytest.mark.slow
@pytest.mark.parametrize("proxy", ["", "http://proxy.example.org:3128"])
def test_the_proxy_middleware_is_there_when_the_environment_names_a_proxy(proxy):
    """No proxy configured: Scrapy's proxy middleware is left out (it costs every request); an
    operator's https_proxy is honoured."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(SCRAPY_SETTINGS_MODULE="fundwatch.spiders.settings", **({"https_proxy": proxy} if proxy else {}))
    code = ("from scrapy.utils.project import get_project_settings; "
            "d = get_project_settings().get_component_priority_dict_with_base('DOWNLOADER_MIDDLEWARES'); "
            "print([getattr(k, '__name__', k) for k, v in d.items() if v is not None])")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert ("HttpProxyMiddleware" in out.stdout) == bool(proxy)
    assert "RevalidatingCacheMiddleware" in out.stdout and "CookiesMiddleware" not in out.stdout
