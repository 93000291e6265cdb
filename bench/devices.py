"""Benchmark: what each speed-only device in production code gains on pages shaped like real
ones (issue 15: a device stays only if it gains at least 5 %).

    .venv/bin/python bench/devices.py [--pages 1000] [--runs 3]

For each page class of bench/run.py's crawl section, the `scrapy crawl page` of bench/run.py runs
with every device on, and with one device switched off at a time, alternating, --runs times
each; it prints the medians of wall time and of the crawl child's CPU time (every device acts in the
child; the process that records the run also serves the pages here, so its time would only dilute
the figures; on a shared, loaded machine the CPU time is the steadier figure) and each device's
gain: (time without - time with) / time without, of the medians and of the least of the runs (on a
shared machine other work only ever adds time, so the least is the steadier estimate of a cost).
The devices are switched off from outside the code, by Scrapy settings (the last-title cache and
the HTTP cache's 64 kB pages were switched off by a sitecustomize module on the crawl child's
path, bench/README.md). The extraction
worker trades CPU time (a second process) for wall time, so its gain is read on the wall time;
every other device on the CPU time. The one-module spider loader, gc.freeze in the crawl child,
the last-title cache and 64 kB cache pages were measured here too and are gone (bench/README.md,
speed devices).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench  # noqa: E402
from scrapy.settings import default_settings  # noqa: E402

from fundwatch.crawl import crawl_source  # noqa: E402
from fundwatch.sources import load_sources  # noqa: E402

SETTINGS = {
    "stripped default components": {
        "EXTENSIONS_BASE": json.dumps(default_settings.EXTENSIONS_BASE),
        "DOWNLOADER_MIDDLEWARES_BASE": json.dumps(default_settings.DOWNLOADER_MIDDLEWARES_BASE),
        "SPIDER_MIDDLEWARES_BASE": json.dumps(default_settings.SPIDER_MIDDLEWARES_BASE),
        "WARN_ON_GENERATOR_RETURN_VALUE": "True"},
    # spends CPU on a second core to save wall time: judged on wall time
    "extraction worker": {"FUNDWATCH_EXTRACT_WORKER_MIN_PAGES": "0"},
}
VARIANTS = ["all on", *SETTINGS]


def cpu_seconds() -> float:
    """CPU time of this process's waited-for children: the crawl child."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def crawl(work: Path, sources: Path, server, n: int, variant: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one crawl."""
    bench.use_db(work, "devices")
    env_before = dict(os.environ)
    settings = {**bench.crawl_settings(), **SETTINGS.get(variant, {})}
    os.environ["FUNDWATCH_MIRROR"] = server.url
    try:
        source = load_sources(sources).get(bench.SOURCE_ID)
        start, cpu = time.perf_counter(), cpu_seconds()
        result = crawl_source(source, str(sources), timeout=bench.CHILD_TIMEOUT, settings=settings)
        seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    if result.status != "ok" or result.summary.get("items") != n:
        raise SystemExit(f"{variant}: the crawl did not store {n} items: {result}")
    return seconds, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fundwatch-devices-"))
    print(f"speed devices, {time.strftime('%Y-%m-%d %H:%M')}, load average at start {bench.load()}", flush=True)
    try:
        mirror = work / "mirror"
        classes = {}
        for page_class in bench.CRAWL_CLASSES:
            urls = bench.generate_pages.generate(mirror, args.pages, page_class=page_class)
            classes[page_class] = bench.write_sources(work / f"sources-{page_class}.toml", urls)
        os.chdir(work)
        bench.child_environment(work)
        with bench.BenchServer(mirror) as server:
            for page_class, sources in classes.items():
                crawl(work, sources, server, args.pages, "all on")  # warm-up, untimed
                runs: dict[str, list[tuple[float, float]]] = {v: [] for v in VARIANTS}
                for r in range(args.runs):
                    for variant in VARIANTS[r % len(VARIANTS):] + VARIANTS[:r % len(VARIANTS)]:
                        runs[variant].append(crawl(work, sources, server, args.pages, variant))
                wall = {v: statistics.median(w for w, _ in runs[v]) for v in VARIANTS}
                cpu = {v: statistics.median(c for _, c in runs[v]) for v in VARIANTS}
                least = {v: (min(w for w, _ in runs[v]), min(c for _, c in runs[v])) for v in VARIANTS}
                print(f"{page_class}, {args.pages} pages (load {bench.load()}): all on {wall['all on']:.2f} s wall, "
                      f"{cpu['all on']:.2f} s child CPU "
                      f"(wall {', '.join(f'{w:.2f}' for w, _ in runs['all on'])}; "
                      f"CPU {', '.join(f'{c:.2f}' for _, c in runs['all on'])})", flush=True)
                for variant in VARIANTS[1:]:
                    print(f"  without {variant}: {wall[variant]:.2f} s wall, {cpu[variant]:.2f} s child CPU "
                          f"(wall {', '.join(f'{w:.2f}' for w, _ in runs[variant])}; "
                          f"CPU {', '.join(f'{c:.2f}' for _, c in runs[variant])}); gain "
                          f"{(wall[variant] - wall['all on']) / wall[variant]:+.1%} wall, "
                          f"{(cpu[variant] - cpu['all on']) / cpu[variant]:+.1%} CPU; least of the runs: "
                          f"{(least[variant][0] - least['all on'][0]) / least[variant][0]:+.1%} wall, "
                          f"{(least[variant][1] - least['all on'][1]) / least[variant][1]:+.1%} CPU", flush=True)
    finally:
        os.chdir(bench.ROOT)
        shutil.rmtree(work, ignore_errors=True)
    print(f"load average at the end {bench.load()}")


if __name__ == "__main__":
    main()
