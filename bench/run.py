"""fundwatch benchmarks (issue 6). Not part of the test suite: prints figures and their targets.

    .venv/bin/python bench/run.py                 # everything (about 5 minutes on 2 cores)
    .venv/bin/python bench/run.py --only crawl,recheck --runs 5
    .venv/bin/python bench/run.py --quick         # smaller N, for a smoke test

Sections: crawl (fundwatch vs urlwatch, per page class of bench/generate_pages.py), recheck (unchanged site), storage (100-crawl growth),
digest (bench/digest_send.py), dates (bench/swedish_dates.py), startup, memory (10,000 pages).

Every comparison runs both sides in this one invocation, alternating, --runs times each (at least
3), and prints the medians and the ratio. Servers listen on 127.0.0.1 only; every child process has
a timeout. urlwatch comes from PyPI into its own venv (--urlwatch-venv, created on first use with
`python -m venv` + pip), never into the project's environment.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import generate_pages  # noqa: E402

from fundwatch.mirror_server import MirrorServer, _Handler  # noqa: E402

SECTIONS = ("crawl", "recheck", "storage", "digest", "dates", "startup", "memory")
CONCURRENCY = 10  # urlwatch's fixed worker count (urlwatch/worker.py MAX_WORKERS)
CHILD_TIMEOUT = 900.0  # seconds: no child process may run longer
SOURCE_ID = "bench"
AGENCY = "benchmyndigheten"
SUMMARY: list[tuple[str, str, str, bool | None]] = []  # (figure, value, target, met)


# -- helpers ------------------------------------------------------------------------------------
def say(text: str = "") -> None:
    print(text, flush=True)


def record(figure: str, value: str, target: str, met: bool | None) -> None:
    SUMMARY.append((figure, value, target, met))
    verdict = "" if met is None else ("  [target met]" if met else "  [TARGET NOT MET]")
    say(f"  {figure}: {value}" + (f"  (target: {target})" if target else "") + verdict)


def median(values) -> float:
    return statistics.median(values)


def fmt_runs(values, unit="s") -> str:
    return ", ".join(f"{v:.2f}{unit}" for v in values)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_kb = int(next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")).split()[1])
        mem = f"{mem_kb / 1024 / 1024:.0f} GB RAM"
    except (OSError, StopIteration, ValueError):
        mem = "RAM unknown"
    import scrapy
    import sqlalchemy

    return (f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs ({cpu}), {mem}; "
            f"Python {platform.python_version()}, Scrapy {scrapy.__version__}, SQLAlchemy {sqlalchemy.__version__}")


def child_cpu() -> float:
    """CPU seconds (user + system) of this process's ended, waited-for children: the crawl child,
    urlwatch, plain Scrapy. The parent's own time is left out: the bench server's threads run here."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


class _CountingWriter:
    """Counts every byte the server writes on a connection: status line, headers and body."""

    def __init__(self, raw, server: "BenchServer"):
        self.raw, self.server = raw, server

    def write(self, data) -> int:
        n = self.raw.write(data)
        with self.server.log_lock:
            self.server.wire_bytes += len(data)
        return n

    def flush(self) -> None:
        self.raw.flush()

    def __getattr__(self, name):
        return getattr(self.raw, name)


class _CountingHandler(_Handler):
    def setup(self) -> None:
        super().setup()  # TCP_NODELAY
        self.wfile = _CountingWriter(self.wfile, self.server)


class BenchServer(MirrorServer):
    """The project's mirror server (keep-alive, TCP_NODELAY, optional ETag/304, a listen backlog
    of 128) counting wire bytes."""

    def __init__(self, root: Path, validators: bool = True):
        super().__init__(root, validators=validators)
        self.RequestHandlerClass = _CountingHandler
        self.wire_bytes = 0

    def reset(self) -> None:
        with self.log_lock:
            self.log.clear()
            self.wire_bytes = 0

    def figures(self) -> dict:
        with self.log_lock:
            statuses: dict[int, int] = {}
            for r in self.log:
                statuses[r.status] = statuses.get(r.status, 0) + 1
            return {"requests": len(self.log), "statuses": statuses, "wire_bytes": self.wire_bytes,
                    "body_bytes": sum(r.bytes_sent for r in self.log)}


