"""The bodies of `fundwatch crawl` and `fundwatch run` (declared in fundwatch.cli.crawl)."""

from __future__ import annotations

import sys

from fundwatch.cli.common import crawl_all, parse_overrides, result_row, send_digests
from fundwatch.cli.output import emit
from fundwatch.sources import load_sources


def crawl(source_ids, sources_file, timeout, overrides, fmt):
    sources = load_sources(sources_file)
    chosen = [sources.get(s) for s in source_ids] if source_ids else list(sources)
    settings = dict(parse_overrides(overrides))
    results = crawl_all(chosen, sources.path, timeout, settings, echo=fmt == "table")
    if fmt == "json":
        emit([result_row(r) for r in results], "json", [])
    sys.exit(0 if all(r.ran for r in results) else 1)


def run_command(sources_file, overrides):
    sources = load_sources(sources_file)
    results = crawl_all(list(sources), sources.path, None, dict(parse_overrides(overrides)))
    send_digests()
    sys.exit(0 if all(r.ran for r in results) else 1)
