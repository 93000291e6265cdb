"""`fundwatch crawl` and `fundwatch run`: options and help; the bodies are in fundwatch.cli.crawling,
imported when a command runs (see `implemented_in`)."""

from __future__ import annotations

import click

from fundwatch.cli.output import format_option, implemented_in, sources_option


@click.command()
@click.argument("source_ids", nargs=-1, metavar="[SOURCE_ID]...")
@sources_option
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), help="Seconds before a crawl is killed (default $FUNDWATCH_CRAWL_TIMEOUT or 1800).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Scrapy setting for the crawls, e.g. DOWNLOAD_DELAY=0.")
@format_option(("table", "json"))
def crawl(source_ids, sources_file, timeout, overrides, fmt):
    """Crawl sources (default: all), a process per core, and record their runs.

    Exits 0 when every source ran, even if a run failed (that is a recorded run);
    1 when a source could not be run (unknown id, already running, could not start, database
    unavailable). SIGTERM and SIGHUP stop it as Ctrl-C does: the crawl stopped, its run closed."""
    implemented_in("fundwatch.cli.crawling:crawl", source_ids=source_ids, sources_file=sources_file, timeout=timeout,
                   overrides=overrides, fmt=fmt)


@click.command("run")
@sources_option
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Scrapy setting for the crawls.")
def run_command(sources_file, overrides):
    """The main job: crawl every source, then send the digests that are due."""
    implemented_in("fundwatch.cli.crawling:run_command", sources_file=sources_file, overrides=overrides)