def write_sources(path: Path, urls: list[str]) -> Path:
    lines = ["[[source]]", f'id = "{SOURCE_ID}"', f'agency = "{AGENCY}"', 'spider = "page"', "urls = ["]
    lines += [f'  "{u}",' for u in urls]
    lines += ["]", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def crawl_settings() -> dict[str, str]:
    """fundwatch's own settings with the politeness off and urlwatch's concurrency (the same on both sides)."""
    from fundwatch.crawl import FAST_SETTINGS

    return {**FAST_SETTINGS, "CONCURRENT_REQUESTS": str(CONCURRENCY), "CONCURRENT_REQUESTS_PER_DOMAIN": str(CONCURRENCY)}


def child_environment(work: Path) -> None:
    """Children (crawls, urlwatch, the CLI) run as an installed program would: with compiled
    bytecode. This environment sets PYTHONDONTWRITEBYTECODE, which would make every child compile
    the project's modules again; a bytecode cache in the temp folder avoids that without writing
    into the source tree."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(work / "pycache")


def warm_up(ctx) -> None:
    """One small untimed run of each side: bytecode caches and the page cache are warm for both."""
    urls = ctx.urls[:10]
    sources = write_sources(ctx.work / "sources-warmup.toml", urls)
    use_db(ctx.work, "warmup")
    fundwatch_crawl(sources, ctx.server, len(urls))
    if getattr(ctx, "urlwatch", None):
        Urlwatch(ctx.urlwatch, ctx.work / "urlwatch-warmup", [ctx.server.url + "/" + u.split("://", 1)[1] for u in urls]).run()
    for _ in range(2):
        subprocess.run(fundwatch_cmd() + ["--help"], capture_output=True, timeout=300, cwd=ROOT)


def use_db(work: Path, tag: str) -> str:
    """Point this process (and so its crawl children) at a fresh, migrated SQLite DB and HTTP cache."""
    from fundwatch.storage.db import dispose_engines, get_engine

    db = work / f"{tag}.db"
    for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        p.unlink(missing_ok=True)
    shutil.rmtree(work / f"{tag}-cache", ignore_errors=True)
    url = f"sqlite:///{db}"
    os.environ["FUNDWATCH_DATABASE_URL"] = url
    os.environ["FUNDWATCH_CACHE_DIR"] = str(work / f"{tag}-cache" / "httpcache")
    dispose_engines()
    get_engine(url)  # migrate outside the timing: a deployed monitor's database exists already
    dispose_engines()
    return url


def fundwatch_crawl(sources_path: Path, server: BenchServer, expect: int) -> tuple[float, dict]:
    """One `scrapy crawl page` through fundwatch.crawl.crawl_source (fetch, extract, store)."""
    from fundwatch.crawl import crawl_source
    from fundwatch.sources import load_sources

    os.environ["FUNDWATCH_MIRROR"] = server.url
    source = load_sources(sources_path).get(SOURCE_ID)
    start = time.perf_counter()
    result = crawl_source(source, str(sources_path), timeout=CHILD_TIMEOUT, settings=crawl_settings())
    seconds = time.perf_counter() - start
    if result.status != "ok" or result.summary.get("items") != expect:
        log = Path(result.log_file).read_text("utf-8")[-3000:] if result.log_file else ""
        raise SystemExit(f"fundwatch crawl did not store {expect} items: {result}\n{log}")
    return seconds, result.summary


# -- urlwatch -----------------------------------------------------------------------------------
def urlwatch_executable(venv: Path) -> Path:
    exe = venv / "bin" / "urlwatch"
    if not exe.exists():
        say(f"  installing urlwatch from PyPI into {venv} (once)")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "urlwatch"], check=True, timeout=600)
    return exe


def urlwatch_version(exe: Path) -> str:
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
    return out.stdout.strip() or out.stderr.strip()


class Urlwatch:
    """urlwatch with its own urls, config and cache in a temp folder: one url job per page."""

    def __init__(self, exe: Path, folder: Path, urls: list[str]):
        self.exe, self.folder = exe, folder
        folder.mkdir(parents=True, exist_ok=True)
        self.urls_file = folder / "urls.yaml"
        self.urls_file.write_text("---\n".join(f"name: p{i}\nurl: {u}\n" for i, u in enumerate(urls)), encoding="utf-8")
        self.config = folder / "urlwatch.yaml"
        # Defaults otherwise (the stdout reporter lists new/changed jobs; we discard its output).
        self.config.write_text("report:\n  stdout:\n    enabled: true\n    color: false\n", encoding="utf-8")
        self.n = len(urls)

    def fresh(self) -> None:
        for p in self.folder.glob("cache.db*"):
            p.unlink()

    def run(self, expect_new: bool = True) -> tuple[float, str]:
        cmd = [str(self.exe), "--urls", str(self.urls_file), "--config", str(self.config),
               "--cache", str(self.folder / "cache.db")]
        env = dict(os.environ, HOME=str(self.folder), XDG_CONFIG_HOME=str(self.folder), XDG_CACHE_HOME=str(self.folder))
        start = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=CHILD_TIMEOUT, env=env, cwd=self.folder)
        seconds = time.perf_counter() - start
        if out.returncode != 0:
            raise SystemExit(f"urlwatch failed ({out.returncode}): {out.stderr[-2000:]}")
        new = len(re.findall(r"^\d+\. NEW: ", out.stdout, re.M))
        errors = len(re.findall(r"^\d+\. ERROR: ", out.stdout, re.M))
        if errors or (expect_new and new != self.n):
            raise SystemExit(f"urlwatch did not fetch all {self.n} pages: {new} new, {errors} errors\n{out.stdout[-2000:]}")
        return seconds, out.stdout


# -- 1. crawl throughput ------------------------------------------------------------------------
BARE_SPIDER = """
import scrapy

class Fetch(scrapy.Spider):
    # The floor: Scrapy fetching the same pages with the same concurrency, no extraction, no storage.
    name = "fetch"
    custom_settings = {"ROBOTSTXT_OBEY": False, "LOG_LEVEL": "INFO", "CONCURRENT_REQUESTS": %(c)d,
                       "CONCURRENT_REQUESTS_PER_DOMAIN": %(c)d, "DOWNLOAD_DELAY": 0, "TELNETCONSOLE_ENABLED": False,
                       "REMOTE_CONTROL_ENABLED": False}

    async def start(self):
        with open(%(urls)r, encoding="utf-8") as fh:
            for url in fh.read().split():
                yield scrapy.Request(url, callback=self.parse)

    def parse(self, response):
        self.crawler.stats.inc_value("bench/pages")
"""


def scrapy_fetch(folder: Path, urls: list[str]) -> float:
    """Plain Scrapy (`scrapy runspider`, outside the project's settings) fetching URLS."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "urls.txt").write_text("\n".join(urls), encoding="utf-8")
    (folder / "fetch.py").write_text(BARE_SPIDER % {"c": CONCURRENCY, "urls": str(folder / "urls.txt")}, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "SCRAPY_SETTINGS_MODULE"}
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "scrapy", "runspider", str(folder / "fetch.py")], capture_output=True,
                         text=True, timeout=CHILD_TIMEOUT, env=env, cwd=folder)
    seconds = time.perf_counter() - start
    if out.returncode != 0 or f"'bench/pages': {len(urls)}" not in out.stderr:
        raise SystemExit(f"plain scrapy fetch failed: {out.stderr[-2000:]}")
    return seconds


