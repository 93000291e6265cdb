"""The base of errors that are the user's to fix: the CLI shows them as one line, exit 1, no
traceback. A leaf, so catching them never imports the heavy layers."""


class UserError(Exception):
    """A mistake or condition the user can fix (a bad sources file, an unreachable database, …)."""
