"""The body of `fundwatch demo`: the main job end to end with no network. The project's mirror of the agency
sites (package data of fundwatch) is served on 127.0.0.1; the shipped sources are
crawled in the mirror's state 1 and then state 2, so the history has real changes to show."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import click

from fundwatch.cli.common import crawl_all
from fundwatch.crawl import FAST_SETTINGS
from fundwatch.digest.demo import send_demo_digest
from fundwatch.mirror_server import MirrorServer, mirror_root
from fundwatch.sources import load_sources

LIST_URL = "http://127.0.0.1:8080/utlysningar"  # `fundwatch serve` with its default host and port


def run_demo(folder: str) -> None:
    home = Path(folder).absolute()
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    db_path = home / "fundwatch.db"
    os.environ.update({
        "FUNDWATCH_DATABASE_URL": f"sqlite:///{db_path}",
        "FUNDWATCH_CACHE_DIR": str(home / "httpcache"),
        "FUNDWATCH_OUTBOX": str(home / "outbox"),
    })
    os.environ.pop("FUNDWATCH_SMTP_URL", None)  # the demo never sends real mail
    sources = load_sources()
    root = mirror_root()
    with MirrorServer(root / "state1", validators=True) as server:
        os.environ["FUNDWATCH_MIRROR"] = server.url
        click.echo(f"Mirror of the agency sites: {server.url} (from {root})")
        click.echo("\n== Crawl 1: the sites as first seen")
        crawl_all(list(sources), sources.path, 120, FAST_SETTINGS)
        server.set_root(root / "state2")
        click.echo("\n== Crawl 2: a week later (calls added, dates moved, a PDF replaced)")
        crawl_all(list(sources), sources.path, 120, FAST_SETTINGS)
    _demo_digest()
    exe = _fundwatch_exe()
    click.echo(f"""
Done. The demo database is {db_path}. Look next at it (and send confirmations to its own outbox):
  export FUNDWATCH_DATABASE_URL=sqlite:///{db_path} FUNDWATCH_OUTBOX={home / "outbox"}
  {exe} calls --open            what is open now
  {exe} history                 what changed between the two crawls
  {exe} runs                    each crawl and its health
  sqlite3 {db_path} "select detected_at, agency, change, field, old_value, new_value from change_log"
Then point fundwatch at the real sites with `{exe} run` (see the README).

Browse the demo's calls, their history and feeds in the web app:
  FUNDWATCH_DATABASE_URL=sqlite:///{db_path} FUNDWATCH_SECRET_KEY=demo-only {exe} serve
and open {LIST_URL}""")


def _fundwatch_exe() -> str:
    """The fundwatch command as the user can type it here: the venv's script, relative when under
    the current folder (e.g. .venv/bin/fundwatch), so the hints run without activating the venv."""
    exe = Path(sys.executable).parent / "fundwatch"
    if not exe.exists():
        return "fundwatch"
    try:
        return str(exe.relative_to(Path.cwd()))
    except ValueError:
        return str(exe)


def _demo_digest() -> None:
    """One confirmed demo subscriber and this week's digest as .eml."""
    path = send_demo_digest()
    if path:
        click.echo(f"\nThe weekly digest a subscriber would get: {path}")