CRAWL_CLASSES = ("new-sitevision", "old-sitevision")  # bench/generate_pages.py: shaped like real agency pages


def compare_crawl(ctx, page_class: str) -> float:
    """fundwatch, urlwatch and plain Scrapy on the pages of one class; returns fundwatch/urlwatch."""
    urls, sources = ctx.class_urls[page_class], ctx.class_sources[page_class]
    say(f"  {page_class} pages ({ctx.class_kb[page_class]:.1f} kB on average):")
    server, n = ctx.server, len(urls)
    mirror_urls = [server.url + "/" + u.split("://", 1)[1] for u in urls]
    uw = Urlwatch(ctx.urlwatch, ctx.work / f"urlwatch-crawl-{page_class}", mirror_urls)
    times: dict[str, list[float]] = {"fundwatch": [], "urlwatch": [], "scrapy fetch": []}
    cpu: dict[str, list[float]] = {side: [] for side in times}  # CPU seconds of the side's child process
    sides = list(times)
    for r in range(ctx.runs):
        for side in sides[r % 3:] + sides[:r % 3]:  # rotate the order every round
            server.reset()
            before = child_cpu()
            if side == "fundwatch":
                use_db(ctx.work, "crawl")
                seconds, summary = fundwatch_crawl(sources, server, n)
            elif side == "urlwatch":
                uw.fresh()
                seconds, _ = uw.run()
            else:
                seconds = scrapy_fetch(ctx.work / f"scrapy-fetch-{page_class}", mirror_urls)
            times[side].append(seconds)
            cpu[side].append(child_cpu() - before)
            f = server.figures()
            say(f"    run {r + 1} {side:12s} {seconds:6.2f} s, child CPU {cpu[side][-1]:5.2f} s  "
                f"({f['requests']} requests, {f['wire_bytes'] / 1e6:.1f} MB, load {load()})")
    fw, uwm, bare = (median(times[s]) for s in sides)
    fw_cpu, uw_cpu, bare_cpu = (median(cpu[s]) for s in sides)
    ratio = fw / uwm
    say(f"    fundwatch (scrapy crawl page: fetch, extract main text, store in SQLite): {fmt_runs(times['fundwatch'])}")
    say(f"    urlwatch {ctx.urlwatch_version} (one url job per page, stores the raw page): {fmt_runs(times['urlwatch'])}")
    say(f"    plain Scrapy fetch, same pages and concurrency (the floor for a Scrapy crawler, not a target): "
        f"{fmt_runs(times['scrapy fetch'])}")
    record(f"crawl {page_class}, fundwatch median", f"{fw:.2f} s for {n} pages ({n / fw:.0f} pages/s)", "", None)
    record(f"crawl {page_class}, urlwatch median", f"{uwm:.2f} s for {n} pages ({n / uwm:.0f} pages/s)", "", None)
    record(f"crawl {page_class}, plain Scrapy fetch median", f"{bare:.2f} s (ratio to urlwatch {bare / uwm:.2f})", "", None)
    record(f"crawl {page_class}, child CPU per page (median)",
           f"fundwatch {fw_cpu / n * 1000:.2f} ms, urlwatch {uw_cpu / n * 1000:.2f} ms, "
           f"plain Scrapy {bare_cpu / n * 1000:.2f} ms (CPU ratio fundwatch/urlwatch {fw_cpu / uw_cpu:.2f})", "", None)
    record(f"crawl {page_class}, ratio fundwatch/urlwatch", f"{ratio:.2f}", "<= 1.0", ratio <= 1.0)
    return ratio


