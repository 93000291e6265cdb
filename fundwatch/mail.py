"""Mail transport and message building, shared by the digest and operator alerts.

    from fundwatch.mail import build_message, open_transport
    msg = build_message(to="ops@example.org", subject="...", text="...")
    with open_transport(links=False) as transport:   # links=False: no subscriber links inside
        transport.send(msg)

Messages are the standard library's `EmailMessage`; SMTP is `smtplib`. `open_transport()` reads
FUNDWATCH_SMTP_URL (smtp://host:port: STARTTLS when the server offers it; smtps://host:port:
implicit TLS), FUNDWATCH_SMTP_USER / FUNDWATCH_SMTP_PASSWORD. Without an SMTP URL every message
is written as an .eml file (the bytes SMTP would carry) to FUNDWATCH_OUTBOX. One SMTP connection
carries every message sent through one transport, reconnecting once if the server dropped it.

`send()` returns the server's reply (or the .eml path) and raises, so a caller can record what
happened to the message:
  TemporaryFailure   4xx, the connection failed before DATA, or the outbox could not be
                     written (disk full): not delivered, try again later
  PermanentFailure   5xx: not delivered, do not try again (a hard bounce)
  UncertainDelivery  the connection was lost after DATA: the server may or may not have
                     accepted the message; do not resend blindly
"""

from __future__ import annotations

import copy
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
from typing import Iterable
from urllib.parse import unquote, urlsplit

from fundwatch.config import MailSettings

# policy.SMTP refuses CR/LF in header values and writes CRLF line ends. refold_source="none":
# List-Unsubscribe (set raw: one long URL) goes out on one line, not as RFC 2047 encoded words.
POLICY = policy.SMTP.clone(refold_source="none")
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
MAX_LINE = 990  # octets of a body line; SMTP allows 998 plus CRLF


class MailError(Exception):
    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


class MailConfigError(MailError):  # the settings cannot work (bad URL, password in clear, http links)
    pass


class TemporaryFailure(MailError):  # not delivered; try again later
    pass


class PermanentFailure(MailError):  # not delivered; refused for good (5xx)
    pass


class UncertainDelivery(MailError):  # connection lost after DATA: delivered or not, unknown
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
    """An Address header object; the display name is cleaned of anything that could break a line."""
    local, _, domain = email.rpartition("@")
    if not local or not domain or any(c in email for c in "\r\n<>,; \t\"") or not email.isprintable():
        raise MailConfigError(f"not a plain address: {email!r}")
    return Address(display_name=header_text(name or "", 100), username=local, domain=domain)


def parse_from(mail_from: str) -> Address:
    name, email = parseaddr(header_text(mail_from))
    if "@" not in email:
        raise MailConfigError(f"FUNDWATCH_MAIL_FROM is not an address: {mail_from!r}")
    return address(email, name)


def message_id(local: str, domain: str) -> str:
    """A fixed Message-ID, e.g. for one (week, subscriber): the same message has the same id."""
    safe = re.sub(r"[^A-Za-z0-9.\-_+]", "-", local)
    return f"<{safe}@{domain}>"


def join_html_lines(html: str, apart: re.Pattern | None = None, limit: int = MAX_LINE) -> str:
    """An HTML part in fewer, longer lines: consecutive lines joined with a space up to LIMIT
    octets (in HTML a line break and a space are the same whitespace; our mail has no <pre>).
    A mail server reads a message line by line, and so does the email generator: fewer lines
    make a digest cheaper for both (bench/README.md). Lines matching APART (placeholders filled
    in later with values of unknown length) stay alone."""
    ending = "\n" if html.endswith("\n") else ""
    apart_bytes = re.compile(apart.pattern.encode()) if apart is not None else None
    out: list[bytes] = []
    run: list[bytes] = []
    size = 0
    for line in html[:len(html) - len(ending)].encode().split(b"\n"):  # octets, without encoding each line
        if apart_bytes is not None and apart_bytes.search(line):
            if run:
                out.append(b" ".join(run))
                run, size = [], 0
            out.append(line)
            continue
        if run and size + 1 + len(line) > limit:
            out.append(b" ".join(run))
            run, size = [], 0
        size += len(line) + (1 if run else 0)
        run.append(line)
    if run:
        out.append(b" ".join(run))
    return b"\n".join(out).decode() + ending


