"""The scheduler without crawling: cron expressions, next run times across DST, the jobs listing,
missed runs (the weekly digest missed during downtime runs once on return), start-up keeping the
stored next run times, waking after the machine slept, one scheduler per database."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
from zoneinfo import ZoneInfo

import pytest
import time_machine
from alembic import command
from click.testing import CliRunner

from fundwatch.cli import main
from fundwatch.scheduler import jobs as job_functions
from fundwatch.scheduler.core import (
    CRAWL_FUNC,
    DIGEST_FUNC,
    DIGEST_ID,
    JOB_OPTIONS,
    SchedulerService,
    desired_jobs,
    make_scheduler,
    sync_jobs,
)
from fundwatch.scheduler.schedule import ScheduleError, SchedulerSettings, cron_trigger
from fundwatch.sources import load_sources
from fundwatch.storage.db import alembic_config, get_engine, make_engine
from helpers import MUCF, SOCIALSTYRELSEN, wait_for, write_page_sources

TZ = ZoneInfo("Europe/Stockholm")


@pytest.fixture(autouse=True)
def quick_digest_settle(monkeypatch):
    monkeypatch.setattr(job_functions, "DIGEST_SETTLE", 0.05)


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=TZ)


def fires(expr: str, start: dt.datetime, n: int = 4) -> list[str]:
    trigger = cron_trigger(expr, TZ)
    out, previous, now = [], None, start
    for _ in range(n):
        nxt = trigger.get_next_fire_time(previous, now)
        out.append(nxt.astimezone(dt.UTC).astimezone(TZ).isoformat())
        previous = now = nxt
    return out


# -- cron expressions and time zones -------------------------------------------------------------
@pytest.mark.parametrize("expr, weekdays", [
    ("0 7 * * 1", "mon"),  # APScheduler's own from_crontab would make this Tuesday
    ("0 7 * * 0", "sun"),
    ("0 7 * * 7", "sun"),
    ("0 7 * * 1-5", "mon,tue,wed,thu,fri"),
    ("0 7 * * 5-7", "fri,sat,sun"),
    ("0 7 * * */2", "tue,thu,sat,sun"),
    ("0 7 * * sun,wed", "wed,sun"),
    ("0 7 * * mon-fri", "mon,tue,wed,thu,fri"),
    ("0 7 * * 0-6", "*"),
])
def test_weekdays_are_read_as_cron_reads_them(expr, weekdays):
    trigger = cron_trigger(expr, TZ)
    assert str(trigger.fields[4]) == weekdays


@pytest.mark.parametrize("expr, message", [
    ("0 6 * *", "needs 5 fields"),
    ("0 25 * * *", "not a valid cron expression"),
    ("0 6 1 * mon", "both day of month and day of week"),
    ("0 6 * * 8", "not a valid cron expression"),
])
def test_bad_cron_expressions_are_refused_with_the_reason(expr, message):
    with pytest.raises(ScheduleError, match=message):
        cron_trigger(expr, TZ)


def test_bad_settings_are_user_errors(sqlite_url, tmp_path, monkeypatch):
    sources = write_page_sources(tmp_path, [{"id": MUCF, "schedule": "0 6 * *"}])
    result = CliRunner().invoke(main, ["scheduler", "jobs", "--sources", sources])
    assert result.exit_code == 1 and "schedule of source 'mucf-statsbidrag'" in result.output
    monkeypatch.setenv("FUNDWATCH_TIMEZONE", "Europe/Stokholm")
    result = CliRunner().invoke(main, ["scheduler", "jobs", "--sources", write_page_sources(tmp_path, [])])
    assert result.exit_code == 1 and "unknown time zone 'Europe/Stokholm'" in result.output


def test_next_run_times_across_the_spring_dst_change():
    # Clocks go forward on Sunday 2027-03-28 at 02:00 in Stockholm: 06:00 stays 06:00 local.
    assert fires("0 6 * * *", at(2027, 3, 26, 12)) == [
        "2027-03-27T06:00:00+01:00", "2027-03-28T06:00:00+02:00",
        "2027-03-29T06:00:00+02:00", "2027-03-30T06:00:00+02:00"]
    assert fires("0 7 * * mon", at(2027, 3, 20), 3) == [
        "2027-03-22T07:00:00+01:00", "2027-03-29T07:00:00+02:00", "2027-04-05T07:00:00+02:00"]
    # 02:30 does not exist that night: it runs once, at 03:30 summer time.
    assert fires("30 2 * * *", at(2027, 3, 27, 12), 3) == [
        "2027-03-28T03:30:00+02:00", "2027-03-29T02:30:00+02:00", "2027-03-30T02:30:00+02:00"]


def test_a_repeated_hour_in_autumn_runs_once():
    # 2027-10-31 02:00-03:00 happens twice; APScheduler's CronTrigger alone fires 02:30 twice.
    assert fires("30 2 * * *", at(2027, 10, 30, 12), 3) == [
        "2027-10-31T02:30:00+02:00", "2027-11-01T02:30:00+01:00", "2027-11-02T02:30:00+01:00"]
    # A schedule every half hour does run in both copies of the hour, as cron does.
    assert fires("*/30 * * * *", at(2027, 10, 31, 1, 50), 4) == [
        "2027-10-31T02:00:00+02:00", "2027-10-31T02:30:00+02:00",
        "2027-10-31T02:00:00+01:00", "2027-10-31T02:30:00+01:00"]


def test_jitter_delays_a_crawl_by_at_most_the_jitter():
    trigger = cron_trigger("0 6 * * *", TZ, 300)
    for _ in range(20):
        nxt = trigger.get_next_fire_time(None, at(2027, 3, 27, 12))
        assert at(2027, 3, 28, 6) <= nxt <= at(2027, 3, 28, 6, 5)
        assert nxt.utcoffset() == dt.timedelta(hours=2)


# -- the jobs listing ------------------------------------------------------------------------------
def jobs_json(*args) -> list[dict]:
    result = CliRunner().invoke(main, ["scheduler", "jobs", "--format", "json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.slow
def test_jobs_json_lists_the_crawl_cycle_a_source_on_its_own_schedule_and_the_digest_across_dst(db_url, tmp_path,
                                                                                                   monkeypatch):
    monkeypatch.setenv("FUNDWATCH_CRAWL_JITTER", "0")
    sources = write_page_sources(tmp_path, [{"id": MUCF}, {"id": SOCIALSTYRELSEN, "schedule": "15 4 * * 1-5"},
                                            {"id": "mucf-extra"}])
    with time_machine.travel(at(2027, 3, 27, 12), tick=False):
        rows = jobs_json("--sources", sources)
    assert [(r["id"], r["next_run_time"], r["state"]) for r in rows] == [
        ("crawl", "2027-03-28T06:00:00+02:00", "new"),
        (f"crawl:{SOCIALSTYRELSEN}", "2027-03-29T04:15:00+02:00", "new"),
        ("digest", "2027-03-29T07:00:00+02:00", "new"),
    ]
    assert rows[0] == {"id": "crawl", "kind": "crawl", "source": None, "sources": [MUCF, "mucf-extra"],
                       "schedule": "0 6 * * *", "timezone": "Europe/Stockholm", "jitter": 0,
                       "next_run_time": "2027-03-28T06:00:00+02:00", "state": "new"}
    assert rows[1]["source"] == SOCIALSTYRELSEN and rows[1]["sources"] == [SOCIALSTYRELSEN]
    with time_machine.travel(at(2027, 3, 27, 12), tick=False):
        table = CliRunner().invoke(main, ["scheduler", "jobs", "--sources", sources])
    assert "2 sources" in table.stdout and SOCIALSTYRELSEN in table.stdout, table.output
    # Once the scheduler has stored them, the listing shows the stored times.
    with time_machine.travel(at(2027, 3, 27, 12), tick=False):
        stored = start_and_stop(db_url, sources)
        rows = jobs_json("--sources", sources)
    assert stored["added"] == ["crawl", f"crawl:{SOCIALSTYRELSEN}", "digest"]
    assert [(r["next_run_time"], r["state"]) for r in rows] == [
        ("2027-03-28T06:00:00+02:00", "scheduled"), ("2027-03-29T04:15:00+02:00", "scheduled"),
        ("2027-03-29T07:00:00+02:00", "scheduled")]
    # Missed while down: "due" (runs as soon as the scheduler runs), at its stored time.
    with time_machine.travel(at(2027, 3, 29, 8, 30), tick=False):
        rows = jobs_json("--sources", sources)
        changed = jobs_json("--sources", sources, "--timezone", "UTC")
    assert [(r["next_run_time"], r["state"]) for r in rows] == [
        ("2027-03-28T06:00:00+02:00", "due"), ("2027-03-29T04:15:00+02:00", "due"),
        ("2027-03-29T07:00:00+02:00", "due")]
    # Another time zone is another schedule: shown with the time it gets at the next start.
    assert [(r["next_run_time"], r["state"]) for r in changed] == [
        ("2027-03-30T06:00:00+00:00", "changed"), ("2027-03-30T04:15:00+00:00", "changed"),
        ("2027-03-29T07:00:00+00:00", "changed")]


# -- start-up: keep stored next run times, fix what changed ---------------------------------------
def make_service(db_url, sources_path, **settings) -> SchedulerService:
    cfg = SchedulerSettings.from_env(jitter=0, **settings)
    specs = desired_jobs(load_sources(sources_path), cfg)
    return SchedulerService(get_engine(db_url), specs, cfg.tz, workers=2, stop_grace=2, wakeup_interval=0.1)


def start_and_stop(db_url, sources_path, **settings) -> dict:
    """What `scheduler run` does at start-up, without running anything."""
    cfg = SchedulerSettings.from_env(jitter=0, **settings)
    sched = make_scheduler(get_engine(db_url), cfg.tz)
    sched.start(paused=True)
    try:
        return sync_jobs(sched, desired_jobs(load_sources(sources_path), cfg))
    finally:
        sched.shutdown(wait=False)


def stored_jobs(db_url) -> dict:
    sched = make_scheduler(get_engine(db_url), TZ)
    sched.start(paused=True)
    try:
        return {j.id: j for j in sched.get_jobs()}
    finally:
        sched.shutdown(wait=False)


@pytest.mark.slow
def test_start_up_keeps_stored_next_run_times_and_fixes_only_what_changed(db_url, tmp_path):
    sources = write_page_sources(tmp_path, [{"id": MUCF}, {"id": SOCIALSTYRELSEN}])
    with time_machine.travel(at(2027, 3, 22, 5), tick=False):
        assert start_and_stop(db_url, sources)["added"] == ["crawl", "digest"]  # one job crawls both
    first = stored_jobs(db_url)
    assert first["digest"].func_ref == DIGEST_FUNC and first["crawl"].func_ref == CRAWL_FUNC
    assert (first["digest"].misfire_grace_time, first["digest"].coalesce, first["digest"].max_instances) == (None, True, 1)

    # Down over Monday 07:00; back on Tuesday, same configuration: nothing rewritten, the missed
    # Monday runs keep their times (re-adding with replace_existing=True would drop them).
    with time_machine.travel(at(2027, 3, 23, 9), tick=False):
        report = start_and_stop(db_url, sources)
    assert report["kept"] == ["crawl", "digest"]
    assert {k: v for k, v in report.items() if k != "kept"} == {"added": [], "updated": [], "rescheduled": [], "removed": []}
    again = stored_jobs(db_url)
    assert again["digest"].next_run_time == at(2027, 3, 22, 7) == first["digest"].next_run_time

    # The sources file moved, one source got its own schedule, one was dropped, one added.
    moved = tmp_path / "moved"
    moved.mkdir()
    sources2 = write_page_sources(moved, [{"id": MUCF}, {"id": SOCIALSTYRELSEN, "schedule": "0 12 * * *"},
                                     {"id": "mucf-extra"}])
    with time_machine.travel(at(2027, 3, 23, 9), tick=False):
        report = start_and_stop(db_url, sources2, digest_schedule="0 7 * * mon")
    assert report == {"added": [f"crawl:{SOCIALSTYRELSEN}"], "updated": ["crawl"], "rescheduled": [], "removed": [],
                      "kept": ["digest"]}
    after = stored_jobs(db_url)
    assert after["crawl"].next_run_time == first["crawl"].next_run_time  # kept: still due
    assert after["crawl"].kwargs == {"sources_file": sources2}  # the sources it crawls are read when it runs
    assert after[f"crawl:{SOCIALSTYRELSEN}"].next_run_time == at(2027, 3, 23, 12)
    with time_machine.travel(at(2027, 3, 23, 9), tick=False):
        report = start_and_stop(db_url, write_page_sources(moved, [{"id": MUCF}]))
    assert report["removed"] == [f"crawl:{SOCIALSTYRELSEN}"] and report["kept"] == ["crawl", "digest"]


@pytest.mark.slow
def test_the_per_source_crawl_jobs_of_the_earlier_layout_become_the_cycle_and_keep_a_missed_run(tmp_path, monkeypatch):
    """Migration 0015: the jobs `crawl:<id>` of sources on the crawl schedule fold into `crawl`, at the
    earliest of their stored times; none lingers to crawl a source a second time."""
    db = f"sqlite:///{tmp_path / 'old.db'}"
    monkeypatch.setenv("FUNDWATCH_DATABASE_URL", db)
    monkeypatch.setenv("FUNDWATCH_CRAWL_JITTER", "0")
    old = make_engine(db)
    command.upgrade(alembic_config(old), "0013")
    sources = write_page_sources(tmp_path, [{"id": MUCF}, {"id": SOCIALSTYRELSEN}, {"id": "sst", "schedule": "0 12 * * *"}])
    cfg = SchedulerSettings.from_env(jitter=0)
    sched = make_scheduler(old, TZ)
    sched.start(paused=True)
    try:  # as the earlier scheduler stored them: MUCF's Monday run was missed
        for sid, expr, when in [(MUCF, cfg.crawl_schedule, at(2027, 3, 22, 6)),
                                (SOCIALSTYRELSEN, cfg.crawl_schedule, at(2027, 3, 23, 6)),
                                ("sst", "0 12 * * *", at(2027, 3, 23, 12))]:
            sched.add_job(CRAWL_FUNC, cron_trigger(expr, TZ), id=f"crawl:{sid}", name=f"crawl {sid}",
                          kwargs={"source_id": sid, "sources_file": sources}, next_run_time=when, **JOB_OPTIONS)
        sched.add_job(DIGEST_FUNC, cron_trigger(cfg.digest_schedule, TZ), id=DIGEST_ID, name="weekly digest",
                      next_run_time=at(2027, 3, 29, 7), **JOB_OPTIONS)
    finally:
        sched.shutdown(wait=False)
    old.dispose()

    stored = stored_jobs(db)  # opening the database migrates it
    assert sorted(stored) == ["crawl", "crawl:sst", DIGEST_ID]
    assert stored["crawl"].next_run_time == at(2027, 3, 22, 6)  # the missed run still runs, once
    assert (stored["crawl"].func_ref, stored["crawl"].kwargs) == (CRAWL_FUNC, {"sources_file": sources})
    with time_machine.travel(at(2027, 3, 23, 9), tick=False):
        rows = {r["id"]: r["state"] for r in jobs_json("--sources", sources)}
        report = start_and_stop(db, sources)
    assert rows == {"crawl": "due", "crawl:sst": "scheduled", DIGEST_ID: "scheduled"}
    assert report == {"added": [], "updated": [], "rescheduled": [], "removed": [],
                      "kept": ["crawl", "crawl:sst", DIGEST_ID]}
    assert stored_jobs(db)["crawl"].next_run_time == at(2027, 3, 22, 6)


# -- missed runs ------------------------------------------------------------------------------------
@pytest.fixture
def digest_calls(monkeypatch):
    """The digest job's send_due replaced by a counter."""
    calls: list[dt.datetime] = []

    def send_due():
        calls.append(dt.datetime.now(TZ))
        return {"sent": 1}

    monkeypatch.setattr(job_functions, "send_due", send_due)
    return calls


