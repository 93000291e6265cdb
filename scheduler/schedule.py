"""Schedules: standard cron expressions turned into APScheduler 3 triggers, and the scheduler's
settings from FUNDWATCH_* variables (or command-line options, which win).

APScheduler 3's `CronTrigger.from_crontab` numbers weekdays from Monday = 0, so the standard
"0 7 * * 1" would fire on Tuesdays. Here the day-of-week field is read as cron reads it
(0 and 7 = Sunday, 1 = Monday, names allowed) and handed to APScheduler as weekday names.

Daylight saving time: a time that does not exist (02:30 on the last Sunday of March) runs at the
same instant an hour later in wall time (03:30 summer time), once. A time that happens twice (02:30 on
the last Sunday of October) would fire twice with APScheduler 3's CronTrigger; LocalCronTrigger
fires a fixed-hour schedule once, at the first occurrence, as cron does.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from fundwatch import config

_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # cron numbering: 0 = Sunday
_ALIASES = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
            "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *"}


class ScheduleError(config.ConfigError):
    """A cron expression, time zone or number that cannot be used; the message says which."""


def setting(name: str) -> str:
    return config.env(name) or ""


def int_setting(name: str, minimum: int = 0) -> int:
    try:
        return config.whole_number(name, minimum)
    except config.ConfigError as exc:
        raise ScheduleError(str(exc)) from None


def _day_number(token: str) -> int:
    token = token.lower()
    if token[:3] in _DAY_NAMES and (len(token) == 3 or token.isalpha()):
        return _DAY_NAMES.index(token[:3])
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token) % 7
    raise ValueError(f"bad day of week {token!r}")


def _cron_weekdays(field: str) -> str:
    """Standard cron day-of-week field -> APScheduler weekday names (explicit list)."""
    if field == "*":
        return "*"
    days: set[int] = set()
    for part in field.split(","):
        rng, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"bad step in {part!r}")
        if rng == "*":
            first, last = 0, 6
        elif "-" in rng:
            a, _, b = rng.partition("-")
            first, last = _day_number(a), _day_number(b)
            if b.strip() == "7":
                last = 7  # "1-7" runs Monday to Sunday
            if last < first:
                raise ValueError(f"bad range {rng!r}")
        else:
            first = _day_number(rng)
            last = first if not step_text else 6
        days.update(d % 7 for d in range(first, last + 1, step))
    if len(days) == 7:
        return "*"
    # APScheduler's week starts on Monday; the order only matters for readability.
    return ",".join(_DAY_NAMES[d] for d in sorted(days, key=lambda d: (d - 1) % 7))


class LocalCronTrigger(CronTrigger):
    """CronTrigger that does not fire a fixed-hour schedule again in the repeated hour when the
    clocks go back. Jitter is applied after that check, to the chosen fire time."""

    def _apply_jitter(self, next_fire_time, jitter, now):
        return next_fire_time  # applied in get_next_fire_time

    def _repeats_wall_time(self, value) -> bool:
        hour = str(self.fields[5])
        return "*" not in hour and value.astimezone(self.timezone).fold == 1

    def get_next_fire_time(self, previous_fire_time, now):
        candidate = super().get_next_fire_time(previous_fire_time, now)
        while candidate is not None and self._repeats_wall_time(candidate):
            candidate = super().get_next_fire_time(candidate, candidate)
        return BaseTrigger._apply_jitter(self, candidate, self.jitter, now)


def cron_trigger(expr: str, tz: ZoneInfo, jitter: int | None = None, *, what: str = "schedule") -> LocalCronTrigger:
    """A trigger for a standard 5-field cron expression (minute hour day month weekday) in TZ."""
    text = " ".join(str(expr).split())
    fields = _ALIASES.get(text.lower(), text).split()
    if len(fields) != 5:
        raise ScheduleError(f"{what} {expr!r} is not a cron expression: it needs 5 fields "
                            "(minute hour day-of-month month day-of-week), e.g. '0 6 * * *'")
    minute, hour, day, month, dow = fields
    if day != "*" and dow != "*":
        # cron fires when either matches, APScheduler only when both do: refuse rather than differ.
        raise ScheduleError(f"{what} {expr!r} sets both day of month and day of week: give one of them")
    try:
        return LocalCronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=_cron_weekdays(dow),
                           timezone=tz, jitter=jitter or None)
    except ValueError as exc:
        raise ScheduleError(f"{what} {expr!r} is not a valid cron expression: {exc}") from None


def trigger_key(trigger) -> str:
    """What identifies a trigger for comparison: its fields, time zone and jitter (repr has all)."""
    return repr(trigger)


@dataclass(frozen=True)
class SchedulerSettings:
    tz: ZoneInfo
    crawl_schedule: str
    digest_schedule: str
    jitter: int

    @classmethod
    def from_env(cls, *, tz: str | None = None, crawl_schedule: str | None = None,
                 digest_schedule: str | None = None, jitter: int | None = None) -> "SchedulerSettings":
        settings = cls(
            tz=config.timezone(tz),
            crawl_schedule=crawl_schedule or setting("FUNDWATCH_CRAWL_SCHEDULE"),
            digest_schedule=digest_schedule or setting("FUNDWATCH_DIGEST_SCHEDULE"),
            jitter=jitter if jitter is not None else int_setting("FUNDWATCH_CRAWL_JITTER"),
        )
        # Fail at start-up, not at 06:00.
        cron_trigger(settings.crawl_schedule, settings.tz, what="crawl schedule")
        cron_trigger(settings.digest_schedule, settings.tz, what="digest schedule")
        return settings
