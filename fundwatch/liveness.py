"""Is the process that holds something (a source's lock, a `running` run, a digest claim) still
there? One answer for all of them: a process of this host is alive while signal 0 reaches it; a
process of another host cannot be asked, so its holder must show it lives by a heartbeat."""

from __future__ import annotations

import datetime as dt
import os
import socket


def this_host() -> str:
    return socket.gethostname()


def process_alive(pid: int | None) -> bool:
    """A process of this host with this pid exists (one we may not signal counts: it exists)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def runs_scrapy_crawl(pid: int) -> bool:
    """The process PID is a `scrapy crawl` or the crawl child of `fundwatch crawl`
    (fundwatch.spiders.runner) (Linux): a recorded process group is ended only when it still is
    one, never a process that got the pid since."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            argv = fh.read().split(b"\0")
    except OSError:
        return False
    return (b"scrapy" in argv and b"crawl" in argv) or b"fundwatch.spiders.runner" in argv


def holder_alive(pid: int | None, hostname: str | None, last_seen: dt.datetime | None,
                 stale_after: dt.timedelta, now: dt.datetime | None = None) -> bool:
    """A holder on this host lives while its process does; one on another host while its
    heartbeat (LAST_SEEN) is younger than STALE_AFTER, so a host that is gone lets go in time."""
    if hostname == this_host():
        return process_alive(pid)
    if last_seen is None:
        return True  # no heartbeat to judge by: never taken from another host
    return (now or dt.datetime.now(dt.UTC)) - last_seen < stale_after