def run_service_for(service: SchedulerService, seconds: float, until=None) -> None:
    stop = threading.Event()
    service.start()
    waiter = threading.Thread(target=service.wait, args=(stop,))
    waiter.start()
    try:
        if until is not None:
            wait_for(until, timeout=seconds, what="the job to run")
        else:
            stop.wait(seconds)
    finally:
        stop.set()
        waiter.join()
        service.stop()


@pytest.mark.slow
def test_a_digest_missed_during_downtime_runs_once_on_return(db_url, tmp_path, digest_calls):
    sources = write_page_sources(tmp_path, [])
    with time_machine.travel(at(2027, 3, 22, 6, 30), tick=True):  # Monday, before the digest
        run_service_for(make_service(db_url, sources), 0.3)
    assert digest_calls == []
    # The scheduler was down from 06:30 to 09:30: the 07:00 digest runs once when it is back,
    # and the next one is the next Monday 07:00 (summer time by then).
    with time_machine.travel(at(2027, 3, 22, 9, 30), tick=True):
        service = make_service(db_url, sources)
        run_service_for(service, 5, until=lambda: digest_calls)
        assert len(digest_calls) == 1
    assert stored_jobs(db_url)[DIGEST_ID].next_run_time == at(2027, 3, 29, 7)
    assert stored_jobs(db_url)[DIGEST_ID].next_run_time.isoformat() == "2027-03-29T07:00:00+02:00"
    # Started again the same day: nothing more.
    with time_machine.travel(at(2027, 3, 22, 10), tick=True):
        run_service_for(make_service(db_url, sources), 0.5)
    assert len(digest_calls) == 1


