"""Web benchmark (issue 18): the public pages, feeds and API over a big database.

    .venv/bin/python bench/web.py                       # SQLite, then PostgreSQL if reachable
    .venv/bin/python bench/web.py --db sqlite --items 2000 --changes 10000 --load-seconds 5

Fills a fresh database with --items items (10,000) and --changes changes (50,000: one `new` per
item, the rest updates that move a deadline, a third of them with a text diff) over 5 sources and
200 runs, starts the app in a child process (uvicorn, one worker, as `fundwatch serve` runs it but
without the access log), then on 127.0.0.1:
  1. latency: for each URL, one untimed request, then --requests sequential requests on one
     keep-alive connection; median and 95th percentile, the server's CPU time per request (from
     /proc: a busy shared machine stretches wall time far more than CPU time), and the median of
     the same request with If-None-Match (304);
  2. load: --clients threads (50), each with its own keep-alive connection, requesting the URL
     mix in turn for --load-seconds (30); requests, failures (any status but 200, or an error),
     requests/s and the latency percentiles.
Prints each figure next to its target (median < 50 ms; no failed request).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

from sqlalchemy import insert, text

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_URL = os.environ.get("FUNDWATCH_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SOURCES = [("migrationsverket", "migrationsverket"), ("brottsoffermyndigheten", "brottsoffermyndigheten"),
           ("arbetsformedlingen", "arbetsformedlingen"), ("mucf-statsbidrag", "mucf"),
           ("socialstyrelsen-statsbidrag", "socialstyrelsen")]
KINDS = ["funding_call"] * 6 + ["procurement"] * 2 + ["collaboration", "news"]
WORDS = ("integration ideella föreningar stöd projekt barn unga brottsoffer våld nära relationer "
         "arbetsmarknad etablering nyanlända civilsamhället utbildning språk återvändande asyl "
         "statsbidrag organisationer verksamhet ansökan bidrag kommun region samverkan").split()
TARGET_MS = 50.0
SUMMARY: list[tuple[str, str, str, bool]] = []


def say(line: str = "") -> None:
    print(line, flush=True)


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


# -- data -----------------------------------------------------------------------------------------
def fill(url: str, n_items: int, n_changes: int, seed: int = 18) -> list[str]:
    """A migrated database with the items, runs and changes; returns the item ids."""
    from fundwatch.storage.db import get_engine
    from fundwatch.storage.models import Change, ChangeField, Item, Run, SourceRow

    rng = random.Random(seed)
    engine = get_engine(url)
    now = dt.datetime.now(dt.UTC)
    today = now.date()
    with engine.begin() as conn:
        conn.execute(insert(SourceRow), [{"id": s, "agency": a, "spider": "page", "first_seen": now - dt.timedelta(days=400)}
                                         for s, a in SOURCES])
        runs = []
        for n in range(200):
            source = SOURCES[n % len(SOURCES)][0]
            started = now - dt.timedelta(days=200 - n)
            status = "ok" if n % 17 else "failed"
            runs.append({"id": n + 1, "source_id": source, "started_at": started, "finished_at": started + dt.timedelta(minutes=2),
                         "status": status, "pages": 40, "items": 50, "errors": 0 if status == "ok" else 1,
                         "reason_code": None if status == "ok" else "http_status",
                         "reason_params": None if status == "ok" else {"url": "https://example.se/", "status": 503}})
        conn.execute(insert(Run), runs)
        items, ids = [], []
        for n in range(n_items):
            source, agency = SOURCES[n % len(SOURCES)]
            kind = KINDS[n % len(KINDS)]
            item_id = f"{agency}/{kind}/utlysning-{n:05d}"
            ids.append(item_id)
            deadline = today + dt.timedelta(days=rng.randint(-200, 300)) if n % 7 else None
            opens = deadline - dt.timedelta(days=rng.randint(10, 90)) if deadline and n % 3 == 0 else None
            items.append({
                "id": item_id, "source_id": source, "agency": agency, "kind": kind,
                "title": f"{sentence(rng, 6)[:-1]} {n}", "url": f"https://www.{agency}.se/utlysningar/{n}",
                "origin": f"https://www.{agency}.se/utlysningar", "opens": opens, "deadline": deadline,
                "deadline_text": deadline.isoformat() if deadline else None,
                "amount_text": f"{rng.randint(1, 90) * 100_000:,} kr".replace(",", " ") if n % 2 else None,
                "amount_sek": None, "competitive": bool(n % 11), "status": "removed" if n % 50 == 0 else "open",
                "text": "\n".join(sentence(rng, 20) for _ in range(8)), "details": {"Diarienummer": f"D-{n}"},
                "content_hash": f"{n:064d}", "version": 1, "misses": 0,
                "first_seen": now - dt.timedelta(days=300), "last_seen": now - dt.timedelta(days=1),
                "removed_at": now - dt.timedelta(days=5) if n % 50 == 0 else None,
            })
        for chunk in range(0, len(items), 2000):
            conn.execute(insert(Item), items[chunk:chunk + 2000])
        changes, fields = [], []
        for n in range(n_changes):
            item_id = ids[n] if n < n_items else rng.choice(ids)
            detected = now - dt.timedelta(days=300) + dt.timedelta(seconds=n * (300 * 86400 // max(n_changes, 1)))
            update = n >= n_items
            changes.append({"id": n + 1, "run_id": 1 + n * 200 // n_changes, "item_id": item_id,
                            "change": "updated" if update else "new", "detected_at": detected,
                            "diff": "@@ -1 +1 @@\n-Gammal mening.\n+Ny mening.\n" if update and n % 3 == 0 else None})
            if update:
                old, new = today + dt.timedelta(days=rng.randint(0, 100)), today + dt.timedelta(days=rng.randint(101, 200))
                fields.append({"change_id": n + 1, "field": "deadline", "old_value": old.isoformat(), "new_value": new.isoformat()})
        for chunk in range(0, len(changes), 5000):
            conn.execute(insert(Change), changes[chunk:chunk + 5000])
        for chunk in range(0, len(fields), 5000):
            conn.execute(insert(ChangeField), fields[chunk:chunk + 5000])
        if engine.dialect.name == "postgresql":  # ids were given: move the sequences past them
            for table in ("runs", "changes", "change_fields"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"))
            conn.execute(text("ANALYZE"))
    engine.dispose()
    return ids


# -- server ---------------------------------------------------------------------------------------
def start_server(url: str, port: int, folder: Path) -> subprocess.Popen:
    env = dict(os.environ, FUNDWATCH_DATABASE_URL=url, FUNDWATCH_SECRET_KEY="bench-only-secret-key",
               FUNDWATCH_PUBLIC_URL="https://fundwatch.example.org", PYTHONPYCACHEPREFIX=str(folder / "pycache"))
    env.pop("FUNDWATCH_SOURCES", None)
    code = ("import uvicorn; from fundwatch.web.app import create_app; "
            f"uvicorn.run(create_app(), host='127.0.0.1', port={port}, log_level='warning', access_log=False, "
            "backlog=1024)")
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=folder)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/static/style.css")
            conn.getresponse().read()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the web app did not start within 60 s")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(conn: http.client.HTTPConnection, path: str, headers: dict | None = None) -> tuple[int, str | None, float]:
    start = time.perf_counter()
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    response.read()
    return response.status, response.headers.get("ETag"), (time.perf_counter() - start) * 1000


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def urls(ids: list[str]) -> dict[str, str]:
    item = urllib.parse.quote(ids[len(ids) // 2], safe="/")
    return {
        "list": "/utlysningar",
        "list, agency + keyword, page 2": "/utlysningar?agency=migrationsverket&q=integration&page=2",
        "call page": f"/utlysningar/{item}",
        "change log": "/andringar",
        "change log, keyword": "/andringar?q=brottsoffer",
        "Atom feed": "/flode.atom",
        "Atom feed, agency": "/flode.atom?agency=mucf",
        "iCalendar, agency": "/kalender.ics?agency=mucf",
        "iCalendar, all": "/kalender.ics",
        "API calls page": "/api/v1/calls?limit=100",
        "API call": f"/api/v1/calls/{item}",
        "API changes page": "/api/v1/changes?after=25000&limit=100",
        "API runs": "/api/v1/runs",
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc): what a request costs the server, which a
    busy shared machine changes far less than the wall time."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def latency(port: int, targets: dict[str, str], n: int, label: str, pid: int) -> None:
    say(f"\n-- latency ({label}): {n} sequential requests per URL on one keep-alive connection")
    say(f"{'URL':34} {'median':>8} {'p95':>8} {'server CPU':>11} {'304 median':>11}")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for name, path in targets.items():
        status, etag, _ = get(conn, path)  # untimed: fills the catalog and the caches
        assert status == 200, (path, status)
        times = []
        cpu = cpu_seconds(pid)
        for _ in range(n):
            status, _, ms = get(conn, path)
            assert status == 200, (path, status)
            times.append(ms)
        cpu = (cpu_seconds(pid) - cpu) * 1000 / n
        not_modified = []
        for _ in range(max(10, n // 5)):
            status, _, ms = get(conn, path, {"If-None-Match": etag})
            assert status == 304, (path, status)
            not_modified.append(ms)
        median = statistics.median(times)
        say(f"{name:34} {median:7.1f}ms {percentile(times, 0.95):7.1f}ms {cpu:9.1f}ms {statistics.median(not_modified):10.1f}ms")
        SUMMARY.append((f"{label}: {name} median", f"{median:.1f} ms", f"< {TARGET_MS:.0f} ms", median < TARGET_MS))
    conn.close()


def load(port: int, targets: dict[str, str], clients: int, seconds: float, label: str) -> None:
    say(f"\n-- load ({label}): {clients} clients, keep-alive, the URL mix in turn for {seconds:.0f} s")
    paths = list(targets.values())
    results: list[list[float]] = [[] for _ in range(clients)]
    failures: list[list[str]] = [[] for _ in range(clients)]
    stop = time.monotonic() + seconds
    barrier = threading.Barrier(clients)

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        barrier.wait()
        i = k
        while time.monotonic() < stop:
            path = paths[i % len(paths)]
            i += 1
            try:
                status, _, ms = get(conn, path)
            except (OSError, http.client.HTTPException) as exc:
                failures[k].append(f"{path}: {exc!r}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                continue
            if status != 200:
                failures[k].append(f"{path}: HTTP {status}")
            results[k].append(ms)
        conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    times = [ms for r in results for ms in r]
    failed = [f for fs in failures for f in fs]
    say(f"requests {len(times) + len(failed) - sum(1 for f in failed if 'HTTP' in f)}, failed {len(failed)}, "
        f"{len(times) / elapsed:.0f} requests/s, median {statistics.median(times):.0f} ms, "
        f"p95 {percentile(times, 0.95):.0f} ms, max {max(times):.0f} ms")
    for f in failed[:5]:
        say(f"  failure: {f}")
    SUMMARY.append((f"{label}: load, failed requests", f"{len(failed)} of {len(times)}", "0", not failed))


def bench(kind: str, args, folder: Path) -> None:
    if kind == "sqlite":
        url = f"sqlite:///{folder / 'web.db'}"
    else:
        import psycopg

        schema = f"bench_web_{os.getpid()}"
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            conn.execute(f"CREATE SCHEMA {schema}")
        url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    label = f"{kind}, {args.items:,} items, {args.changes:,} changes"
    say(f"\n== {label}")
    started = time.monotonic()
    ids = fill(url, args.items, args.changes)
    say(f"filled in {time.monotonic() - started:.1f} s")
    port = free_port()
    proc = start_server(url, port, folder)
    try:
        targets = urls(ids)
        latency(port, targets, args.requests, kind, proc.pid)
        if args.load_seconds > 0:
            load(port, targets, args.clients, args.load_seconds, kind)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if kind == "postgresql":
            with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--load-seconds", type=float, default=30)
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = parser.parse_args()
    if args.changes < args.items:
        parser.error("--changes must be at least --items (one `new` per item)")
    say(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    folder = Path(tempfile.mkdtemp(prefix="fundwatch-bench-web-"))
    try:
        for kind in (("sqlite", "postgresql") if args.db == "both" else (args.db,)):
            bench(kind, args, folder)
    finally:
        if args.keep:
            say(f"\nkept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    say("\n== summary")
    for figure, value, target, met in SUMMARY:
        say(f"{'ok  ' if met else 'MISS'} {figure:60} {value:>18}  (target {target})")
    sys.exit(0 if all(m for *_, m in SUMMARY) else 1)


if __name__ == "__main__":
    main()
