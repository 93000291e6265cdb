"""Never twice: one delivery per (ISO week, subscriber), on SQLite and PostgreSQL, against a real
SMTP server on 127.0.0.1. A crash is a real SIGKILLed `fundwatch digest send`; concurrency is two
of them at once."""

from __future__ import annotations

import datetime as dt
import os
import resource
import signal
import subprocess
import sys
from collections import Counter

import pytest
import time_machine
from click.testing import CliRunner
from sqlalchemy import select

from fundwatch.cli import main
from fundwatch.digest.models import Delivery, Subscriber, Suppression
from fundwatch.storage.db import dispose_engines, get_engine, session_scope
from helpers import add_subscriber, crawl, make_item, wait_for

SOON = dt.date.today() + dt.timedelta(days=5)


def send(**kw):
    from fundwatch.digest.sending import send_due

    return send_due(**kw)


def setup_items(db_url):
    crawl(get_engine(db_url), "brottsoffermyndigheten",
          [make_item("brottsoffermyndigheten", "Projektmedel", deadline=SOON)])


def deliveries() -> dict[str, Delivery]:
    with session_scope() as s:
        rows = s.execute(select(Delivery, Subscriber.email).join(Subscriber, Subscriber.id == Delivery.subscriber_id))
        return {email: d for d, email in rows}


def child_send() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "fundwatch.cli", "digest", "send"], env=dict(os.environ),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_sent_once_per_week(db_url, digest_env, smtp):
    setup_items(db_url)
    for n in range(5):
        add_subscriber(f"s{n}@example.org")
    add_subscriber("unconfirmed@example.org", confirmed=False)
    gone = add_subscriber("gone@example.org")
    with session_scope() as s:
        s.get(Subscriber, gone).status = "unsubscribed"
    assert send().sent == 5
    assert send().sent == 0
    assert sorted(smtp.recipients()) == [f"s{n}@example.org" for n in range(5)]
    assert {d.status for d in deliveries().values()} == {"sent"}


def test_crash_after_three_of_five_sends(db_url, digest_env, smtp):
    setup_items(db_url)
    emails = [f"s{n}@example.org" for n in range(5)]
    for e in emails:
        add_subscriber(e)
    smtp.block_after = 3  # the 3rd message is received, its reply held: the sender is killed waiting
    child = child_send()
    try:
        assert wait_for(lambda: len(smtp.messages) >= 3, timeout=60), child.stderr.read() if child.poll() else "timeout"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    smtp.blocking = False
    states = Counter(d.status for d in deliveries().values())
    assert states == {"sent": 2, "sending": 1, "pending": 2}
    report = send()
    assert (report.recovered, report.sent) == (1, 2)  # the other 2 only
    counts = Counter(smtp.recipients())
    assert sorted(counts) == sorted(emails) and set(counts.values()) == {1}
    states = Counter(d.status for d in deliveries().values())
    assert states == {"sent": 4, "unknown": 1}
    assert send().sent == 0  # the unknown one is not resent blindly
    status = CliRunner().invoke(main, ["digest", "status"])
    assert status.exit_code == 0 and "unknown" in status.output
    [unknown] = [e for e, d in deliveries().items() if d.status == "unknown"]
    retried = CliRunner().invoke(main, ["digest", "retry", unknown])
    assert retried.exit_code == 0, retried.output
    assert "1 sent" in retried.output
    assert Counter(smtp.recipients())[unknown] == 2  # the operator chose to send it again
    assert deliveries()[unknown].status == "sent"


def test_two_senders_at_once_deliver_each_digest_once(db_url, digest_env, smtp):
    setup_items(db_url)
    emails = [f"s{n}@example.org" for n in range(16)]
    for e in emails:
        add_subscriber(e)
    smtp.delay = 0.02
    children = [child_send(), child_send()]
    outputs = [c.communicate(timeout=120) for c in children]
    assert [c.returncode for c in children] == [0, 0], outputs
    counts = Counter(smtp.recipients())
    assert sorted(counts) == sorted(emails) and set(counts.values()) == {1}
    assert Counter(d.status for d in deliveries().values()) == {"sent": 16}
    with session_scope() as s:
        assert len(list(s.scalars(select(Delivery)))) == 16


def test_4xx_is_deferred_with_backoff_then_sent(db_url, digest_env, smtp):
    setup_items(db_url)
    add_subscriber("busy@example.org")
    add_subscriber("ok@example.org")
    smtp.replies["busy@example.org"] = ("rcpt", "451 4.3.0 Try again later")
    report = send()
    assert (report.sent, report.deferred) == (1, 1)
    d = deliveries()["busy@example.org"]
    assert d.status == "deferred" and d.smtp_code == 451 and d.next_attempt_at > dt.datetime.now(dt.UTC)
    del smtp.replies["busy@example.org"]
    assert send().sent == 0  # still backing off
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=6)):
        assert send().sent == 1
    assert Counter(smtp.recipients()) == {"ok@example.org": 1, "busy@example.org": 1}
    assert deliveries()["busy@example.org"].attempts == 2


