"""A crawl's items on their way to storage: one JSON line per item in a file, written by the
crawl as items come and read back in order when the run is applied. A file, not a table: the
crawl child stays free of the database layer (its import alone was about 0.2 s of each crawl),
and a killed crawl leaves nothing in the database to clean up: its spool is simply not applied."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Iterator

from fundwatch import config
from fundwatch.items import FundItem, item_from_dict, item_to_dict


def new_spool_file(source_id: str) -> str:
    """An empty spool file for a crawl of SOURCE_ID, beside the HTTP cache and the crawl logs (on
    disk, not in a /tmp that may live in memory; a killed crawl's spool is left there to read)."""
    folder = config.cache_dir().parent / "spool"
    folder.mkdir(parents=True, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix=f"{source_id}-", suffix=".jsonl", dir=folder)
    os.close(fd)
    return path


class Spool:
    def __init__(self, path: str):
        self.path = path
        # Line-buffered: each item is in the file as soon as it is seen (a write per item is cheap
        # next to its page), so the spool of a crawl that was killed shows what it had found.
        self._file = open(path, "w", encoding="utf-8", buffering=1)  # noqa: SIM115 - closed by close()
        self.count = 0

    def write(self, item: FundItem) -> None:
        self._file.write(json.dumps(item_to_dict(item), ensure_ascii=False, separators=(",", ":")))
        self._file.write("\n")
        self.count += 1

    def close(self) -> None:
        self._file.close()


def read_spool(path: str) -> Iterator[FundItem]:
    """The spooled items in the order they came. Only a crawl that closed its spool is applied,
    so every line is whole."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            yield item_from_dict(json.loads(line))
