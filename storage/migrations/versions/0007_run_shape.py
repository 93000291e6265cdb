"""runs.shape and runs.accepted: the drift guard's record of what a run's items carried

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-02 05:20:00

`shape` holds, per kind, how many items had a deadline, an opening date and an amount, and how
many items each must-carry page gave; `accepted` marks a run whose shape the operator accepted
(`fundwatch runs accept SOURCE`) as the new baseline. Old runs have no shape: the guard starts
comparing from the first run that records one.
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shape", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("accepted", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("accepted")
        batch_op.drop_column("shape")
