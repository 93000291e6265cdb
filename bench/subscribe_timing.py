"""The subscribe form's answer time for a subscribed address and for a stranger (issue 16, point 8).

Starts a relay on 127.0.0.1 that takes --relay-delay seconds per message (aiosmtpd), the web app
under uvicorn on a free port with a fresh SQLite database, subscribes one address, then posts the
form --rounds times for it and for a new stranger each time, alternating, and prints the medians
and 90th percentiles of both and their difference. Then stops the relay and posts once more for
each, printing the status codes. A leak shows as a difference near the relay's delay, or as two
different status codes.

    .venv/bin/python bench/subscribe_timing.py [--rounds 20] [--relay-delay 0.4]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import re
import socket
import statistics
import tempfile
import threading
import time
import urllib.parse


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SlowRelay:
    def __init__(self, delay: float):
        self.delay, self.count = delay, 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        await asyncio.sleep(self.delay)
        return "250 OK"


def post_form(port: int, email: str) -> tuple[int, float]:
    """GET the form, POST it as a browser would; the seconds of both round trips."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/")
    response = conn.getresponse()
    html = response.read().decode()
    cookie = response.getheader("Set-Cookie").split(";")[0]
    csrf = re.search(r'name="csrf" value="([^"]+)"', html).group(1)
    body = urllib.parse.urlencode({"csrf": csrf, "email": email, "org": "Föreningen"}).encode()
    conn.request("POST", "/", body=body, headers={"Content-Type": "application/x-www-form-urlencoded",
                                                   "Cookie": cookie, "Origin": f"http://127.0.0.1:{port}"})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--relay-delay", type=float, default=0.4)
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="fundwatch-bench-subscribe-")
    smtp_port, web_port = free_port(), free_port()
    os.environ.update({
        "FUNDWATCH_DATABASE_URL": f"sqlite:///{folder}/bench.db", "FUNDWATCH_SECRET_KEY": "bench",
        "FUNDWATCH_PUBLIC_URL": "https://fundwatch.example.org", "FUNDWATCH_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
    })
    import uvicorn
    from aiosmtpd.controller import Controller

    from fundwatch.digest import confirmations
    from fundwatch.digest.filters import Filters
    from fundwatch.digest.subscribers import subscribe
    from fundwatch.storage.db import get_engine, session_scope
    from fundwatch.web.app import create_app

    confirmations.PER_CLIENT = confirmations.PER_MAILBOX = 10**6  # measure the answer, not the throttle
    get_engine()
    with session_scope() as session:
        subscribe(session, "known@example.org", "Känd förening", Filters(), consent="import", imported_by="bench")
    relay = SlowRelay(args.relay_delay)
    controller = Controller(relay, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=web_port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.01)

    post_form(web_port, "warmup@example.org")
    known, stranger = [], []
    for n in range(args.rounds):
        sides = [("known", "known@example.org"), ("stranger", f"stranger{n}@example.org")]
        for side, email in sides if n % 2 else sides[::-1]:
            status, seconds = post_form(web_port, email)
            assert status == 200, (side, status)
            (known if side == "known" else stranger).append(seconds)

    def p90(values):
        return statistics.quantiles(values, n=10)[-1]

    print(f"relay delay {args.relay_delay:.3f} s, {args.rounds} forms each (GET + POST)")
    print(f"subscribed: median {statistics.median(known) * 1000:.1f} ms, p90 {p90(known) * 1000:.1f} ms")
    print(f"stranger:   median {statistics.median(stranger) * 1000:.1f} ms, p90 {p90(stranger) * 1000:.1f} ms")
    print(f"difference of medians: {(statistics.median(stranger) - statistics.median(known)) * 1000:+.1f} ms")
    controller.stop()
    print(f"relay down: subscribed answers {post_form(web_port, 'known@example.org')[0]}, "
          f"stranger answers {post_form(web_port, 'another@example.org')[0]}")
    server.should_exit = True


if __name__ == "__main__":
    main()