def bench_crawl(ctx) -> None:
    say(f"\n1. Crawl throughput: {ctx.n} pages of each class on 127.0.0.1 (keep-alive, TCP_NODELAY), "
        f"{CONCURRENCY} concurrent requests on both sides, no AutoThrottle or download delay")
    for page_class in CRAWL_CLASSES:
        compare_crawl(ctx, page_class)


# -- 2. re-check of an unchanged site --------------------------------------------------------------
def table_counts(url: str) -> dict[str, int]:
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            names = [t for t in inspect(conn).get_table_names() if t != "alembic_version"]
            return {t: conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in names}
    finally:
        engine.dispose()


def bench_recheck(ctx) -> None:
    say(f"\n2. Re-check of an unchanged site ({ctx.n} pages, server sends ETag and Last-Modified)")
    server, sources = ctx.server, ctx.sources
    url = use_db(ctx.work, "recheck")
    server.reset()
    t1, s1 = fundwatch_crawl(sources, server, ctx.n)
    first = server.figures()
    before = table_counts(url)
    server.reset()
    t2, s2 = fundwatch_crawl(sources, server, ctx.n)
    second = server.figures()
    after = table_counts(url)
    added = {t: after[t] - before[t] for t in after if after[t] != before[t]}
    share = second["wire_bytes"] / first["wire_bytes"]
    n304 = second["statuses"].get(304, 0)
    say(f"  first crawl:  {t1:.2f} s, {first['requests']} requests {first['statuses']}, {first['wire_bytes']:,} bytes sent")
    say(f"  second crawl: {t2:.2f} s, {second['requests']} requests {second['statuses']}, {second['wire_bytes']:,} bytes sent; "
        f"{s2.get('new')} new, {s2.get('updated')} updated, {s2.get('removed')} removed")
    # urlwatch, for comparison: it also sends If-None-Match.
    uw = Urlwatch(ctx.urlwatch, ctx.work / "urlwatch-recheck", [server.url + "/" + u.split("://", 1)[1] for u in ctx.urls])
    uw.fresh()
    server.reset()
    uw.run()
    uw_first = server.figures()
    server.reset()
    uw.run(expect_new=False)
    uw_second = server.figures()
    record("re-check, requests answered 304", f"{n304} of {second['requests']} ({ctx.n} pages + robots.txt)",
           f"{ctx.n} (every page)", n304 >= ctx.n)
    record("re-check, bytes vs first crawl", f"{second['wire_bytes']:,} / {first['wire_bytes']:,} = {share:.1%} "
           f"(urlwatch: {uw_second['wire_bytes'] / uw_first['wire_bytes']:.1%}, {uw_second['statuses'].get(304, 0)} x 304)",
           "<= 5 %", share <= 0.05)
    record("re-check, rows added", ", ".join(f"{t} +{n}" for t, n in added.items()) or "none",
           "exactly 1 (the run) per source", added == {"runs": 1})


