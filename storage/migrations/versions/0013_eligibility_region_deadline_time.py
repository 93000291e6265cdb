"""items carry a deadline's clock time, who may apply and a region; subscribers filter on both

Revision ID: 0013
Revises: 0009
Create Date: 2026-12-02 05:20:00

Every new column is nullable or has a default: items stored before keep their content hash (an
empty new field is left out of the snapshot), and existing subscribers keep getting everything.
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("deadline_time", sa.String(5), nullable=True))
        batch.add_column(sa.Column("eligibility", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("region", sa.String(100), nullable=True))
        batch.create_index("ix_items_region", ["region"])
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("forms", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("regions", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    # Plain DROP COLUMN, not a batch copy of the table: SQLite cannot rename a copied `items` back
    # under the views that read it (change_log, current_items).
    op.drop_column("subscribers", "regions")
    op.drop_column("subscribers", "forms")
    op.drop_index("ix_items_region", table_name="items")
    op.drop_column("items", "region")
    op.drop_column("items", "eligibility")
    op.drop_column("items", "deadline_time")
