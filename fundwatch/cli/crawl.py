"""`fundwatch crawl` and `fundwatch run`: crawl sources, each in its own child process."""

from __future__ import annotations

import sys

import click

from fundwatch.cli.common import crawl_all, parse_overrides, result_row, send_digests
from fundwatch.cli.output import emit, format_option, sources_option
from fundwatch.sources import load_sources


@click.command()
@click.argument("source_ids", nargs=-1, metavar="[SOURCE_ID]...")
@sources_option
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), help="Seconds before a crawl is killed (default $FUNDWATCH_CRAWL_TIMEOUT or 1800).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Scrapy setting for the crawls, e.g. DOWNLOAD_DELAY=0.")
@format_option(("table", "json"))
def crawl(source_ids, sources_file, timeout, overrides, fmt):
    """Crawl sources (default: all), each in its own process, and record their runs.

    Exits 0 when every source ran, even if a run failed (that is a recorded run);
    1 when a source could not be run (unknown id, already running, could not start, database
    unavailable). SIGTERM and SIGHUP stop it as Ctrl-C does: the crawl stopped, its run closed."""
    sources = load_sources(sources_file)
    chosen = [sources.get(s) for s in source_ids] if source_ids else list(sources)
    settings = dict(parse_overrides(overrides))
    results = crawl_all(chosen, sources.path, timeout, settings, echo=fmt == "table")
    if fmt == "json":
        emit([result_row(r) for r in results], "json", [])
    sys.exit(0 if all(r.ran for r in results) else 1)


@click.command("run")
@sources_option
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Scrapy setting for the crawls.")
def run_command(sources_file, overrides):
    """The main job: crawl every source, then send the digests that are due."""
    sources = load_sources(sources_file)
    results = crawl_all(list(sources), sources.path, None, dict(parse_overrides(overrides)))
    send_digests()
    sys.exit(0 if all(r.ran for r in results) else 1)
