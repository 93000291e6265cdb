"""Benchmark: how long the `fundwatch` command takes to answer, as a person at a terminal runs it.

Run: .venv/bin/python bench/cli_startup.py [--runs N] [--db PATH]
Times whole processes (wall clock, median of N runs, one untimed run first to warm the bytecode
cache): `fundwatch --help`, `COMMAND --help` for every command, a typo, and `fundwatch calls` on
the demo database (PATH, else one made by `fundwatch demo` in a temp folder, about a minute).
Targets: help and typo < 150 ms; `calls` on the demo database < 400 ms. Also prints, per command,
whether its `--help` imported SQLAlchemy or Scrapy (from `python -X importtime`).
"""

from __future__ import annotations

import argparse
import os
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


def timed(args: list[str], env: dict, ok=(0,)) -> float:
    start = time.perf_counter()
    out = subprocess.run(fundwatch() + args, capture_output=True, env=env, timeout=120, cwd=ROOT)
    seconds = time.perf_counter() - start
    if out.returncode not in ok:
        raise SystemExit(f"fundwatch {' '.join(args)} exited {out.returncode}: {out.stderr.decode()[-500:]}")
    return seconds


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
    cases += [("fundwatch calsl (a typo)", ["calsl"], (2,), HELP_TARGET),
              ("fundwatch calls (demo database)", ["calls"], (0,), CALLS_TARGET)]
    for _, args, ok, _ in cases:  # warm the bytecode cache
        timed(args, env, ok)
    times: dict[str, list[float]] = {label: [] for label, *_ in cases}
    for _ in range(options.runs):  # alternating, so a slow moment of the machine is shared
        for label, args, ok, _ in cases:
            times[label].append(timed(args, env, ok))
    print(f"{'command':44} {'median':>8} {'min':>8}  target   heavy imports")
    met = True
    for label, args, _, target in cases:
        median = statistics.median(times[label])
        ok = median < target
        met &= ok
        print(f"{label:44} {median * 1000:6.0f} ms {min(times[label]) * 1000:5.0f} ms  "
              f"<{target * 1000:.0f} ms {'met' if ok else 'MISSED':6}  {heavy_imports(args, env)}")
    print(f"\n{options.runs} runs each on {os.cpu_count()} cores; {'every target met' if met else 'a target missed'}")


if __name__ == "__main__":
    main()
