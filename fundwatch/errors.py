"""Errors that are the user's to fix: shown as one line, exit 1, no traceback."""


def USER_ERRORS() -> tuple[type[BaseException], ...]:  # noqa: N802 - a tuple for `except`
    from fundwatch.sources import SourcesError
    from storage.db import DatabaseError

    errors: list[type[BaseException]] = [SourcesError, DatabaseError]
    try:
        from storage.locks import SourceLocked

        errors.append(SourceLocked)
    except ImportError:
        pass
    return tuple(errors)
