"""A crawl's items on their way to storage: one JSON line per item in a file, written by the
crawl as items come and read back in order when the run is applied. A file, not a table: the
crawl child writes no database rows, and a killed crawl leaves nothing in the database to clean
up: its spool is simply not applied, and removed by whoever closes its run.

A finished crawl whose apply the database refused for longer than the retries (a PostgreSQL
restart) is not thrown away: its run is marked on disk as awaiting its apply (`run-N.pending.json`:
the source, the outcome, the change rule's removal count), and its files are kept until the next
crawl applies it (storage/runlife.py apply_pending)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

from fundwatch import config
from fundwatch.items import FundItem, item_from_dict, item_to_dict


def spool_folder() -> Path:
    """Beside the HTTP cache and the crawl logs: on disk, not in a /tmp that may live in memory."""
    return config.cache_dir().parent / "spool"


def run_files(run_id: int) -> tuple[str, str]:
    """The spool file and the result file (the crawl's outcome, written by the `scrapy crawl`
    child) of run RUN_ID. Named by the run, so whoever closes a dead run can remove them."""
    folder = spool_folder()
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder / f"run-{run_id}.jsonl"), str(folder / f"run-{run_id}.json")


def discard_run_files(run_id: int) -> None:
    """Remove the run's spool and result files, unless the run awaits its apply (await_apply):
    then they stay for apply_pending, which removes them with forget_run_files."""
    if _pending_file(run_id).exists():
        return
    forget_run_files(run_id)


def forget_run_files(run_id: int) -> None:
    """Remove every file of the run, its mark as awaiting its apply included."""
    for path in run_files(run_id):
        Path(path).unlink(missing_ok=True)
        Path(f"{path}.tmp").unlink(missing_ok=True)
    _pending_file(run_id).unlink(missing_ok=True)


# -- a finished crawl that waits for the database ----------------------------------------------------
@dataclass
class PendingApply:
    run_id: int
    source_id: str
    spool: str
    outcome: dict[str, Any]  # RunOutcome.to_json()
    remove_after: int


def _pending_file(run_id: int) -> Path:
    return spool_folder() / f"run-{run_id}.pending.json"


def await_apply(pending: PendingApply) -> None:
    """Mark the run as awaiting its apply; its spool stays where it is. Written whole or not at all
    (a reader never sees half a mark)."""
    path = _pending_file(pending.run_id)
    tmp = path.with_suffix(".tmp")
    try:
        tmp.write_text(json.dumps(asdict(pending)), "utf-8")
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def pending_applies() -> list[PendingApply]:
    """The runs of this host that await their apply, oldest run first (the order they must be
    applied in: a later run of a source is compared with what the earlier one found)."""
    found = (_read_pending(path) for path in spool_folder().glob("run-*.pending.json"))
    return sorted((pending for pending in found if pending is not None), key=lambda p: p.run_id)


def pending_apply(run_id: int) -> PendingApply | None:
    return _read_pending(_pending_file(run_id))


def _read_pending(path: Path) -> PendingApply | None:
    try:
        return PendingApply(**json.loads(path.read_text("utf-8")))
    except (OSError, ValueError, TypeError):
        return None  # removed meanwhile by whoever applied it


def _reason_file(run_id: int) -> Path:
    return spool_folder() / f"run-{run_id}.reason.json"


def leave_reason(run_id: int, code: str, params: dict[str, Any]) -> None:
    """Why run RUN_ID failed, for when the database could not be told: whoever closes the run
    later (as left behind by a process that is gone) records this reason instead of `interrupted`."""
    spool_folder().mkdir(parents=True, exist_ok=True)
    _reason_file(run_id).write_text(json.dumps({"code": code, "params": params}), "utf-8")


def take_reason(run_id: int) -> tuple[str, dict[str, Any]] | None:
    path = _reason_file(run_id)
    try:
        left = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    path.unlink(missing_ok=True)
    return left["code"], left["params"]


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
