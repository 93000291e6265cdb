"""The scheduler: APScheduler 3 with its jobs in the project's database (table apscheduler_jobs).

Jobs: `crawl`, the crawl cycle: every source without a schedule of its own, on the crawl schedule
(with a random delay of 0..jitter seconds), crawled as `fundwatch crawl` crawls them (each host
group in one process, the groups in parallel); `crawl:<source id>` for a source with its own
`schedule`; and `digest` (the weekly digest). Stored jobs of the earlier layout (a `crawl:<id>`
per source) were folded into `crawl` by migration 0015, keeping a missed run.

Two APScheduler 3 traps are avoided on purpose:
- every job has misfire_grace_time=None, coalesce=True, max_instances=1: a run missed while the
  process was down or the machine slept runs once when the scheduler is back (the default grace
  of 1 s would skip a Monday digest missed by a minute);
- at start-up the stored jobs are compared with the configured ones and only the missing or
  changed ones are written. Re-adding every job with replace_existing=True would recompute each
  next run time and silently drop the missed runs.

The main loop also wakes the scheduler every `wakeup_interval` seconds: APScheduler sleeps on a
monotonic clock, which stops while the machine is suspended, so after a night asleep a job due at
07:00 would otherwise wait for the rest of its sleep."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_RUNNING

from fundwatch.scheduler import jobs
from fundwatch.scheduler.jobs import CYCLE_ID, crawl_job_id, cycle_sources
from fundwatch.scheduler.models import JOBS_TABLE as TABLE
from fundwatch.scheduler.schedule import SchedulerSettings, cron_trigger, trigger_key
from fundwatch.storage.db import describe_error, session_factory, session_scope
from fundwatch.storage.runlife import SourceLocked, acquire_lock, lock_holder, refresh_lock, release_lock

log = logging.getLogger("fundwatch.scheduler")

CRAWL_FUNC = "fundwatch.scheduler.jobs:crawl"
DIGEST_FUNC = "fundwatch.scheduler.jobs:send_digests"
DIGEST_ID = "digest"
JOB_OPTIONS: dict[str, Any] = {"misfire_grace_time": None, "coalesce": True, "max_instances": 1}
SCHEDULER_LOCK = "@scheduler"  # a row in source_locks: one scheduler per database
# The scheduler's row is refreshed at every wake-up, as a crawl's is while it runs: a row not
# refreshed for runlife.LOCK_STALE is stale even when it names another host, whose processes
# cannot be checked (a container recreated under a new hostname after a crash would otherwise
# never get its scheduler back).


class SchedulerRunning(RuntimeError):
    """Another scheduler holds this database."""


@dataclass
class JobSpec:
    id: str
    kind: str  # crawl | digest
    name: str
    func: str
    trigger: Any
    schedule: str  # the cron expression, for people
    source: str | None = None  # a crawl of one source on its own schedule
    kwargs: dict[str, Any] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)  # what a crawl job crawls


def desired_jobs(sources, settings: SchedulerSettings, *, timeout: float | None = None,
                 crawl_settings: dict[str, str] | None = None) -> list[JobSpec]:
    """The jobs the configuration asks for: the crawl cycle (every source without a schedule of its
    own), a crawl per source with its own schedule, and the weekly digest."""
    common: dict[str, Any] = {"sources_file": sources.path}
    if timeout is not None:
        common["timeout"] = timeout
    if crawl_settings:
        common["settings"] = dict(crawl_settings)
    specs = []
    cycle = [s.id for s in cycle_sources(sources)]
    if cycle:
        specs.append(JobSpec(CYCLE_ID, "crawl", "crawl cycle", CRAWL_FUNC,
                             cron_trigger(settings.crawl_schedule, settings.tz, settings.jitter, what="crawl schedule"),
                             settings.crawl_schedule, None, dict(common), cycle))
    for source in sources:
        if source.schedule:
            specs.append(JobSpec(crawl_job_id(source.id), "crawl", f"crawl {source.id}", CRAWL_FUNC,
                                 cron_trigger(source.schedule, settings.tz, settings.jitter,
                                              what=f"schedule of source {source.id!r}"),
                                 source.schedule, source.id, {"source_id": source.id, **common}, [source.id]))
    specs.append(JobSpec(DIGEST_ID, "digest", "weekly digest", DIGEST_FUNC,
                         cron_trigger(settings.digest_schedule, settings.tz, what="digest schedule"),
                         settings.digest_schedule))
    return specs


class FundwatchScheduler(BackgroundScheduler):
    """A BackgroundScheduler whose loop looks at the jobs only while it is running.

    APScheduler 3's loop makes one more pass after shutdown() (it skips a pass only when the state
    is PAUSED, and STOPPED is not): a job due at that moment cannot be submitted to the stopped
    executor, yet its next run time is moved on, so the missed run is lost. That pass happens on
    every shutdown of a scheduler that has due jobs, e.g. one stopped during start-up."""

    def _process_jobs(self):
        if self.state != STATE_RUNNING:
            return None
        return super()._process_jobs()


def make_scheduler(engine, tz, workers: int = 4) -> FundwatchScheduler:
    return FundwatchScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename=TABLE)},
        executors={"default": ThreadPoolExecutor(workers)},
        job_defaults=dict(JOB_OPTIONS),
        timezone=tz,
    )


def _same_options(job, spec: JobSpec) -> bool:
    return (job.func_ref == spec.func and tuple(job.args) == () and dict(job.kwargs) == spec.kwargs
            and job.name == spec.name and job.executor == "default"
            and all(getattr(job, k) == v for k, v in JOB_OPTIONS.items()))


def sync_jobs(scheduler, specs: list[JobSpec]) -> dict[str, list[str]]:
    """Make the stored jobs match SPECS, keeping the stored next run time of every job whose trigger
    did not change (so a missed run still runs). Call on a started, paused scheduler."""
    report: dict[str, list[str]] = {"added": [], "updated": [], "rescheduled": [], "removed": [], "kept": []}
    stored = {job.id: job for job in scheduler.get_jobs()}
    for spec in specs:
        job = stored.pop(spec.id, None)
        if job is None:
            scheduler.add_job(spec.func, spec.trigger, id=spec.id, name=spec.name, kwargs=spec.kwargs,
                              replace_existing=False, **JOB_OPTIONS)
            report["added"].append(spec.id)
            continue
        if not _same_options(job, spec):  # arguments only: the next run time stays
            scheduler.modify_job(spec.id, func=spec.func, args=(), kwargs=spec.kwargs, name=spec.name,
                                 executor="default", **JOB_OPTIONS)
            report["updated"].append(spec.id)
        if trigger_key(job.trigger) != trigger_key(spec.trigger) or job.next_run_time is None:
            scheduler.reschedule_job(spec.id, trigger=spec.trigger)  # a new schedule: a new next run time
            report["rescheduled"].append(spec.id)
        elif spec.id not in report["updated"]:
            report["kept"].append(spec.id)
    for job_id in stored:  # sources no longer configured
        scheduler.remove_job(job_id)
        report["removed"].append(job_id)
    return report


def iso(value: dt.datetime | None, tz) -> str | None:
    """ISO 8601 with the offset in force at that instant, to the second. Through UTC: APScheduler
    can hand back a wall time inside the spring-forward gap (02:30+01:00), shown as 03:30+02:00."""
    return value.astimezone(dt.UTC).astimezone(tz).isoformat(timespec="seconds") if value else None


def _job_row(spec: JobSpec | None, job, tz, now: dt.datetime, state: str, next_run: dt.datetime | None) -> dict:
    trigger = spec.trigger if spec else job.trigger
    source = spec.source if spec else job.kwargs.get("source_id")
    return {
        "id": spec.id if spec else job.id,
        "kind": spec.kind if spec else ("digest" if job.id == DIGEST_ID else "crawl"),
        "source": source,
        "sources": spec.sources if spec else ([source] if source else []),
        "schedule": spec.schedule if spec else str(trigger),
        "timezone": str(tz),
        "jitter": getattr(trigger, "jitter", None) or 0,
        "next_run_time": iso(next_run, tz),
        "state": state,
    }


def _nominal_next(trigger, now: dt.datetime) -> dt.datetime | None:
    """The next fire time without jitter (what a new job would be scheduled at, before its delay)."""
    jitter, trigger.jitter = trigger.jitter, None
    try:
        return trigger.get_next_fire_time(None, now)
    finally:
        trigger.jitter = jitter


def list_jobs(engine, specs: list[JobSpec], tz, now: dt.datetime | None = None) -> list[dict]:
    """Every job with its next run time, as the scheduler has it stored, without changing it.

    state: scheduled (stored); due (stored time has passed: runs as soon as the scheduler runs —
    a missed run); new (not stored yet: the time it gets when the scheduler starts); changed (its
    schedule differs from the stored one: the new schedule's time); removed (stored, no longer
    configured: dropped when the scheduler starts)."""
    now = now or dt.datetime.now(tz)
    store = SQLAlchemyJobStore(engine=engine, tablename=TABLE)
    store.start(BackgroundScheduler(timezone=tz), "default")
    try:
        stored = {job.id: job for job in store.get_all_jobs()}
    finally:
        store.shutdown()
    rows = []
    for spec in specs:
        job = stored.pop(spec.id, None)
        if job is None:
            rows.append(_job_row(spec, None, tz, now, "new", _nominal_next(spec.trigger, now)))
        elif trigger_key(job.trigger) != trigger_key(spec.trigger) or job.next_run_time is None:
            rows.append(_job_row(spec, job, tz, now, "changed", _nominal_next(spec.trigger, now)))
        else:
            state = "due" if job.next_run_time <= now else "scheduled"
            rows.append(_job_row(spec, job, tz, now, state, job.next_run_time))
    for job in stored.values():
        rows.append(_job_row(None, job, tz, now, "removed", job.next_run_time))
    return rows


def scheduler_holder(engine) -> dict | None:
    """The running scheduler's pid, host, start time and last heartbeat, if one holds the database."""

    with session_scope(engine) as session:
        row = lock_holder(session, SCHEDULER_LOCK)
        return {"pid": row.pid, "hostname": row.hostname, "since": row.acquired_at,
                "seen": row.heartbeat_at or row.acquired_at} if row else None