def _encoding(content: str) -> str:
    """The text as it is (7bit or 8bit, a third smaller than base64 and readable in an .eml),
    base64 where a line is longer than SMTP allows or the text holds a NUL."""
    data = content.encode("utf-8")
    if b"\0" in data or max(map(len, data.splitlines()), default=0) > MAX_LINE:
        return "base64"
    return "7bit" if data.isascii() else "8bit"


def build_message(*, to: Address | str, subject: str, text: str, html: str | None = None,
                  mail_from: str | Address | None = None, msg_id: str | None = None,
                  date: dt.datetime | None = None, headers: dict[str, str] | None = None,
                  raw_headers: dict[str, str] | None = None) -> EmailMessage:
    """multipart/alternative (text, then HTML) when html is given, else text/plain. Subject and
    extra header values go through header_text(): one clean line whatever they held. raw_headers
    (our own URLs, e.g. List-Unsubscribe) are written as they are: one line of printable ASCII."""
    sender = mail_from if isinstance(mail_from, Address) else parse_from(mail_from or MailSettings.from_env().mail_from)
    msg = EmailMessage(policy=POLICY)
    msg["From"] = sender
    msg["To"] = to if isinstance(to, Address) else address(to)
    msg["Subject"] = header_text(subject, 200)
    msg["Date"] = format_datetime(date or dt.datetime.now(dt.UTC))
    msg["Message-ID"] = msg_id or make_msgid(domain=sender.domain)
    for name, value in (headers or {}).items():
        msg[name] = header_text(value)
    for name, value in (raw_headers or {}).items():
        if not value.isascii() or not value.isprintable() or len(value) > 900:
            raise MailConfigError(f"{name} must be one line of printable ASCII")
        msg.set_raw(name, value)
    msg.set_content(text, charset="utf-8", cte=_encoding(text))
    if html is not None:
        msg.add_alternative(html, subtype="html", charset="utf-8", cte=_encoding(html))
        # 128 random bits cannot occur in the text: spares the generator its search of the whole text
        msg.set_boundary(f"=_fw_{uuid.uuid4().hex}")
    return msg


def seven_bit(msg: EmailMessage) -> EmailMessage:
    """A copy of MSG with its 8bit parts as base64, for a server without 8BITMIME."""
    msg = copy.deepcopy(msg)
    for part in msg.walk():
        if part.get("Content-Transfer-Encoding") == "8bit":
            part.set_content(part.get_content(), subtype=part.get_content_subtype(), charset="utf-8", cte="base64")
    return msg


def envelope(msg: EmailMessage) -> tuple[str, list[str]]:
    return msg["From"].addresses[0].addr_spec, [a.addr_spec for a in msg["To"].addresses]


