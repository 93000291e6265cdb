"""Hosts, for politeness across crawls and processes: which sources share a host (one group; groups
run in parallel), a lock per host held around each request (so crawls in several processes, from
`fundwatch crawl`, the scheduler or `scrapy crawl`, never send one host two requests at once), and
when each host last got a request and at what pace (so every crawl keeps the host's delay). State
lives beside the HTTP cache (FUNDWATCH_CACHE_DIR's parent), in `hosts/`."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Iterable
from urllib.parse import urlsplit

from fundwatch import config
from fundwatch.sources import Source


def hosts_dir() -> Path:
    path = config.cache_dir().parent / "hosts"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _file(host: str, suffix: str) -> Path:
    safe = "".join(c if c.isalnum() or c in ".-" else "_" for c in host.lower())
    return hosts_dir() / f"{safe}{suffix}"


def source_hosts(source: Source) -> tuple[str, ...]:
    return tuple(sorted({urlsplit(u).netloc.lower() for u in source.urls if urlsplit(u).netloc}))


def host_groups(sources: Iterable[Source]) -> list[list[Source]]:
    """Sources that share a host (directly or through another source) in one group; groups in the
    order of their first source, each group's sources in the order given."""
    ordered = list(sources)
    group_of = list(range(len(ordered)))  # union-find over the sources' positions

    def root(n: int) -> int:
        while group_of[n] != n:
            group_of[n] = group_of[group_of[n]]
            n = group_of[n]
        return n

    first_with: dict[str, int] = {}
    for n, source in enumerate(ordered):
        for host in source_hosts(source):
            if host in first_with:
                a, b = root(first_with[host]), root(n)
                group_of[max(a, b)] = min(a, b)
            else:
                first_with[host] = n
    groups: dict[int, list[Source]] = {}
    for n, source in enumerate(ordered):
        groups.setdefault(root(n), []).append(source)
    return list(groups.values())


def try_hold(host: str):
    """The host's lock if no other process holds it (an open file to pass to `release`), else None.
    Held around each request: whatever process sends it, a host gets one request at a time. The OS
    frees the lock of a process that dies."""
    fh = open(_file(host, ".lock"), "a")
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        return None
    return fh


def release(fh) -> None:
    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    fh.close()


def last_request(host: str) -> tuple[float, float] | None:
    """(time of the host's last request, the pace it was crawled at), from any process."""
    try:
        data = json.loads(_file(host, ".json").read_text("utf-8"))
        return float(data["at"]), float(data["pace"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def record_request(host: str, at: float, pace: float) -> None:
    path = _file(host, ".json")
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"at": at, "pace": pace}), "utf-8")
    os.replace(tmp, path)