# -- 3. storage growth ----------------------------------------------------------------------------
def page_items(ctx) -> list:
    """The items the page spider stores for the generated pages (real extraction, computed once)."""
    if ctx.items is None:
        from fundwatch.items import FundItem, item_id
        from fundwatch.spiders.extract import page_text

        items = []
        for i, url in enumerate(ctx.urls):
            body = (ctx.mirror / generate_pages.HOST / url.split(generate_pages.HOST + "/", 1)[1] / "index.html").read_bytes()
            text, title = page_text(body)
            fi = FundItem(agency=AGENCY, kind="page", key=url, title=title or url, url=url, origin=url,
                          text=text, source=SOURCE_ID)
            fi.id = item_id(fi.agency, fi.kind, fi.key)
            items.append(fi)
        ctx.items = items
    return ctx.items


def one_run(sessions, items: list, urls: list[str], spool_path: Path) -> None:
    """What a crawl does: begin the run, spool the items, apply them with the outcome built by the
    spider side's RunHealth from every page answering 200 (storage/runlife.py, storage/spool.py)."""
    from fundwatch.spiders.health import RunHealth
    from fundwatch.storage.runlife import apply_run, begin_run
    from fundwatch.storage.spool import Spool

    health = RunHealth(must_carry=tuple(urls))
    health.robots(generate_pages.HOST, 200)
    for url in urls:
        health.page_ok(url, 200, url)
    for fi in items:
        health.item_from(fi.origin)
    run_id = begin_run(sessions, SOURCE_ID, AGENCY, "page")
    spool = Spool(str(spool_path))
    for fi in items:
        spool.write(fi)
    spool.close()
    summary = apply_run(sessions, run_id, SOURCE_ID, health.outcome("finished"), str(spool_path))
    assert summary["status"] == "ok", summary


def db_size(engine, path: Path) -> int:
    from sqlalchemy import text

    with engine.connect() as conn:
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    return path.stat().st_size + (Path(f"{path}-wal").stat().st_size if Path(f"{path}-wal").exists() else 0)


def bench_storage(ctx) -> None:
    import copy

    from fundwatch.storage.db import dispose_engines, get_engine, session_factory

    crawls = ctx.storage_crawls
    say(f"\n3. Storage growth: {crawls} crawls of {ctx.n} page items through storage/runlife.py "
        f"(begin_run / spool / apply_run), SQLite")
    items = page_items(ctx)
    for label, change_share in (("unchanged", 0.0), ("1 % changed", 0.01)):
        url = use_db(ctx.work, "storage")
        path = ctx.work / "storage.db"
        engine = get_engine(url)
        sessions = session_factory(engine)
        current = [copy.copy(fi) for fi in items]
        spool = ctx.work / "storage-spool.jsonl"
        one_run(sessions, current, ctx.urls, spool)  # the first crawl: every item new
        size0, rows0 = db_size(engine, path), table_counts(url)
        per_change = max(1, round(len(items) * change_share)) if change_share else 0
        start = time.perf_counter()
        for c in range(crawls):
            for j in range(per_change):
                k = (c * per_change + j) % len(current)
                fi = copy.copy(current[k])
                fi.text = fi.text + f"\nÄndrad i körning {c + 2}."
                current[k] = fi
            one_run(sessions, current, ctx.urls, spool)
        seconds = time.perf_counter() - start
        size1, rows1 = db_size(engine, path), table_counts(url)
        from sqlalchemy import text

        with engine.connect() as conn:  # what a run row weighs: mostly its page log, a line per page
            run_bytes = conn.execute(text("SELECT avg(length(page_log)) FROM runs")).scalar_one() or 0
        dispose_engines()
        added = {t: rows1[t] - rows0[t] for t in rows1 if rows1[t] != rows0[t]}
        changes = per_change * crawls
        growth = size1 - size0
        say(f"  {label}: after crawl 1 {size0 / 1e6:.2f} MB; after {crawls} more {size1 / 1e6:.2f} MB "
            f"(+{growth / 1e6:.2f} MB, {growth / crawls / 1e3:.1f} kB per crawl); "
            f"{seconds / crawls * 1000:.0f} ms per crawl in storage; a run row's page_log {run_bytes / 1e3:.0f} kB")
        rows = ", ".join(f"{t} +{n}" for t, n in added.items()) or "none"
        if not change_share:
            record(f"storage, {crawls} unchanged crawls", f"{size1 / 1e6:.2f} MB (+{growth / 1e6:.2f} MB); rows: {rows}",
                   "only run rows added", added == {"runs": crawls})
        else:
            other = {t: n for t, n in added.items() if t != "runs"}
            proportional = added.get("runs") == crawls and all(n % changes == 0 for n in other.values()) and bool(other)
            per = ", ".join(f"{t} {n / changes:g}" for t, n in other.items())
            record(f"storage, {crawls} crawls with 1 % changed ({changes} changes)",
                   f"{size1 / 1e6:.2f} MB (+{growth / 1e6:.2f} MB, {growth / max(changes, 1) / 1e3:.1f} kB per change "
                   f"incl. run rows); rows: {rows} ({per} per change)",
                   "rows proportional to the changes", proportional)


