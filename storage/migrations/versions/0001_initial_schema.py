"""initial schema: sources, runs, items, versions, changes, staging, locks and the history views

Revision ID: 0001
Revises: 
Create Date: 2026-11-26 16:18:20.077204
"""
import sqlalchemy as sa
from alembic import op

# Views for people reading history with plain SQL. Kept inline: a migration never changes.
CHANGE_LOG = """
CREATE VIEW change_log AS
SELECT c.id AS change_id, c.run_id, c.detected_at, i.agency, i.kind, i.title, c.change,
       f.field, f.old_value, f.new_value, i.url, c.item_id
FROM changes c
JOIN items i ON i.id = c.item_id
LEFT JOIN change_fields f ON f.change_id = c.id
"""

# Status as shown: removed and planned as stored; otherwise from the dates and today.
CURRENT_ITEMS = """
CREATE VIEW current_items AS
SELECT i.id, i.source_id, i.agency, i.kind, i.title, i.url, i.opens, i.deadline, i.deadline_text,
       i.deadline_rule, i.published, i.amount_text, i.amount_sek, i.competitive,
       CASE
         WHEN i.status IN ('removed', 'planned') THEN i.status
         WHEN i.deadline IS NOT NULL AND i.deadline < CURRENT_DATE THEN 'closed'
         WHEN i.opens IS NOT NULL AND i.opens > CURRENT_DATE THEN 'upcoming'
         WHEN i.deadline IS NOT NULL OR i.opens IS NOT NULL OR i.deadline_rule IS NOT NULL THEN 'open'
         ELSE i.status
       END AS status,
       i.version, i.first_seen, i.last_seen, i.removed_at
FROM items i
WHERE i.status <> 'removed'
"""


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('source_locks',
    sa.Column('source_id', sa.String(length=100), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('hostname', sa.String(length=255), nullable=False),
    sa.Column('acquired_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('source_id')
    )
    op.create_table('sources',
    sa.Column('id', sa.String(length=100), nullable=False),
    sa.Column('agency', sa.String(length=100), nullable=False),
    sa.Column('spider', sa.String(length=100), nullable=False),
    sa.Column('first_seen', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('items',
    sa.Column('id', sa.String(length=400), nullable=False),
    sa.Column('source_id', sa.String(length=100), nullable=False),
    sa.Column('agency', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('origin', sa.Text(), nullable=False),
    sa.Column('opens', sa.Date(), nullable=True),
    sa.Column('deadline', sa.Date(), nullable=True),
    sa.Column('deadline_text', sa.Text(), nullable=True),
    sa.Column('deadline_rule', sa.String(length=100), nullable=True),
    sa.Column('published', sa.Date(), nullable=True),
    sa.Column('amount_text', sa.Text(), nullable=True),
    sa.Column('amount_sek', sa.BigInteger(), nullable=True),
    sa.Column('competitive', sa.Boolean(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('misses', sa.Integer(), nullable=False),
    sa.Column('first_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['source_id'], ['sources.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_items_agency'), ['agency'], unique=False)
        batch_op.create_index(batch_op.f('ix_items_source_id'), ['source_id'], unique=False)

    op.create_table('runs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('source_id', sa.String(length=100), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=True),
    sa.Column('hostname', sa.String(length=255), nullable=True),
    sa.Column('pages', sa.Integer(), nullable=False),
    sa.Column('items', sa.Integer(), nullable=False),
    sa.Column('errors', sa.Integer(), nullable=False),
    sa.Column('new', sa.Integer(), nullable=False),
    sa.Column('updated', sa.Integer(), nullable=False),
    sa.Column('removed', sa.Integer(), nullable=False),
    sa.Column('reappeared', sa.Integer(), nullable=False),
    sa.Column('reason_code', sa.String(length=50), nullable=True),
    sa.Column('reason_params', sa.JSON(), nullable=True),
    sa.Column('warnings', sa.JSON(), nullable=True),
    sa.Column('page_log', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['source_id'], ['sources.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_runs_source_id'), ['source_id'], unique=False)

    op.create_table('changes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.String(length=400), nullable=False),
    sa.Column('change', sa.String(length=20), nullable=False),
    sa.Column('detected_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('diff', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('changes', schema=None) as batch_op:
        batch_op.create_index('ix_changes_detected', ['detected_at'], unique=False)
        batch_op.create_index('ix_changes_item', ['item_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_changes_run_id'), ['run_id'], unique=False)

    op.create_table('item_versions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('item_id', sa.String(length=400), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('snapshot', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('item_id', 'version')
    )
    with op.batch_alter_table('item_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_item_versions_run_id'), ['run_id'], unique=False)

    op.create_table('staged_items',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('staged_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staged_items_run_id'), ['run_id'], unique=False)

    op.create_table('change_fields',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('change_id', sa.Integer(), nullable=False),
    sa.Column('field', sa.String(length=50), nullable=False),
    sa.Column('old_value', sa.Text(), nullable=True),
    sa.Column('new_value', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['change_id'], ['changes.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('change_fields', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_change_fields_change_id'), ['change_id'], unique=False)


    op.execute(CHANGE_LOG)
    op.execute(CURRENT_ITEMS)

def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS current_items")
    op.execute("DROP VIEW IF EXISTS change_log")
    with op.batch_alter_table('change_fields', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_change_fields_change_id'))

    op.drop_table('change_fields')
    with op.batch_alter_table('staged_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staged_items_run_id'))

    op.drop_table('staged_items')
    with op.batch_alter_table('item_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_item_versions_run_id'))

    op.drop_table('item_versions')
    with op.batch_alter_table('changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_changes_run_id'))
        batch_op.drop_index('ix_changes_item')
        batch_op.drop_index('ix_changes_detected')

    op.drop_table('changes')
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_runs_source_id'))

    op.drop_table('runs')
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_items_source_id'))
        batch_op.drop_index(batch_op.f('ix_items_agency'))

    op.drop_table('items')
    op.drop_table('sources')
    op.drop_table('source_locks')
