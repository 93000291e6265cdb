"""current_items shows what `fundwatch calls` shows: a standing grant's next deadline by its rule,
a status the source gave as closed, and the deadline's time, who may apply and the region

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 08:10:00

The view is plain SQL for people (sqlite3, psql, Datasette): it cannot call fundwatch's Python, so
it computes the next date of a rule ("04-01,10-01", fixed-width MM-DD pairs) itself: every pair in
this year and the next eight (29 February), the earliest on or after today. Its "today" is the
database's CURRENT_DATE (UTC on SQLite), and a deadline closes at the end of its day there;
`fundwatch calls` uses FUNDWATCH_TIMEZONE and the deadline's time.
"""
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

RULE_PAIRS, RULE_YEARS = 16, 9  # deadline_rule is String(100): at most 16 "MM-DD" pairs


def _numbers(count: int) -> str:
    return "(" + " UNION ALL ".join(f"SELECT {n} AS n" for n in range(count)) + ")"


def current_items(dialect: str) -> str:
    """The view in DIALECT ('sqlite' or 'postgresql'): the same SQL but for year and date making."""
    if dialect == "sqlite":
        year = "CAST(strftime('%Y', CURRENT_DATE) AS INTEGER) + y.n"
        make_date = "printf('%04d-%02d-%02d', {y}, {m}, {d})"
    else:
        year = "CAST(EXTRACT(YEAR FROM CURRENT_DATE) AS INTEGER) + y.n"
        make_date = "make_date({y}, {m}, {d})"
    y = f"({year})"
    m = "CAST(substr(i.deadline_rule, 6 * k.n + 1, 2) AS INTEGER)"
    d = "CAST(substr(i.deadline_rule, 6 * k.n + 4, 2) AS INTEGER)"
    leap = f"CASE WHEN ({y} % 4 = 0 AND {y} % 100 <> 0) OR {y} % 400 = 0 THEN 1 ELSE 0 END"
    last_day = f"CASE WHEN {m} = 2 THEN 28 + {leap} WHEN {m} IN (4, 6, 9, 11) THEN 30 ELSE 31 END"
    # an impossible date (29 February of a common year) is no candidate; make_date would refuse it
    candidate = (f"CASE WHEN {m} BETWEEN 1 AND 12 AND {d} BETWEEN 1 AND {last_day} "
                 f"THEN {make_date.format(y=y, m=m, d=d)} END")
    next_by_rule = (f"(SELECT min({candidate}) FROM {_numbers(RULE_PAIRS)} k, {_numbers(RULE_YEARS)} y "
                    f"WHERE 6 * k.n < length(i.deadline_rule) AND {candidate} >= CURRENT_DATE)")
    return f"""
CREATE VIEW current_items AS
SELECT s.id, s.source_id, s.agency, s.kind, s.title, s.url, s.opens, s.deadline, s.deadline_text,
       s.deadline_rule, s.published, s.amount_text, s.amount_sek, s.competitive,
       CASE
         WHEN s.stored_status IN ('removed', 'planned', 'closed') THEN s.stored_status
         WHEN s.deadline IS NOT NULL AND s.deadline < CURRENT_DATE THEN 'closed'
         WHEN s.opens IS NOT NULL AND s.opens > CURRENT_DATE THEN 'upcoming'
         WHEN s.deadline IS NOT NULL OR s.opens IS NOT NULL OR s.deadline_rule IS NOT NULL THEN 'open'
         ELSE s.stored_status
       END AS status,
       s.version, s.first_seen, s.last_seen, s.removed_at, s.deadline_time, s.eligibility, s.region
FROM (
  SELECT i.id, i.source_id, i.agency, i.kind, i.title, i.url, i.opens,
         CASE WHEN i.deadline_rule IS NULL OR i.deadline_rule = '' THEN i.deadline ELSE {next_by_rule} END AS deadline,
         i.deadline_text, NULLIF(i.deadline_rule, '') AS deadline_rule, i.published, i.amount_text, i.amount_sek,
         i.competitive, i.status AS stored_status, i.version, i.first_seen, i.last_seen, i.removed_at,
         i.deadline_time, i.eligibility, i.region
  FROM items i
  WHERE i.status <> 'removed'
) s
"""


# The view as revision 0001 made it (kept inline: a migration never changes).
CURRENT_ITEMS_0001 = """
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


def upgrade() -> None:
    op.execute("DROP VIEW IF EXISTS current_items")
    op.execute(current_items(op.get_bind().dialect.name))


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS current_items")
    op.execute(CURRENT_ITEMS_0001)
