"""Benchmark: how long the `fundwatch` command takes to answer, as a person at a terminal runs it.

Run: .venv/bin/python bench/cli_startup.py [--runs N] [--db PATH] [--only calls]
Times whole processes (wall clock and the child's CPU time, user + system, from getrusage; median
of N runs, one untimed run first to warm the bytecode cache): `fundwatch --help`, `COMMAND --help`
for every command, a typo, and `fundwatch calls` (table and JSON) on the demo database (PATH, else
one made by `fundwatch demo` in a temp folder, about a minute). `--only calls`: only the last two.
Targets: help and typo < 150 ms; `calls` on the demo database < 400 ms. On a loaded machine the
wall clock mostly measures waiting for a core; the CPU time is what the command itself costs. Also
prints, per command, whether it imported SQLAlchemy or Scrapy (from `python -X importtime`).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HELP_TARGET, CALLS_TARGET = 0.150, 0.400
COMMANDS = ("crawl", "run", "calls", "history", "runs", "show", "sources", "demo", "db", "subscribe",
            "subscribers", "unsubscribe", "digest", "serve", "scheduler")


def fundwatch() -> list[str]:
    exe = Path(sys.executable).parent / "fundwatch"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "fundwatch.cli"]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(args: list[str], env: dict, ok=(0,)) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process)."""
    cpu, start = children_cpu(), time.perf_counter()
    out = subprocess.run(fundwatch() + args, capture_output=True, env=env, timeout=120, cwd=ROOT)
    seconds = time.perf_counter() - start
    if out.returncode not in ok:
        raise SystemExit(f"fundwatch {' '.join(args)} exited {out.returncode}: {out.stderr.decode()[-500:]}")
    return seconds, children_cpu() - cpu


def heavy_imports(args: list[str], env: dict) -> str:
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "fundwatch.cli", *args], capture_output=True,
                         env=env, timeout=120, cwd=ROOT, text=True)
    names = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if "|" in line}
    found = [name for name in ("sqlalchemy", "scrapy", "twisted", "starlette", "uvicorn", "premailer") if name in names]
    return ", ".join(found) or "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--db", help="demo database (default: make one with `fundwatch demo`)")
    parser.add_argument("--only", choices=["calls"], help="only `calls` on the demo database")
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fundwatch-cli-startup-"))
    env = dict(os.environ)
    # this environment sets PYTHONDONTWRITEBYTECODE: an installed program has its bytecode cached
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    env.pop("COLUMNS", None)
    db = options.db
    if db is None:
        print("making the demo database (fundwatch demo) …", flush=True)
        demo_env = dict(env, FUNDWATCH_SECRET_KEY=env.get("FUNDWATCH_SECRET_KEY", "bench-only-secret"))
        subprocess.run(fundwatch() + ["demo", "--dir", str(work / "demo")], env=demo_env, check=True,
                       capture_output=True, timeout=600, cwd=ROOT)
        db = str(work / "demo" / "fundwatch.db")
    env["FUNDWATCH_DATABASE_URL"] = f"sqlite:///{Path(db).absolute()}"
    cases = [("fundwatch --help", ["--help"], (0,), HELP_TARGET)]
    cases += [(f"fundwatch {name} --help", [name, "--help"], (0,), HELP_TARGET) for name in COMMANDS]
    cases += [("fundwatch calsl (a typo)", ["calsl"], (2,), HELP_TARGET)]
    calls = [("fundwatch calls (demo database)", ["calls"], (0,), CALLS_TARGET),
             ("fundwatch calls --format json (demo)", ["calls", "--format", "json"], (0,), CALLS_TARGET)]
    cases = calls if options.only == "calls" else cases + calls
    for _, args, ok, _ in cases:  # warm the bytecode cache
        timed(args, env, ok)
    times: dict[str, list[float]] = {label: [] for label, *_ in cases}
    cpus: dict[str, list[float]] = {label: [] for label, *_ in cases}
    load = os.getloadavg()[0]
    for _ in range(options.runs):  # alternating, so a slow moment of the machine is shared
        for label, args, ok, _ in cases:
            wall, cpu = timed(args, env, ok)
            times[label].append(wall)
            cpus[label].append(cpu)
    print(f"{'command':44} {'median':>8} {'min':>8} {'CPU':>8}  target         heavy imports")
    met = True
    for label, args, _, target in cases:
        median = statistics.median(times[label])
        ok = median < target
        met &= ok
        print(f"{label:44} {median * 1000:6.0f} ms {min(times[label]) * 1000:5.0f} ms "
              f"{statistics.median(cpus[label]) * 1000:5.0f} ms  <{target * 1000:.0f} ms {'met' if ok else 'MISSED':6}  "
              f"{heavy_imports(args, env)}")
    print(f"\n{options.runs} runs each on {os.cpu_count()} cores, load average {load:.1f} at the start, "
          f"{os.getloadavg()[0]:.1f} at the end; {'every target met' if met else 'a target missed'} (by wall time)")


if __name__ == "__main__":
    main()
