"""Benchmark: `fundwatch digest send` to 10,000 subscribers over one SMTP connection.

Builds a throwaway SQLite database (or uses --db, e.g. a PostgreSQL URL of an empty schema) with
N items changed this week and S confirmed subscribers with mixed filters, starts aiosmtpd on
127.0.0.1 in its own process (so it does not share the sender's GIL), runs `fundwatch digest send`
as a child process and prints messages/s and the sender's peak RSS.

    python bench/digest_send.py [--subscribers 10000] [--items 400] [--db URL]
    python bench/digest_send.py --subscribers 2000 --compare boundary   # a speed device: its gain
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SERVER = textwrap.dedent("""
    import resource, sys, time, signal
    from aiosmtpd.controller import Controller
    class H:
        n = 0
        size = 0
        lines = 0
        sessions = set()
        async def handle_DATA(self, server, session, envelope):
            H.n += 1
            H.size += len(envelope.content)
            H.lines += envelope.content.count(b"\\n")
            H.sessions.add(id(session))
            return "250 OK"
    c = Controller(H(), hostname="127.0.0.1", port=int(sys.argv[1]))
    c.start()
    print("ready", flush=True)
    def cpu():
        u = resource.getrusage(resource.RUSAGE_SELF)
        return u.ru_utime + u.ru_stime
    signal.signal(signal.SIGTERM, lambda *a: (print(H.n, len(H.sessions), H.size, H.lines, cpu(), flush=True), c.stop(), sys.exit(0)))
    while True:
        time.sleep(1)