@pytest.mark.slow
def test_several_missed_digests_run_once(sqlite_url, tmp_path, digest_calls):
    sources = write_page_sources(tmp_path, [])
    with time_machine.travel(at(2027, 3, 20, 12), tick=True):
        run_service_for(make_service(sqlite_url, sources), 0.2)
    with time_machine.travel(at(2027, 4, 14, 12), tick=True):  # three Mondays missed
        run_service_for(make_service(sqlite_url, sources), 5, until=lambda: digest_calls)
        threading.Event().wait(0.3)
    assert len(digest_calls) == 1
    assert stored_jobs(sqlite_url)[DIGEST_ID].next_run_time == at(2027, 4, 19, 7)


@pytest.mark.slow
def test_a_digest_due_while_the_machine_slept_runs_on_waking(sqlite_url, tmp_path, digest_calls):
    """APScheduler sleeps on a monotonic clock, which stands still while the machine is suspended;
    the service wakes it regularly so the wall clock is looked at again."""
    sources = write_page_sources(tmp_path, [])
    with time_machine.travel(at(2027, 3, 22, 6, 0), tick=True) as traveller:
        service = make_service(sqlite_url, sources)
        stop = threading.Event()
        service.start()
        waiter = threading.Thread(target=service.wait, args=(stop,))
        waiter.start()
        try:
            threading.Event().wait(0.3)
            assert digest_calls == []
            traveller.move_to(at(2027, 3, 22, 8, 0))  # "woke up" two hours later
            wait_for(lambda: digest_calls, timeout=3, what="the digest after waking")
        finally:
            stop.set()
            waiter.join()
            service.stop()
    assert len(digest_calls) == 1


