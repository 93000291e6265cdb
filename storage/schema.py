"""The newest migration's revision, apart from storage.db so that a reader without SQLAlchemy
(storage/sqlite_read.py) can tell a database is current."""

SCHEMA_HEAD = "0015"  # the newest migration in storage/migrations/versions (a test holds them equal)