""")

WORDS = ["våld", "barn", "unga", "integration", "nyanlända", "kvinnor", "äldre", "idrott", "kultur", "asyl",
         "brottsoffer", "arbetsmarknad", "utbildning", "språk", "hälsa", "boende", "föreningar", "forskning",
         "ensamkommande", "digital", "demokrati", "jämställdhet", "funktionsnedsättning", "landsbygd"]
AGENCIES = ["migrationsverket", "brottsoffermyndigheten", "arbetsformedlingen", "mucf", "socialstyrelsen"]
KINDS = ["funding_call", "procurement", "collaboration", "news"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def populate(n_items: int, n_subscribers: int, returning: float = 0.9, seed: int = 7) -> None:
    """Items first seen three weeks ago; this week a second crawl moves a tenth of the deadlines
    and adds a few calls. `returning` of the subscribers had last week's digest; the others get a
    first digest (with everything open now)."""
    from sqlalchemy import func, insert, select, update
    from sqlalchemy.orm import Session

    from fundwatch.digest.builder import iso_week
    from fundwatch.digest.models import Delivery, Subscriber
    from fundwatch.items import FundItem, item_id
    from fundwatch.storage.db import get_engine
    from fundwatch.storage.models import Change, ItemVersion, utcnow
    from fundwatch.storage.outcome import RunOutcome
    from fundwatch.storage.queries import now_local
    from fundwatch.storage.runlife import finish_run, start_run

    rng = random.Random(seed)
    engine = get_engine()
    today = dt.date.today()
    now = utcnow()

    def run(agency, page, items):
        with Session(engine) as s:
            with s.begin():
                run_id = start_run(s, agency, agency, agency).id
            with s.begin():
                finish_run(s, run_id, RunOutcome(status="ok", fetched_pages={page}), items)

    def item(agency, page, n):
        kind = rng.choice(KINDS)
        title = f"{rng.choice(WORDS).capitalize()} och {rng.choice(WORDS)}: utlysning {n}"
        fi = FundItem(agency=agency, kind=kind, key=title, title=title, url=f"{page}/{n}", origin=page,
                      deadline=today + dt.timedelta(days=rng.randint(-3, 120)), status="open",
                      amount_sek=rng.choice([None, 500_000, 2_300_000, 45_000_000]), competitive=rng.random() > 0.1,
                      text=" ".join(rng.choice(WORDS) for _ in range(300)))
        fi.id, fi.source = item_id(agency, kind, title), agency
        return fi

    per_agency = n_items // len(AGENCIES)
    pages = {a: f"https://{a}.example.se/utlysningar" for a in AGENCIES}
    lists = {a: [item(a, pages[a], n) for n in range(per_agency)] for a in AGENCIES}
    for agency in AGENCIES:
        run(agency, pages[agency], lists[agency])
    with engine.begin() as conn:  # that crawl was three weeks ago
        conn.execute(update(Change).values(detected_at=now - dt.timedelta(days=21)))
        conn.execute(update(ItemVersion).values(recorded_at=now - dt.timedelta(days=21)))
        last_week_upto = conn.execute(select(func.max(Change.id))).scalar()
    for agency in AGENCIES:  # this week's crawl
        for fi in lists[agency][::10]:
            fi.deadline = fi.deadline + dt.timedelta(days=14)
        lists[agency] += [item(agency, pages[agency], per_agency + n) for n in range(per_agency // 20)]
        run(agency, pages[agency], lists[agency])

    rows = []
    for n in range(n_subscribers):
        r = rng.random()
        agencies = rng.sample(AGENCIES, rng.randint(1, 2)) if 0.4 <= r < 0.7 else []
        keywords = rng.sample(WORDS, rng.randint(1, 3)) if 0.7 <= r < 0.9 else []
        kinds = rng.sample(KINDS, 1) if r >= 0.9 else []
        rows.append({"email": f"org{n}@example.org", "org": f"Förening nummer {n}", "agencies": agencies,
                     "kinds": kinds, "keywords": keywords, "include_noncompetitive": rng.random() < 0.05,
                     "status": "confirmed", "token_key": f"{rng.getrandbits(128):032x}", "created_at": now,
                     "consent": "import", "confirmed_at": now, "imported_by": "bench", "hard_bounces": 0})
    last_week = iso_week(now_local() - dt.timedelta(days=7))
    with engine.begin() as conn:
        for i in range(0, len(rows), 1000):
            conn.execute(insert(Subscriber), rows[i:i + 1000])
        ids = list(conn.execute(select(Subscriber.id)).scalars())
        sent = [{"week": last_week, "subscriber_id": sid, "status": "sent", "first": True, "after_change_id": 0,
                 "upto_change_id": last_week_upto, "created_at": now, "attempts": 1}
                for sid in ids if rng.random() < returning]
        for i in range(0, len(sent), 1000):
            conn.execute(insert(Delivery), sent[i:i + 1000])


# `--compare DEVICE`: the sender runs through this wrapper, with the device or without it (the
# same code otherwise), so a speed device of the mail path is measured against its absence.
SENDER = textwrap.dedent("""
    import sys
    device = sys.argv[1]
    if device == "boundary":  # no boundary set at build time: the generator finds one itself
        import fundwatch.mail
        class Message(fundwatch.mail.EmailMessage):
            def set_boundary(self, boundary):
                if not boundary.startswith("=_fw_"):
                    super().set_boundary(boundary)
        fundwatch.mail.EmailMessage = Message
    from fundwatch.cli import main
    main(["digest", "send"], prog_name="fundwatch")