# -- 4. digest, 5. dates: other engineers' scripts ------------------------------------------------
def run_script(name: str, args: list[str], timeout: float) -> str | None:
    script = ROOT / "bench" / name
    if not script.exists():
        return None
    out = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    text = out.stdout.strip()
    if out.returncode != 0:
        text += f"\n(exit code {out.returncode}) {out.stderr.strip()[-1500:]}"
    return text


def bench_digest(ctx) -> None:
    say("\n4. Digest: render and deliver to 10,000 subscribers over one SMTP connection (bench/digest_send.py)")
    text = run_script("digest_send.py", [], CHILD_TIMEOUT)
    if text is None:
        record("digest", "not available yet (bench/digest_send.py does not exist)", ">= 100 msg/s, < 300 MB", None)
        return
    for line in text.splitlines():
        say(f"  | {line}")
    rate = re.search(r"([\d,.]+) messages/s", text)
    peak = re.search(r"peak RSS ([\d,.]+) MB", text)
    if rate is None or peak is None:
        record("digest", "could not read messages/s and peak RSS from bench/digest_send.py", ">= 100 msg/s, < 300 MB", None)
        return
    r, p = float(rate.group(1).replace(",", "")), float(peak.group(1).replace(",", ""))
    record("digest, 10,000 subscribers over one SMTP connection", f"{r:,.0f} messages/s", ">= 100 messages/s", r >= 100)
    record("digest, sender peak RSS", f"{p:,.0f} MB", "< 300 MB", p < 300)


def bench_dates(ctx) -> None:
    say("\n5. Swedish date parser (bench/swedish_dates.py)")
    text = run_script("swedish_dates.py", [], 300)
    if text is None:
        record("dates", "not available (bench/swedish_dates.py does not exist)", ">= 20,000 strings/s", None)
        return
    for line in text.splitlines():
        say(f"  | {line}")
    first = text.splitlines()[0] if text else ""
    try:
        rate = float(first.split(":", 1)[1].split("strings/s")[0].replace(",", "").strip())
    except (IndexError, ValueError):
        record("dates", "could not read the rate", ">= 20,000 strings/s", None)
        return
    record("dates, spiders.swedish.parse_date", f"{rate:,.0f} strings/s", ">= 20,000 strings/s", rate >= 20_000)


# -- 6. start-up ---------------------------------------------------------------------------------
def fill_calls(url: str, n: int) -> None:
    """N funding calls in one run (dates, amounts, deadline texts), through storage/runlife.py."""
    import datetime as dt

    from fundwatch.items import FundItem, item_id
    from fundwatch.spiders.health import RunHealth
    from fundwatch.storage.db import get_engine, session_factory
    from fundwatch.storage.runlife import finish_run, start_run

    sessions = session_factory(get_engine(url))
    origin = f"https://{generate_pages.HOST}/{generate_pages.SECTION}"
    items = []
    for i in range(n):
        fi = FundItem(agency=AGENCY, kind="funding_call", key=f"Utlysning {i}", title=f"Utlysning {i}: stöd till föreningar",
                      url=f"{origin}/utlysning-{i:05d}", origin=origin,
                      opens=dt.date(2026, 1 + i % 12, 1 + i % 28), deadline=dt.date(2027, 1 + i % 12, 1 + i % 28),
                      deadline_text=f"{1 + i % 28} {generate_pages.MONTHS[i % 12]} 2027 kl. 23.59",
                      amount_text=f"Ca {1 + i % 500} MSEK", amount_sek=(1 + i % 500) * 1_000_000,
                      competitive=bool(i % 2), status="unknown", text=f"Utlysning {i}. " * 20,
                      details={"Stöd": "75 %"}, source=SOURCE_ID)
        fi.id = item_id(fi.agency, fi.kind, fi.key)
        items.append(fi)
    health = RunHealth(must_carry=(origin,))
    health.robots(generate_pages.HOST, 200)
    health.page_ok(origin, 200, origin)
    health.carried(origin)
    with sessions() as session, session.begin():
        run_id = start_run(session, SOURCE_ID, AGENCY, "page").id
    with sessions() as session, session.begin():
        finish_run(session, run_id, health.outcome("finished"), items)


