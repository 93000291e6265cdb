"""subscribers' reminder lead time and muted items; news ids shortened to the URL's last segment

Revision ID: 0010
Revises: 0007
Create Date: 2026-12-02 05:20:00

`reminder_days` (7, 14 or 30) is how far ahead a digest lists what closes soon first; `muted`
holds the ids of items a subscriber asked not to see again ("Visa inte fler om denna").

A news item's id was agency/news/<the whole URL as a slug>; it is now agency/news/<the URL's last
path segment>. Each news item is moved to its new id together with its versions and changes, so
the next crawl finds it where it was: nothing is seen as removed and new again. The slug rules are
copied here (not imported) so this migration keeps doing what it did when the code moves on.
"""
import re
import unicodedata
from urllib.parse import unquote, urlsplit

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0007"
branch_labels = None
depends_on = None

_NON_ALNUM = re.compile(r"[\W_]+", re.UNICODE)


def _slugify(key: str) -> str:
    return _NON_ALNUM.sub("-", unicodedata.normalize("NFKC", key).casefold()).strip("-") or "item"


def _news_key(url: str) -> str:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return url
    return unquote(parts.path.rstrip("/").rsplit("/", 1)[-1]) or parts.netloc


def short_news_ids(bind) -> dict[str, str]:
    """Move every news item to its short id; {old id: new id}. A new id already taken gets -2, -3, …
    (as the crawl's pipeline numbers slugs that repeat)."""
    meta = sa.MetaData()
    items = sa.Table("items", meta, autoload_with=bind)
    versions = sa.Table("item_versions", meta, autoload_with=bind)
    changes = sa.Table("changes", meta, autoload_with=bind)
    taken = set(bind.execute(sa.select(items.c.id)).scalars())
    moved = {}
    news = bind.execute(sa.select(items.c.id, items.c.agency, items.c.url).where(items.c.kind == "news")
                        .order_by(items.c.first_seen, items.c.id)).all()
    for old, agency, url in news:
        base = f"{agency}/news/{_slugify(_news_key(url))}"
        if old == base or (old.startswith(base + "-") and old[len(base) + 1:].isdigit()):
            continue
        new, n = base, 1
        while new in taken:
            n += 1
            new = f"{base}-{n}"
        row = dict(bind.execute(sa.select(items).where(items.c.id == old)).mappings().one())
        bind.execute(items.insert().values({**row, "id": new}))  # the new row first: the references move to it
        bind.execute(versions.update().where(versions.c.item_id == old).values(item_id=new))
        bind.execute(changes.update().where(changes.c.item_id == old).values(item_id=new))
        bind.execute(items.delete().where(items.c.id == old))
        taken.discard(old)
        taken.add(new)
        moved[old] = new
    return moved


def upgrade() -> None:
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("reminder_days", sa.Integer(), nullable=False, server_default="14"))
        batch.add_column(sa.Column("muted", sa.JSON(), nullable=False, server_default="[]"))
    short_news_ids(op.get_bind())


def downgrade() -> None:
    # the short news ids stay: a downgrade changes the schema only
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("muted")
        batch.drop_column("reminder_days")
