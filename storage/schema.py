"""What storage.db and the reader without SQLAlchemy (storage/sqlite_read.py) share: the newest
migration's revision, so that reader can tell a database is current, and SQLite's busy wait."""

SCHEMA_HEAD = "0015"  # the newest migration in storage/migrations/versions (a test holds them equal)
SQLITE_BUSY_SECONDS = 30  # a crawl writing is waited for, not an error