""")
DEVICES = ("boundary",)


def send_once(env: dict, without: str | None = None) -> dict:
    """One `fundwatch digest send` against a fresh aiosmtpd process: its figures."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], stdout=subprocess.PIPE, text=True)
    assert server.stdout.readline().strip() == "ready"
    env = dict(env, FUNDWATCH_SMTP_URL=f"smtp://127.0.0.1:{port}")
    argv = ["-c", SENDER, without or ""] if without is not None else ["-m", "fundwatch.cli", "digest", "send"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    child = subprocess.run([sys.executable, *argv], env=env, capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - t
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    server.terminate()
    received, connections, size, lines, server_cpu = server.communicate(timeout=30)[0].split()
    if child.returncode:
        print(child.stdout.strip(), child.stderr[-2000:], sep="\n")
        sys.exit(1)
    return {"output": child.stdout.strip() or child.stderr.strip(), "elapsed": elapsed,
            "cpu": usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime,
            "peak_kb": usage.ru_maxrss, "received": int(received), "connections": int(connections),
            "size": int(size), "lines": int(lines), "server_cpu": float(server_cpu)}


def compare(env: dict, db_file: Path, device: str, runs: int) -> None:
    """The send with DEVICE and without it, alternating (the order turns every round), each from
    the same freshly planned database: sender CPU per message, medians and the gain."""
    pristine = db_file.with_suffix(".pristine")
    shutil.copyfile(db_file, pristine)
    cpu: dict[str, list[float]] = {"with": [], "without": []}
    for n in range(runs):
        for variant in (("with", "without") if n % 2 == 0 else ("without", "with")):
            for stale in (db_file.with_name(db_file.name + "-wal"), db_file.with_name(db_file.name + "-shm")):
                stale.unlink(missing_ok=True)
            shutil.copyfile(pristine, db_file)
            r = send_once(env, "" if variant == "with" else device)
            per_message = r["cpu"] / max(r["received"], 1) * 1000
            cpu[variant].append(per_message)
            print(f"  {variant:>7} {device}: sender CPU {r['cpu']:.1f} s for {r['received']} messages "
                  f"({per_message:.2f} ms a message), {r['size'] / max(r['received'], 1) / 1024:.0f} KiB and "
                  f"{r['lines'] / max(r['received'], 1):.0f} lines each, server CPU {r['server_cpu']:.1f} s, "
                  f"{r['elapsed']:.1f} s wall", flush=True)
    with_, without = statistics.median(cpu["with"]), statistics.median(cpu["without"])
    print(f"{device}: median sender CPU per message {with_:.2f} ms with, {without:.2f} ms without: "
          f"gain {(without - with_) / without * 100:+.1f} % (load average {os.getloadavg()[0]:.1f} at the end)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=400)
    parser.add_argument("--returning", type=float, default=0.9,
                        help="share of subscribers who had last week's digest (default 0.9; 0: all first digests)")
    parser.add_argument("--db", help="database URL (default: a new SQLite file)")
    parser.add_argument("--compare", choices=DEVICES,
                        help="measure a speed device: sends with and without it, alternating (SQLite only)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each side with --compare (default 3)")
    args = parser.parse_args()
    if args.compare and args.db:
        parser.error("--compare needs the default SQLite database (it copies the file between runs)")

    tmp = Path(tempfile.mkdtemp(prefix="fw-bench-"))
    env = dict(os.environ)
    env.update({
        "FUNDWATCH_DATABASE_URL": args.db or f"sqlite:///{tmp / 'bench.db'}",
        "FUNDWATCH_SECRET_KEY": "bench-secret", "FUNDWATCH_PUBLIC_URL": "https://fundwatch.example.org",
        "FUNDWATCH_MAIL_FROM": "fundwatch <veckobrev@example.org>", "FUNDWATCH_OUTBOX": str(tmp / "outbox"),
    })
    env.pop("FUNDWATCH_SOURCES", None)
    os.environ.update(env)
    t = time.perf_counter()
    populate(args.items, args.subscribers, args.returning)
    print(f"set-up: {args.items} items, {args.subscribers} subscribers in {time.perf_counter() - t:.1f} s")
    if args.compare:
        from fundwatch.storage.db import get_engine

        get_engine().dispose()
        compare(env, tmp / "bench.db", args.compare, args.runs)
        return

    r = send_once(env)
    print(r["output"])
    received = max(r["received"], 1)
    print(f"received by the SMTP server: {r['received']} messages over {r['connections']} connection(s), "
          f"{r['size'] / received / 1024:.0f} KiB and {r['lines'] / received:.0f} lines "
          "each on average (the server reads a message line by line)")
    print(f"CPU time: sender {r['cpu']:.1f} s ({r['cpu'] / received * 1000:.2f} ms a message), SMTP server "
          f"{r['server_cpu']:.1f} s (each on its own core; the rest of the wall time is the two waiting for each other)")
    print(f"digest send: {r['elapsed']:.1f} s wall (start-up, planning and sending), "
          f"{r['received'] / r['elapsed']:.0f} messages/s, sender peak RSS {r['peak_kb'] / 1024:.0f} MB")


if __name__ == "__main__":
    main()
