"""The daily cycle's politeness and wall time (issue 19): `fundwatch crawl` of every source, on the
mirror, with production delays. Prints a per-host request log summary and the targets:

  * no host ever sees two requests at once (overlap of [arrived, answered] per host: 0);
  * the gap between two requests to one host is at least its pace (DOWNLOAD_DELAY, or the
    Crawl-delay its robots.txt states);
  * the cycle's wall time is at most 1.2x the slowest host's share (its requests x its pace).

    .venv/bin/python bench/daily_cycle.py              # shipped sources + 21 county pages on one host
    .venv/bin/python bench/daily_cycle.py --counties 5 --keep

The mirror is the project's state1 plus, on www.lansstyrelsen.se, one TIA page per county (21 page
sources on one host, as the county sites are) and a robots.txt there stating `Crawl-delay: 2` when
--crawl-delay is given. Servers listen on 127.0.0.1 only; the crawl child has a timeout.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fundwatch.mirror_server import MirrorServer, mirror_root  # noqa: E402
from fundwatch.regions import COUNTIES  # noqa: E402

COUNTY_HOST = "www.lansstyrelsen.se"
PAGE = """<!DOCTYPE html><html lang="sv"><head><meta charset="utf-8"><title>TIA – {county}</title></head>
<body><header>Länsstyrelsen i {county}</header><main><h1>Bidrag för tidiga insatser för asylsökande</h1>
<p>Länsstyrelsen i {county} fördelar bidrag till ideella föreningar och kommuner för tidiga insatser
för asylsökande. Sista ansökningsdag är 22 mars 2027.</p></main><footer>lansstyrelsen.se</footer></body></html>
"""


def build(tmp: Path, counties: int, crawl_delay: float | None) -> tuple[Path, Path]:
    root = tmp / "mirror"
    shutil.copytree(mirror_root() / "state1", root)
    sources = (ROOT / "fundwatch" / "sources.toml").read_text("utf-8")
    for slug, county in list(COUNTIES.items())[:counties]:
        page = root / COUNTY_HOST / slug / "samhalle" / "social-hallbarhet" / "integration" / "tia"
        page.mkdir(parents=True)
        (page / "index.html").write_text(PAGE.format(county=county), "utf-8")
        sources += (f'\n[[source]]\nid = "lansstyrelsen-{slug}"\nagency = "lansstyrelsen"\nspider = "page"\n'
                    f'urls = ["https://{COUNTY_HOST}/{slug}/samhalle/social-hallbarhet/integration/tia/"]\n')
    if crawl_delay:
        (root / COUNTY_HOST / "robots.txt").write_text(f"User-agent: *\nCrawl-delay: {crawl_delay:g}\n", "utf-8")
    path = tmp / "sources.toml"
    path.write_text(sources, "utf-8")
    return root, path


def per_host(log, delay: float, crawl_delay: float | None) -> dict[str, dict]:
    by_host = defaultdict(list)
    for entry in log:
        by_host[entry.host].append(entry)
    out = {}
    for host, entries in by_host.items():
        entries.sort(key=lambda e: e.started)
        overlaps = sum(1 for a, b in zip(entries, entries[1:]) if b.started < a.finished)
        gaps = [b.started - a.started for a, b in zip(entries, entries[1:])]
        pace = max(delay, crawl_delay or 0) if host == COUNTY_HOST else delay
        out[host] = {"requests": len(entries), "overlaps": overlaps, "min_gap": min(gaps) if gaps else None,
                     "pace": pace, "share": len(entries) * pace,
                     "span": entries[-1].finished - entries[0].started,
                     "first": entries[0].started, "last": entries[-1].finished}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counties", type=int, default=21)
    parser.add_argument("--delay", type=float, default=1.0, help="DOWNLOAD_DELAY (production: 1.0)")
    parser.add_argument("--crawl-delay", type=float, default=None, help="Crawl-delay in the county host's robots.txt")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fundwatch-cycle-"))
    root, sources = build(tmp, args.counties, args.crawl_delay)
    env = dict(os.environ, FUNDWATCH_DATABASE_URL=f"sqlite:///{tmp / 'cycle.db'}",
               FUNDWATCH_CACHE_DIR=str(tmp / "state" / "httpcache"), PYTHONPYCACHEPREFIX=str(tmp / "pycache"))
    # This environment sets PYTHONDONTWRITEBYTECODE: with it the prefix above stays empty and every
    # crawl process compiles Scrapy, Twisted and SQLAlchemy again, unlike an installed program.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cmd = [sys.executable, "-m", "fundwatch.cli", "crawl", "--sources", str(sources),
           "--set", f"DOWNLOAD_DELAY={args.delay}"]
    try:
        with MirrorServer(root) as server:
            env["FUNDWATCH_MIRROR"] = server.url
            # Untimed, without delays, into a database and cache of its own: fills the bytecode cache
            # (this environment writes none by default) as an installed program has it.
            warm = dict(env, FUNDWATCH_DATABASE_URL=f"sqlite:///{tmp / 'warm.db'}",
                        FUNDWATCH_CACHE_DIR=str(tmp / "warm" / "httpcache"))
            subprocess.run([*cmd[:-1], "DOWNLOAD_DELAY=0"], env=warm, capture_output=True, timeout=600, cwd=tmp)
            server.log.clear()
            load_before = os.getloadavg()[0]
            started, cpu_before = time.time(), resource.getrusage(resource.RUSAGE_CHILDREN)
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800, cwd=tmp)
            wall = time.time() - started
            cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
            log = list(server.log)
        print(proc.stdout + proc.stderr)
        hosts = per_host(log, args.delay, args.crawl_delay)
        print(f"{'host':32} {'requests':>8} {'pace s':>6} {'share s':>7} {'span s':>7} {'min gap s':>9} {'overlaps':>8}")
        for host, h in sorted(hosts.items(), key=lambda kv: -kv[1]["share"]):
            gap = f"{h['min_gap']:.2f}" if h["min_gap"] is not None else "–"
            print(f"{host:32} {h['requests']:>8} {h['pace']:>6.1f} {h['share']:>7.1f} {h['span']:>7.1f} {gap:>9} {h['overlaps']:>8}")
        slowest = max(hosts.values(), key=lambda h: h["share"])
        ratio = wall / slowest["share"]
        overlaps = sum(h["overlaps"] for h in hosts.values())
        too_close = [host for host, h in hosts.items() if h["min_gap"] is not None and h["min_gap"] < h["pace"] - 0.01]
        print(f"\nsources: {sum(line.strip() == '[[source]]' for line in sources.read_text('utf-8').splitlines())}, hosts: {len(hosts)}, requests: {len(log)}; "
              f"CPU of the cycle (all processes) {cpu:.1f} s on {os.cpu_count()} cores, load average before "
              f"{load_before:.1f}")
        print(f"wall time {wall:.1f} s; slowest host's share {slowest['share']:.1f} s; ratio {ratio:.2f} (target <= 1.2): "
              f"{'met' if ratio <= 1.2 else 'NOT met'}")
        print(f"slowest host: first request {slowest['first'] - started:.1f} s after the start, last answer "
              f"{started + wall - slowest['last']:.1f} s before the end; load average after {os.getloadavg()[0]:.1f}")
        print(f"requests at once on one host: {overlaps} (target 0): {'met' if overlaps == 0 else 'NOT met'}")
        print(f"hosts asked sooner than their pace: {', '.join(too_close) or 'none'} (target none): "
              f"{'met' if not too_close else 'NOT met'}")
        return 0 if proc.returncode == 0 else 1
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
