"""drop staged_items: a crawl's items now wait in a spool file until its run is applied

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 06:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows here belong to runs still `running` (a crawl in progress, or one that was killed and is
    # closed as interrupted at the next start): none of them was ever applied, so none is lost.
    with op.batch_alter_table("staged_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staged_items_run_id"))
    op.drop_table("staged_items")


def downgrade() -> None:
    op.create_table(
        "staged_items",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("staged_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staged_items_run_id"), ["run_id"], unique=False)