def fundwatch_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "fundwatch"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "fundwatch.cli"]


def timed(cmd: list[str], env: dict, check_json: int | None = None) -> float:
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, env=env, timeout=300, cwd=ROOT)
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {out.stderr.decode()[-2000:]}")
    if check_json is not None and len(json.loads(out.stdout)) != check_json:
        raise SystemExit(f"{' '.join(cmd)} did not list {check_json} items")
    return seconds


def bench_startup(ctx) -> None:
    n = 10_000
    say(f"\n6. Start-up: wall time of `fundwatch --help` and `fundwatch calls --format json` ({n:,} items in SQLite)")
    url = use_db(ctx.work, "startup")
    fill_calls(url, n)
    env = dict(os.environ, FUNDWATCH_DATABASE_URL=url)
    cmd = fundwatch_cmd()
    help_times, calls_times = [], []
    timed(cmd + ["--help"], env)  # warm the bytecode cache once
    for _ in range(max(ctx.runs, 5)):  # alternating, as everywhere
        help_times.append(timed(cmd + ["--help"], env))
        calls_times.append(timed(cmd + ["calls", "--format", "json"], env, check_json=n))
    h, c = median(help_times), median(calls_times)
    say(f"  --help: {fmt_runs(help_times)}")
    say(f"  calls --format json: {fmt_runs(calls_times)}")
    record("start-up, fundwatch --help median", f"{h * 1000:.0f} ms", "< 300 ms", h < 0.3)
    record(f"start-up, fundwatch calls --format json ({n:,} items) median", f"{c * 1000:.0f} ms", "", None)


# -- 7. memory ----------------------------------------------------------------------------------
def crawl_child(args: list[str]) -> None:
    """Hidden entry point: crawl SOURCES with the mirror at URL through crawl_source, then print the
    peak RSS of the scrapy child (this process's only child), of this process (which records the
    run, as `fundwatch crawl` does) and the crawl's figures as JSON."""
    sources_path, mirror_url, expect = args[0], args[1], int(args[2])
    from fundwatch.crawl import crawl_source
    from fundwatch.sources import load_sources

    os.environ["FUNDWATCH_MIRROR"] = mirror_url
    source = load_sources(sources_path).get(SOURCE_ID)
    start = time.perf_counter()
    result = crawl_source(source, sources_path, timeout=CHILD_TIMEOUT, settings=crawl_settings())
    seconds = time.perf_counter() - start
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # kilobytes on Linux
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "status": result.status, "items": result.summary.get("items"),
                      "expect": expect, "child_rss_mb": child_kb / 1024, "parent_rss_mb": self_kb / 1024,
                      "log": result.log_file}))


