"""subscribers choose their reminder lead time and mute single items

Revision ID: 0010
Revises: 0007
Create Date: 2026-12-02 05:20:00

`reminder_days` (7, 14 or 30) is how far ahead a digest lists what closes soon; `muted` holds the
ids of items a subscriber asked not to see again ("Visa inte fler om denna").
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("reminder_days", sa.Integer(), nullable=False, server_default="14"))
        batch.add_column(sa.Column("muted", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("muted")
        batch.drop_column("reminder_days")
