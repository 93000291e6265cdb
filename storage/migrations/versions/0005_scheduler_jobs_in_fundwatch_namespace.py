"""stored scheduler jobs name their functions under the fundwatch package

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 05:00:00

APScheduler 3 deletes a stored job whose function it cannot import, and with it a run missed while
the scheduler was down. The layout moved `scheduler.jobs` to `fundwatch.scheduler.jobs`, so the
function reference inside each pickled job state is rewritten; without the table (the scheduler
never ran) there is nothing to do.
"""
import pickle

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLE = "apscheduler_jobs"
OLD, NEW = "scheduler.jobs:", "fundwatch.scheduler.jobs:"


def _rewrite(old: str, new: str) -> None:
    bind = op.get_bind()
    if not sa.inspect(bind).has_table(TABLE):
        return
    jobs = sa.table(TABLE, sa.column("id", sa.Unicode), sa.column("job_state", sa.LargeBinary))
    for job_id, blob in bind.execute(sa.select(jobs.c.id, jobs.c.job_state)).all():
        state = pickle.loads(blob)
        func = state.get("func")
        if isinstance(func, str) and func.startswith(old):
            state["func"] = new + func[len(old):]
            bind.execute(jobs.update().where(jobs.c.id == job_id)
                         .values(job_state=pickle.dumps(state, pickle.HIGHEST_PROTOCOL)))


def upgrade() -> None:
    _rewrite(OLD, NEW)


def downgrade() -> None:
    _rewrite(NEW, OLD)