@pytest.mark.slow
def test_a_second_scheduler_on_the_same_database_is_refused(sqlite_url, tmp_path):
    sources = write_page_sources(tmp_path, [])
    service = make_service(sqlite_url, sources)
    service.start()
    try:
        result = subprocess.run([sys.executable, "-m", "fundwatch.cli", "scheduler", "run", "--sources", sources],
                                capture_output=True, text=True, timeout=30)
    finally:
        service.stop()
    assert result.returncode == 1
    assert "another scheduler is already running on this database" in result.stderr


@pytest.mark.slow
def test_a_scheduler_elsewhere_that_stopped_beating_is_taken_over(db_url, tmp_path):
    from fundwatch.scheduler.core import SCHEDULER_LOCK, SchedulerRunning, scheduler_holder
    from fundwatch.storage.db import session_scope
    from fundwatch.storage.models import SourceLock, utcnow

    engine = get_engine(db_url)
    sources = write_page_sources(tmp_path, [])
    with session_scope(engine) as session:  # another host (its pid cannot be checked), seen 1 min ago
        session.add(SourceLock(source_id=SCHEDULER_LOCK, pid=4242, hostname="old-container",
                               acquired_at=utcnow() - dt.timedelta(minutes=1)))
    with pytest.raises(SchedulerRunning, match="pid 4242 on old-container"):
        make_service(db_url, sources).start()
    with session_scope(engine) as session:  # ... 6 min ago: gone
        session.get(SourceLock, SCHEDULER_LOCK).acquired_at = utcnow() - dt.timedelta(minutes=6)
    service = make_service(db_url, sources)
    service.start()
    try:
        held = scheduler_holder(engine)
        assert held["hostname"] != "old-container"
        before = held["seen"]
        service.heartbeat()
        assert scheduler_holder(engine)["seen"] > before
    finally:
        service.stop()
    assert scheduler_holder(engine) is None


