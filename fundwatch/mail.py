"""Mail for the digest and operator alerts, on the standard library: `EmailMessage` and `smtplib`.

`open_transport()` reads FUNDWATCH_SMTP_URL (smtp://host:port: STARTTLS when the server offers it;
smtps://host:port: implicit TLS) and FUNDWATCH_SMTP_USER / FUNDWATCH_SMTP_PASSWORD; without an SMTP
URL each message is written as an .eml file (the bytes SMTP would carry) to FUNDWATCH_OUTBOX. One
SMTP connection carries every message of a transport, opened again once if the server dropped it.
`send()` returns the server's reply (or the .eml path), or raises what happened to the message.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import smtplib
import ssl
import unicodedata
import uuid
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from urllib.parse import unquote, urlsplit

from fundwatch.config import MailSettings

# policy.SMTP refuses CR/LF in header values and writes CRLF line ends. refold_source="none": our
# own headers (set raw, e.g. List-Unsubscribe: one long URL) go out on one line, not encoded words.
POLICY = policy.SMTP.clone(refold_source="none")
SEVEN_BIT = POLICY.clone(cte_type="7bit")  # the generator writes 8bit parts as base64 (no 8BITMIME)
MAX_LINE = 990  # octets of a body line; SMTP allows 998 plus CRLF


class MailError(Exception):
    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code  # the SMTP reply code, if there was one


class MailConfigError(MailError):  # the settings cannot work (bad URL, password in clear, http links)
    pass


class TemporaryFailure(MailError):  # 4xx, no connection before DATA, the outbox not written: try later
    pass


class PermanentFailure(MailError):  # 5xx: not delivered, do not try again (a hard bounce)
    pass


class UncertainDelivery(MailError):  # the connection was lost after DATA: maybe delivered, never resend blindly
    pass


def header_text(value: object, limit: int | None = None) -> str:
    """Untrusted text made safe for one header line: every control, line or paragraph separator
    (CR, LF, U+2028, U+0085, ...) and every run of whitespace becomes one space."""
    value = str(value if value is not None else "")
    if not value.isprintable():
        value = "".join(" " if ch.isspace() or unicodedata.category(ch)[0] in "CZ" else ch for ch in value)
    text = " ".join(value.split())
    if limit and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def address(email: str, name: str | None = None) -> Address:
    local, _, domain = email.rpartition("@")
    if not local or not domain or any(c in email for c in "\r\n<>,; \t\"") or not email.isprintable():
        raise MailConfigError(f"not a plain address: {email!r}")
    return Address(display_name=header_text(name or "", 100), username=local, domain=domain)


def parse_from(mail_from: str) -> Address:
    name, email = parseaddr(header_text(mail_from))
    if "@" not in email:
        raise MailConfigError(f"FUNDWATCH_MAIL_FROM is not an address: {mail_from!r}")
    return address(email, name)


def _encoding(content: str) -> str:
    """The text as it is (7bit or 8bit, a third smaller than base64 and readable in an .eml),
    base64 where a line is longer than SMTP allows or the text holds a NUL."""
    data = content.encode("utf-8")
    too_long = b"\0" in data or max(map(len, data.splitlines()), default=0) > MAX_LINE
    return "base64" if too_long else "7bit" if data.isascii() else "8bit"


def build_message(*, to: Address | str, subject: str, text: str, html: str | None = None,
                  mail_from: str | Address | None = None, msg_id: str | None = None,
                  headers: dict[str, str] | None = None) -> EmailMessage:
    """text/plain, or multipart/alternative (text, then HTML); HEADERS are ours, one printable ASCII line each."""
    sender = mail_from if isinstance(mail_from, Address) else parse_from(mail_from or MailSettings.from_env().mail_from)
    msg = EmailMessage(policy=POLICY)
    msg["From"] = sender
    msg["To"] = to if isinstance(to, Address) else address(to)
    msg["Subject"] = header_text(subject, 200)
    msg["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    msg["Message-ID"] = msg_id or make_msgid(domain=sender.domain)
    for name, value in (headers or {}).items():
        if not value.isascii() or not value.isprintable() or len(value) > 900:
            raise MailConfigError(f"{name} must be one line of printable ASCII")
        msg.set_raw(name, value)
    msg.set_content(text, charset="utf-8", cte=_encoding(text))
    if html is not None:
        msg.add_alternative(html, subtype="html", charset="utf-8", cte=_encoding(html))
        msg.set_boundary(f"=_fw_{uuid.uuid4().hex}")  # random: spares the generator a search of the text
    return msg


class Transport(contextlib.AbstractContextManager):
    def close(self) -> None:
        pass

    def __exit__(self, *exc) -> None:
        self.close()


class OutboxTransport(Transport):
    """Writes each message as NAME.eml (from its Message-ID) into a folder; atomic per file."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def send(self, msg: EmailMessage) -> str:
        name = re.sub(r"[^A-Za-z0-9.\-_+]", "-", msg["Message-ID"].strip("<>").partition("@")[0])
        path = self.folder / f"{name}.eml"
        tmp = self.folder / f".{path.stem}.{os.getpid()}.tmp"
        try:
            tmp.write_bytes(msg.as_bytes())
            os.replace(tmp, path)
        except OSError as exc:  # a full disk passes: the message is tried again later
            tmp.unlink(missing_ok=True)
            raise TemporaryFailure(f"cannot write the outbox {self.folder}: {exc.strerror or exc}") from None
        return str(path)