def bench_memory(ctx) -> None:
    n = ctx.big
    say(f"\n7. Memory: peak RSS of a {n:,}-page crawl: the scrapy child and the process recording the run "
        f"(getrusage RUSAGE_CHILDREN and RUSAGE_SELF)")
    mirror = ctx.work / f"mirror-{n}"
    if not mirror.exists():
        generate_pages.generate(mirror, n, page_class="synthetic")
    urls = [generate_pages.url_for(i, "synthetic") for i in range(n)]
    sources = write_sources(ctx.work / f"sources-{n}.toml", urls)
    use_db(ctx.work, "memory")
    with BenchServer(mirror) as server:
        out = subprocess.run([sys.executable, __file__, "_crawl_child", str(sources), server.url, str(n)],
                             capture_output=True, text=True, timeout=CHILD_TIMEOUT + 60, env=os.environ.copy())
    if out.returncode != 0:
        raise SystemExit(f"memory crawl failed: {out.stderr[-2000:]}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    if r["status"] != "ok" or r["items"] != n:
        raise SystemExit(f"memory crawl did not store {n} items: {r}")
    say(f"  crawl: {r['seconds']:.1f} s ({n / r['seconds']:.0f} pages/s), status {r['status']}, {r['items']} items")
    peak = max(r["child_rss_mb"], r["parent_rss_mb"])
    record(f"memory, peak RSS of a {n:,}-page crawl",
           f"{peak:.0f} MB (scrapy child {r['child_rss_mb']:.0f} MB, recording process {r['parent_rss_mb']:.0f} MB)",
           "< 250 MB", peak < 250)


# -- main ---------------------------------------------------------------------------------------
class Context:
    items = None


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_crawl_child":
        crawl_child(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=1000, help="pages in the mirror for sections 1-3 (default 1,000)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each side of a comparison (at least 3)")
    parser.add_argument("--big", type=int, default=10_000, help="pages of the memory crawl (default 10,000)")
    parser.add_argument("--storage-crawls", type=int, default=100, help="crawls in each storage-growth loop")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {', '.join(SECTIONS)}")
    parser.add_argument("--quick", action="store_true", help="200 pages, 2,000 for memory, 10 storage crawls")
    parser.add_argument("--urlwatch-venv", type=Path,
                        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "fundwatch-bench" / "urlwatch-venv",
                        help="venv holding urlwatch from PyPI (created if missing)")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (databases, logs) and print its path")
    args = parser.parse_args()
    if args.runs < 3:
        parser.error("--runs must be at least 3")
    if args.quick:
        args.pages, args.big, args.storage_crawls = 200, 2000, 10
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")

    ctx = Context()
    ctx.n, ctx.runs, ctx.big, ctx.storage_crawls = args.pages, args.runs, args.big, args.storage_crawls
    ctx.work = Path(tempfile.mkdtemp(prefix="fundwatch-bench-"))
    for var in ("FUNDWATCH_SOURCES", "FUNDWATCH_MIRROR"):
        os.environ.pop(var, None)
    say(f"fundwatch benchmarks, {time.strftime('%Y-%m-%d %H:%M')}, load average at start {load()}")
    say(f"machine: {machine()}")
    try:
        if {"crawl", "recheck"} & set(only):
            ctx.urlwatch = urlwatch_executable(args.urlwatch_venv)
            ctx.urlwatch_version = urlwatch_version(ctx.urlwatch)
            say(f"urlwatch: {ctx.urlwatch_version} ({ctx.urlwatch})")
        ctx.mirror = ctx.work / "mirror"
        ctx.urls = generate_pages.generate(ctx.mirror, ctx.n, page_class="synthetic")
        ctx.sources = write_sources(ctx.work / "sources.toml", ctx.urls)
        ctx.class_urls, ctx.class_sources, ctx.class_kb = {}, {}, {}
        for page_class in CRAWL_CLASSES:
            urls = ctx.class_urls[page_class] = generate_pages.generate(ctx.mirror, ctx.n, page_class=page_class)
            ctx.class_sources[page_class] = write_sources(ctx.work / f"sources-{page_class}.toml", urls)
            ctx.class_kb[page_class] = sum(
                (ctx.mirror / generate_pages.HOST / u.split(generate_pages.HOST + "/", 1)[1] / "index.html").stat().st_size
                for u in urls) / len(urls) / 1024
        os.chdir(ctx.work)  # the crawl children's logs (.fundwatch/logs) land in the temp folder
        child_environment(ctx.work)
        with BenchServer(ctx.mirror) as server:
            ctx.server = server
            warm_up(ctx)
            for name in SECTIONS:
                if name in only:
                    globals()[f"bench_{name}"](ctx)
    finally:
        os.chdir(ROOT)
        if args.keep:
            say(f"\n(temp folder kept: {ctx.work})")
        else:
            shutil.rmtree(ctx.work, ignore_errors=True)

    say(f"\nSummary (load average at the end {load()})")
    width = max(len(f) for f, *_ in SUMMARY) if SUMMARY else 10
    for figure, value, target, met in SUMMARY:
        verdict = "" if met is None else ("met" if met else "NOT MET")
        say(f"  {figure:<{width}}  {value}" + (f"  | target {target}: {verdict}" if target else ""))


if __name__ == "__main__":
    main()
