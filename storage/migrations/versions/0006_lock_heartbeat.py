"""source_locks: a heartbeat (a lock of a host that is gone goes stale) and the crawl's process group

Revision ID: 0006
Revises: 0010
Create Date: 2026-12-02 05:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("source_locks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("pgid", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("source_locks", schema=None) as batch_op:
        batch_op.drop_column("pgid")
        batch_op.drop_column("heartbeat_at")