def test_jobs_queued_when_the_scheduler_stops_are_marked_due_for_the_next_start(sqlite_url, tmp_path, digest_calls):
    sources = write_page_sources(tmp_path, [{"id": MUCF}])
    start_and_stop(sqlite_url, sources)
    job_functions.STOPPING.set()
    try:
        assert job_functions.crawl(sources_file=sources) == "postponed"
        assert job_functions.send_digests() is None
    finally:
        job_functions.STOPPING.clear()
    assert digest_calls == []
    now = dt.datetime.now(TZ)
    stored = stored_jobs(sqlite_url)
    assert stored["crawl"].next_run_time <= now and stored[DIGEST_ID].next_run_time <= now


@pytest.mark.slow
def test_the_digest_waits_for_the_crawls_in_progress(digest_calls, monkeypatch):
    monkeypatch.setitem(job_functions._active, -1, [MUCF])  # a crawl running in another thread
    done = threading.Event()
    worker = threading.Thread(target=lambda: (job_functions.send_digests(), done.set()))
    worker.start()
    assert not done.wait(1.5) and digest_calls == []
    job_functions._active.pop(-1)
    assert done.wait(3) and len(digest_calls) == 1
    worker.join()


@pytest.mark.slow
def test_a_missed_monday_digest_is_sent_once_with_the_real_digest(sqlite_url, tmp_path, monkeypatch):
    """End to end with digest.sending: one confirmed subscriber, mail to the outbox folder."""
    outbox = tmp_path / "outbox"
    monkeypatch.setenv("FUNDWATCH_OUTBOX", str(outbox))
    monkeypatch.setenv("FUNDWATCH_SEND_EMPTY_DIGEST", "1")  # no crawls here: the digest is empty
    monkeypatch.setenv("FUNDWATCH_SECRET_KEY", "test-secret-key-for-links-0123456789")
    monkeypatch.delenv("FUNDWATCH_SMTP_URL", raising=False)
    sources = write_page_sources(tmp_path, [])
    added = CliRunner().invoke(main, ["subscribe", "forening@example.org", "--org", "Föreningen", "--confirmed"])
    assert added.exit_code == 0, added.output

    def sent():
        return sorted(p.name for p in outbox.glob("*.eml")) if outbox.exists() else []

    with time_machine.travel(at(2027, 3, 22, 6, 30), tick=True):
        run_service_for(make_service(sqlite_url, sources), 0.2)
    assert sent() == []
    with time_machine.travel(at(2027, 3, 22, 9, 30), tick=True):  # back after the 07:00 digest
        run_service_for(make_service(sqlite_url, sources), 10, until=sent)
        threading.Event().wait(0.3)
        assert len(sent()) == 1
        # A second run of the job that week (a catch-up after a crash, say) sends nothing again.
        again = job_functions.send_digests()
        assert str(again).startswith("2027-W12: 0 sent"), str(again)
    with time_machine.travel(at(2027, 3, 24, 12), tick=True):
        run_service_for(make_service(sqlite_url, sources), 0.3)
    assert len(sent()) == 1