def test_5xx_fails_and_three_hard_bounces_suppress(db_url, digest_env, smtp):
    setup_items(db_url)
    add_subscriber("nobody@example.org")
    smtp.replies["nobody@example.org"] = ("rcpt", "550 5.1.1 No such user")
    start = dt.datetime.now(dt.UTC)
    for week in range(3):
        with time_machine.travel(start + dt.timedelta(days=7 * week)):
            report = send(send_empty=True)
            assert report.failed == 1
    with session_scope() as s:
        sub = s.scalars(select(Subscriber)).one()
        assert (sub.status, sub.hard_bounces) == ("suppressed", 3)
        assert s.scalars(select(Suppression)).one().reason == "bounced"
    with time_machine.travel(start + dt.timedelta(days=21)):
        assert send(send_empty=True).failed == 0
    assert smtp.recipients() == []
    result = CliRunner().invoke(main, ["subscribe", "nobody@example.org", "--org", "X"])
    assert result.exit_code == 1 and "suppressed" in result.output


@pytest.mark.slow
def test_connection_lost_after_data_is_unknown(db_url, digest_env, smtp):
    setup_items(db_url)
    add_subscriber("lost@example.org")
    add_subscriber("ok@example.org")
    smtp.drop.add("lost@example.org")
    report = send()
    assert report.unknown == 1 and report.sent == 1
    assert deliveries()["lost@example.org"].status == "unknown"
    smtp.drop.clear()
    assert send().sent == 0
    assert Counter(smtp.recipients())["lost@example.org"] == 1


def test_unreachable_server_leaves_the_rest_pending(db_url, digest_env, monkeypatch):
    from helpers import free_port

    monkeypatch.setenv("FUNDWATCH_SMTP_URL", f"smtp://127.0.0.1:{free_port()}")
    setup_items(db_url)
    for n in range(6):
        add_subscriber(f"s{n}@example.org")
    report = send()
    assert report.sent == 0 and report.stopped
    states = Counter(d.status for d in deliveries().values())
    assert states == {"deferred": 3, "pending": 3}


def test_delete_anonymises_deliveries(db_url, digest_env, smtp):
    setup_items(db_url)
    add_subscriber("anna@example.org")
    send()
    result = CliRunner().invoke(main, ["subscribers", "delete", "anna@example.org", "--yes"])
    assert result.exit_code == 0, result.output
    with session_scope() as s:
        [d] = s.scalars(select(Delivery)).all()
        assert d.subscriber_id is None and d.status == "sent"
        assert s.scalars(select(Subscriber)).all() == []


# An outbox that cannot take the digest, two ways: a 4 KiB tmpfs of the child's own (a mount
# namespace), where this machine lets an unprivileged user mount; else, and always for the second
# case, a file-size limit on the child (RLIMIT_FSIZE): the kernel refuses a write past it (EFBIG)
# as it refuses one on a full disk (ENOSPC). The limit sits above every offset the sender writes
# its SQLite write-ahead log at (a few pages) and below the digest's size (60 calls).
FILE_SIZE_LIMIT = 64 * 1024
FULL_DISK_ERRORS = {"tmpfs": "No space left on device", "file-size limit": "File too large"}


def _mounting_allowed(folder) -> bool:
    try:
        probe = subprocess.run(["unshare", "--map-root-user", "--mount", "sh", "-c",
                                f'mount -t tmpfs -o size=4k tmpfs "{folder}"'], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):  # no unshare at all
        return False
    return probe.returncode == 0


def _limit_file_size() -> None:
    """The child's preexec: SIGXFSZ ignored, so a write past the limit fails with EFBIG (an OSError)
    instead of killing the process."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))


def full_outbox_send(outbox, how: str) -> tuple[subprocess.CompletedProcess, str]:
    """`fundwatch digest send` with OUTBOX unable to take the digest; and the way it was done."""
    outbox.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "fundwatch.cli", "digest", "send"]
    if how == "tmpfs" and _mounting_allowed(outbox):
        command = ["unshare", "--map-root-user", "--mount", "sh", "-c",
                   f'mount -t tmpfs -o size=4k tmpfs "{outbox}" && exec "$0" "$@"', *command]
        return subprocess.run(command, env=dict(os.environ), capture_output=True, text=True, timeout=120), how
    return subprocess.run(command, env=dict(os.environ), capture_output=True, text=True, timeout=120,
                          preexec_fn=_limit_file_size), "file-size limit"


@pytest.mark.slow
@pytest.mark.parametrize("how", ["tmpfs", "file-size limit"])
def test_an_outbox_on_a_full_disk_defers_the_digest_and_sends_it_later(sqlite_url, digest_env, how):
    """A message the outbox cannot write (disk full, file too large) was not delivered: deferred
    and tried again, never `unknown`; the operator reads one line, no traceback."""
    crawl(get_engine(sqlite_url), "brottsoffermyndigheten",
          [make_item("brottsoffermyndigheten", f"Projektmedel {n}", deadline=SOON) for n in range(60)])
    add_subscriber("anna@example.org")
    dispose_engines()  # the child starts with the whole database in its file, not in this process's log
    child, how = full_outbox_send(digest_env, how)
    assert child.returncode == 0, child.stderr
    assert "Traceback" not in child.stdout + child.stderr
    assert "1 deferred" in child.stdout and "0 unknown" in child.stdout
    d = deliveries()["anna@example.org"]
    assert d.status == "deferred" and d.next_attempt_at is not None
    assert "cannot write the outbox" in d.error and FULL_DISK_ERRORS[how] in d.error
    assert "\n" not in d.error
    assert list(digest_env.iterdir()) == []  # nothing half-written is left
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=6), tick=False):
        assert send().sent == 1  # the disk has room again: retried after its backoff
    assert deliveries()["anna@example.org"].status == "sent"
    assert len(list(digest_env.glob("*.eml"))) == 1
    assert len(next(digest_env.glob("*.eml")).read_bytes()) > FILE_SIZE_LIMIT  # the limit did stop this digest