class SchedulerService:
    """`fundwatch scheduler run` without the signal handling: start(), wait(stop_event), stop()."""

    def __init__(self, engine, specs: list[JobSpec], tz, *, workers: int = 4, stop_grace: float = 30.0,
                 wakeup_interval: float = 30.0):
        self.engine, self.specs, self.tz = engine, specs, tz
        self.workers, self.stop_grace, self.wakeup_interval = workers, stop_grace, wakeup_interval
        self.scheduler: FundwatchScheduler | None = None
        self.report: dict[str, list[str]] = {}
        self._locked = False

    def _take_lock(self) -> None:
        try:
            acquire_lock(session_factory(self.engine), SCHEDULER_LOCK)
        except SourceLocked as exc:
            raise SchedulerRunning(f"another scheduler is already running on this database "
                                   f"(pid {exc.pid} on {exc.hostname})") from None
        self._locked = True

    def _release_lock(self) -> None:
        if self._locked:
            with session_scope(self.engine) as session:
                release_lock(session, SCHEDULER_LOCK)
            self._locked = False

    def start(self) -> None:
        jobs.STOPPING.clear()
        self._take_lock()
        try:
            self.scheduler = make_scheduler(self.engine, self.tz, self.workers)
            self.scheduler.start(paused=True)  # compare and fix the stored jobs before any runs
            self.report = sync_jobs(self.scheduler, self.specs)
            now = dt.datetime.now(self.tz)
            for job in self.scheduler.get_jobs():
                if job.next_run_time and job.next_run_time <= now:
                    log.info("%s was due at %s (missed while the scheduler was not running): running it now",
                             job.name, iso(job.next_run_time, self.tz))
                else:
                    log.info("%s: next run %s", job.name, iso(job.next_run_time, self.tz))
            changed = {k: v for k, v in self.report.items() if v and k != "kept"}
            if changed:
                log.info("jobs %s", "; ".join(f"{k}: {', '.join(v)}" for k, v in changed.items()))
            self.scheduler.resume()
        except BaseException:
            if self.scheduler and self.scheduler.running:
                self.scheduler.shutdown(wait=False)
            self._release_lock()
            raise

    def heartbeat(self) -> None:
        try:
            refresh_lock(session_factory(self.engine), SCHEDULER_LOCK)
        except Exception as exc:  # noqa: BLE001 - the database may be away for a while
            log.warning("could not refresh the scheduler's lock: %s", describe_error(exc))

    def wait(self, stop: threading.Event) -> None:
        while not stop.wait(self.wakeup_interval):
            self.scheduler.wakeup()  # re-check the wall clock (see the module doc)
            self.heartbeat()

    def stop(self) -> None:
        """No new runs; crawls in progress close their runs (or are killed after the grace and
        recorded as failed); a digest being sent finishes; then the scheduler and its lock go."""
        jobs.STOPPING.set()
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.pause()
            running = jobs.active_crawls()
            if running:
                log.info("stopping: waiting for the crawls of %s to close their runs", ", ".join(running))
            jobs.terminate_children(self.stop_grace)
            self.scheduler.shutdown(wait=True)
        jobs.STOPPING.clear()  # every job has returned; the job functions work again if called directly
        self._release_lock()
        log.info("scheduler stopped")
