"""confirmation_requests: throttling of confirmation mail per mailbox and client, and its queue

Revision ID: 0009
Revises: 0006
Create Date: 2026-12-02 05:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0006"  # chained after what main holds; the lead re-chains on merge
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "confirmation_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("mailbox", sa.String(length=64), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_confirmation_requests_mailbox", "confirmation_requests", ["mailbox", "requested_at"])
    op.create_index("ix_confirmation_requests_client", "confirmation_requests", ["client", "requested_at"])
    op.create_index("ix_confirmation_requests_due", "confirmation_requests", ["due_at"])


def downgrade() -> None:
    op.drop_index("ix_confirmation_requests_due", table_name="confirmation_requests")
    op.drop_index("ix_confirmation_requests_client", table_name="confirmation_requests")
    op.drop_index("ix_confirmation_requests_mailbox", table_name="confirmation_requests")
    op.drop_table("confirmation_requests")
