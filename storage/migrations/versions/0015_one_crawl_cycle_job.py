"""stored scheduler jobs: the crawls of every source on the crawl schedule become one job, `crawl`

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 08:30:00

The scheduler had a job `crawl:<source id>` per source; now the sources without a schedule of their
own are crawled by one job, the crawl cycle (`crawl`), as `fundwatch crawl` crawls them. The
per-source jobs that share the most common schedule (the crawl schedule) are folded into `crawl`, which keeps
the earliest of their next run times, so a run missed while the scheduler was down still runs once,
and no per-source job lingers to crawl a source twice. A job of another schedule (a source with its
own `schedule`) keeps its id: the scheduler keeps it as it is. Without the table (the scheduler
never ran) there is nothing to do. Downgrade drops `crawl` (the earlier scheduler adds its jobs
again at its next start).
"""
import pickle
from collections import Counter

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

TABLE = "apscheduler_jobs"
CYCLE_ID = "crawl"


def _jobs():
    return sa.table(TABLE, sa.column("id", sa.Unicode), sa.column("next_run_time", sa.Float),
                    sa.column("job_state", sa.LargeBinary))


def upgrade() -> None:
    bind = op.get_bind()
    if not sa.inspect(bind).has_table(TABLE):
        return
    jobs = _jobs()
    if bind.execute(sa.select(jobs.c.id).where(jobs.c.id == CYCLE_ID)).first() is not None:
        return
    stored = [(job_id, when, pickle.loads(blob)) for job_id, when, blob in bind.execute(
        sa.select(jobs.c.id, jobs.c.next_run_time, jobs.c.job_state).where(jobs.c.id.like("crawl:%"))).all()]
    if not stored:
        return
    crawl_schedule = Counter(repr(state["trigger"]) for _, _, state in stored).most_common(1)[0][0]
    folded = [(job_id, when, state) for job_id, when, state in stored if repr(state["trigger"]) == crawl_schedule]
    due = [(when, state) for _, when, state in folded if when is not None]
    first_when, first_state = min(due, key=lambda pair: pair[0]) if due else (None, folded[0][2])
    cycle = dict(first_state)
    cycle.update(id=CYCLE_ID, name="crawl cycle", next_run_time=first_state.get("next_run_time") if due else None,
                 kwargs={k: v for k, v in first_state["kwargs"].items() if k != "source_id"})
    bind.execute(jobs.insert().values(id=CYCLE_ID, next_run_time=first_when,
                                      job_state=pickle.dumps(cycle, pickle.HIGHEST_PROTOCOL)))
    bind.execute(jobs.delete().where(jobs.c.id.in_([job_id for job_id, _, _ in folded])))


def downgrade() -> None:
    bind = op.get_bind()
    if sa.inspect(bind).has_table(TABLE):
        jobs = _jobs()
        bind.execute(jobs.delete().where(jobs.c.id == CYCLE_ID))
