"""Signed tokens for the links in mail: itsdangerous with FUNDWATCH_SECRET_KEY. A token carries
the subscriber id, its purpose and the subscriber's random token_key, so it is unguessable,
tamper-evident, bound to one purpose, and dead once the subscriber is deleted."""

from __future__ import annotations

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from fundwatch import config

CONFIRM, UNSUBSCRIBE, MANAGE, MUTE = "c", "u", "m", "x"  # MUTE: with ?id=ITEM, hides that item
CONFIRM_MAX_AGE = 14 * 24 * 3600  # a confirmation link works for 14 days; the others do not expire
SALT = "fundwatch-subscription-v1"


class SecretKeyMissing(RuntimeError):
    def __init__(self, what: str = "this command"):
        super().__init__(f"FUNDWATCH_SECRET_KEY is not set: {what} needs it to sign the links in mail "
                         "(set it to a long random string, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)")


class TokenInvalid(ValueError):
    """Tampered, unknown purpose, or expired."""


def secret_key(what: str = "this command") -> str:
    key = config.env("FUNDWATCH_SECRET_KEY")
    if not key:
        raise SecretKeyMissing(what)
    return key


def _serializer(key: str | None = None) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(key or secret_key(), salt=SALT)


class Signer:
    """Reuse one for many tokens (the digest signs two per subscriber)."""

    def __init__(self, key: str | None = None):
        self._s = _serializer(key)

    def make(self, subscriber_id: int, token_key: str, purpose: str) -> str:
        return self._s.dumps([subscriber_id, purpose, token_key])

    def read(self, token: str, purpose: str) -> tuple[int, str]:
        """(subscriber id, token_key); the caller checks the key against the stored one."""
        max_age = CONFIRM_MAX_AGE if purpose == CONFIRM else None
        try:
            data = self._s.loads(token, max_age=max_age)
        except SignatureExpired:
            raise TokenInvalid("expired") from None
        except (BadSignature, ValueError, TypeError):
            raise TokenInvalid("bad signature") from None
        if (not isinstance(data, list) or len(data) != 3 or data[1] != purpose
                or not isinstance(data[0], int) or not isinstance(data[2], str)):
            raise TokenInvalid("wrong purpose")
        return data[0], data[2]