class Transport:
    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class OutboxTransport(Transport):
    """Writes each message as NAME.eml (from its Message-ID) into a folder; atomic per file."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def send(self, msg: EmailMessage) -> str:
        name = re.sub(r"[^A-Za-z0-9.\-_+]", "-", str(msg["Message-ID"] or "").strip("<>").split("@")[0])
        path = self.folder / f"{name or uuid.uuid4().hex}.eml"
        tmp = self.folder / f".{path.stem}.{os.getpid()}.tmp"
        try:
            tmp.write_bytes(msg.as_bytes())
            os.replace(tmp, path)
        except OSError as exc:  # a full disk passes: the message is tried again later
            tmp.unlink(missing_ok=True)
            raise TemporaryFailure(f"cannot write the outbox {self.folder}: {exc.strerror or exc}") from None
        return str(path)


def _raise_for(code: int, reply: bytes | str, stage: str):
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    text = f"{stage}: {code} {header_text(text, 300)}"
    if 400 <= code < 500:
        raise TemporaryFailure(text, code)
    raise PermanentFailure(text, code)


class SmtpTransport(Transport):
    def __init__(self, url: str, user: str | None = None, password: str | None = None, timeout: float = 60.0):
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise MailConfigError(f"FUNDWATCH_SMTP_URL must be smtp://host[:port] or smtps://host[:port], not {url!r}")
        self.scheme, self.host = parts.scheme, parts.hostname
        try:
            self.port = parts.port or (465 if self.scheme == "smtps" else 25)
        except ValueError:
            raise MailConfigError(f"bad port in FUNDWATCH_SMTP_URL {url!r}") from None
        self.user = user or (unquote(parts.username) if parts.username else None)
        self.password = password or (unquote(parts.password) if parts.password else None)
        self.timeout = timeout
        self.smtp: smtplib.SMTP | None = None
        self.tls = False
        self.sent = 0

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        try:
            if self.scheme == "smtps":
                smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
                self.tls = True
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            smtp.ehlo()
            if not self.tls and smtp.has_extn("starttls"):
                smtp.starttls(context=context)
                smtp.ehlo()
                self.tls = True
            if self.user:
                if not self.tls and self.host not in LOOPBACK:
                    smtp.close()
                    raise MailConfigError(f"{self.host} offers no TLS: refusing to send the SMTP password in clear")
                smtp.login(self.user, self.password or "")
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

    def _drop(self) -> None:
        if self.smtp is not None:
            self.smtp.close()
        self.smtp = None

    def _refused(self, code: int, reply: bytes, stage: str):
        if code == 421:  # the server is closing the connection
            self._drop()
        else:
            try:
                self.smtp.rset()  # type: ignore[union-attr]
            except OSError:
                self._drop()
        _raise_for(code, reply, stage)

    def send(self, msg: EmailMessage) -> str:
        sender, recipients = envelope(msg)
        for attempt in (1, 2):
            reused = self.smtp is not None
            smtp = self.smtp or self._connect()
            eight_bit = smtp.has_extn("8bitmime")
            data = (msg if eight_bit else seven_bit(msg)).as_bytes()
            options = ["BODY=8BITMIME"] if eight_bit and not data.isascii() else []
            try:
                code, reply = smtp.mail(sender, options)
                if code == 421 and attempt == 1:
                    self._drop()
                    continue
                if code != 250:
                    self._refused(code, reply, "MAIL FROM")
                for rcpt in recipients:
                    code, reply = smtp.rcpt(rcpt)
                    if code not in (250, 251):
                        self._refused(code, reply, "RCPT TO")
            except OSError as exc:  # nothing of the message went out: safe to try again
                self._drop()
                if attempt == 1 and reused:  # dropped while idle: one new connection
                    continue
                raise TemporaryFailure(f"connection to {self.host} lost before the message was sent: {exc}") from None
            try:
                code, reply = smtp.data(data)
            except smtplib.SMTPDataError as exc:  # DATA itself refused: nothing went out
                self._refused(exc.smtp_code, exc.smtp_error, "DATA")
            except OSError as exc:
                self._drop()
                raise UncertainDelivery(f"connection to {self.host} lost after DATA: {exc}") from None
            if code != 250:
                self._refused(code, reply, "end of DATA")
            self.sent += 1
            return f"{code} {header_text(reply.decode('utf-8', 'replace'), 200)}"
        raise TemporaryFailure(f"{self.host} kept closing the connection")

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except OSError:
                pass
        self._drop()


def check_links(settings: MailSettings) -> None:
    """Links in mail that goes out for real must be https (the one-click unsubscribe needs it)."""
    if settings.smtp_url and not settings.public_url.lower().startswith("https://"):
        raise MailConfigError(f"FUNDWATCH_PUBLIC_URL is {settings.public_url!r}: refusing to send mail over SMTP "
                              "with links that are not https (set FUNDWATCH_PUBLIC_URL=https://...)")


def open_transport(settings: MailSettings | None = None, *, links: bool = True) -> Transport:
    """SMTP when FUNDWATCH_SMTP_URL is set, else the outbox folder. With links=True (mail that
    carries subscriber links) SMTP is refused unless FUNDWATCH_PUBLIC_URL is https."""
    settings = settings or MailSettings.from_env()
    if settings.smtp_url:
        if links:
            check_links(settings)
        return SmtpTransport(settings.smtp_url, settings.user, settings.password)
    return OutboxTransport(settings.outbox)


def send_all(messages: Iterable[EmailMessage], settings: MailSettings | None = None, *, links: bool = False) -> list[str]:
    """Convenience for a few messages (alerts): one connection, results in order."""
    with open_transport(settings, links=links) as transport:
        return [transport.send(m) for m in messages]