class SmtpTransport(Transport):
    def __init__(self, url: str, user: str | None = None, password: str | None = None, timeout: float = 60.0):
        parts = urlsplit(url)
        self.port = 0
        with contextlib.suppress(ValueError):  # a port that is not a number, or out of range
            self.port = parts.port or (465 if parts.scheme == "smtps" else 25)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname or not self.port:
            raise MailConfigError(f"FUNDWATCH_SMTP_URL must be smtp://host[:port] or smtps://host[:port], not {url!r}")
        self.implicit_tls, self.host, self.timeout = parts.scheme == "smtps", parts.hostname, timeout
        self.user = user or unquote(parts.username or "") or None
        self.password = password or unquote(parts.password or "")
        self.smtp: smtplib.SMTP | None = None
        self.tls = False  # the connection is encrypted

    def _connect(self) -> smtplib.SMTP:
        try:
            smtp = (smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=ssl.create_default_context())
                    if self.implicit_tls else smtplib.SMTP(self.host, self.port, timeout=self.timeout))
            smtp.ehlo()
            if not self.implicit_tls and smtp.has_extn("starttls"):
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            self.tls = isinstance(smtp.sock, ssl.SSLSocket)
            if self.user:
                if not self.tls and self.host not in ("127.0.0.1", "::1", "localhost"):
                    smtp.close()
                    raise MailConfigError(f"{self.host} offers no TLS: refusing to send the SMTP password in clear")
                smtp.login(self.user, self.password)
        except smtplib.SMTPAuthenticationError as exc:
            raise MailConfigError(f"SMTP login to {self.host} refused: {exc.smtp_code} "
                                  f"{header_text(exc.smtp_error.decode('utf-8', 'replace'), 200)}") from None
        except ssl.SSLCertVerificationError as exc:  # a setting to fix, not a server to wait for
            raise MailConfigError(f"the TLS certificate of {self.host}:{self.port} is not trusted "
                                  f"({exc.verify_message}); if the relay uses a private CA, point "
                                  "SSL_CERT_FILE at its certificate") from None
        except OSError as exc:  # smtplib's errors are OSErrors too
            raise TemporaryFailure(f"cannot connect to {self.host}:{self.port}: {exc}") from None
        self.smtp = smtp
        return smtp

    def _check(self, code: int, reply: bytes, stage: str, ok: tuple[int, ...] = (250,)) -> None:
        if code in ok:
            return
        try:  # the connection stays usable (RSET) unless the server is closing it (421)
            if code == 421:
                self.close(quit=False)
            else:
                self.smtp.rset()  # type: ignore[union-attr]
        except OSError:
            self.close(quit=False)
        text = f"{stage}: {code} {header_text(reply.decode('utf-8', 'replace'), 300)}"
        raise (TemporaryFailure if 400 <= code < 500 else PermanentFailure)(text, code)

    def send(self, msg: EmailMessage) -> str:
        sender, recipient = msg["From"].addresses[0].addr_spec, msg["To"].addresses[0].addr_spec
        for attempt in (1, 2):
            reused = self.smtp is not None
            smtp = self.smtp or self._connect()
            eight_bit = smtp.has_extn("8bitmime")
            data = msg.as_bytes(policy=POLICY if eight_bit else SEVEN_BIT)
            try:
                code, reply = smtp.mail(sender, ["BODY=8BITMIME"] if eight_bit and not data.isascii() else [])
                if code == 421 and attempt == 1:  # the server is closing: one new connection
                    self.close(quit=False)
                    continue
                self._check(code, reply, "MAIL FROM")
                self._check(*smtp.rcpt(recipient), "RCPT TO", ok=(250, 251))
            except OSError as exc:  # nothing of the message went out: safe to try again
                self.close(quit=False)
                if attempt == 1 and reused:  # dropped while idle: one new connection
                    continue
                raise TemporaryFailure(f"connection to {self.host} lost before the message was sent: {exc}") from None
            try:
                code, reply = smtp.data(data)
            except smtplib.SMTPDataError as exc:  # DATA itself refused (any reply but 354): nothing went out
                self._check(exc.smtp_code, exc.smtp_error, "DATA", ok=())
            except OSError as exc:
                self.close(quit=False)
                raise UncertainDelivery(f"connection to {self.host} lost after DATA: {exc}") from None
            self._check(code, reply, "end of DATA")
            return f"{code} {header_text(reply.decode('utf-8', 'replace'), 200)}"

    def close(self, quit: bool = True) -> None:
        if quit and self.smtp is not None:
            with contextlib.suppress(OSError):
                self.smtp.quit()
        if self.smtp is not None:
            self.smtp.close()
        self.smtp = None


def check_links(settings: MailSettings) -> None:
    """Links in mail that goes out for real must be https (the one-click unsubscribe needs it)."""
    if settings.smtp_url and not settings.public_url.lower().startswith("https://"):
        raise MailConfigError(f"FUNDWATCH_PUBLIC_URL is {settings.public_url!r}: refusing to send mail over SMTP "
                              "with links that are not https (set FUNDWATCH_PUBLIC_URL=https://...)")


def open_transport(settings: MailSettings | None = None, *, links: bool = True) -> Transport:
    """SMTP when FUNDWATCH_SMTP_URL is set, else the outbox folder."""
    settings = settings or MailSettings.from_env()
    if links:  # the mail carries subscriber links
        check_links(settings)
    if settings.smtp_url:
        return SmtpTransport(settings.smtp_url, settings.user, settings.password)
    return OutboxTransport(settings.outbox)


def send_all(messages: list[EmailMessage], settings: MailSettings | None = None, *, links: bool = False) -> list[str]:
    with open_transport(settings, links=links) as transport:
        return [transport.send(m) for m in messages]
