"""Mail transport and message building, shared by the digest and operator alerts.

    from fundwatch.mail import build_message, open_transport
    msg = build_message(to="ops@example.org", subject="...", text="...")
    with open_transport(links=False) as transport:   # links=False: no subscriber links inside
        transport.send(msg)

`open_transport()` reads FUNDWATCH_SMTP_URL (smtp://host:port: STARTTLS when the server offers
it; smtps://host:port: implicit TLS), FUNDWATCH_SMTP_USER / FUNDWATCH_SMTP_PASSWORD. Without an
SMTP URL every message is written as an .eml file to FUNDWATCH_OUTBOX. One SMTP connection
carries every message sent through one transport (reconnecting once if the server dropped it
while idle).

`send()` returns the server's reply (or the .eml path) and raises, so a caller can record what
happened to the message:
  TemporaryFailure   4xx, or the connection failed before the message data went out:
                     not delivered, try again later
  PermanentFailure   5xx: not delivered, do not try again (a hard bounce)
  UncertainDelivery  the connection was lost after the message data went out: the server may
                     or may not have accepted it; do not resend blindly
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import re
import smtplib
import socket
import ssl
import unicodedata
import uuid
from email import policy
from email.generator import BytesGenerator
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from io import BytesIO
from pathlib import Path
from typing import Callable, Iterable
from urllib.parse import unquote, urlsplit

from fundwatch.config import MailSettings

# policy.default refuses CR/LF in header values. refold_source="none" lets the raw
# headers (List-Unsubscribe: one long URL) go out unfolded instead of as RFC 2047 encoded words.
POLICY = policy.default.clone(refold_source="none")
WIRE_POLICY = POLICY.clone(linesep="\r\n")
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class MailError(Exception):
    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


class MailConfigError(MailError):
    """The mail settings cannot work (bad URL, credentials over plain text, http links)."""


class TemporaryFailure(MailError):
    """Not delivered; worth trying again later (4xx, or no connection before DATA)."""


class PermanentFailure(MailError):
    """Not delivered; the server refused for good (5xx)."""


class UncertainDelivery(MailError):
    """The connection was lost after the message data went out: delivered or not, unknown."""


# -- headers -----------------------------------------------------------------------------------
def header_text(value: object, limit: int | None = None) -> str:
    """Untrusted text made safe for one header line: every control, line or paragraph separator
    (CR, LF, U+2028, U+0085, ...) and every run of whitespace becomes one space."""
    value = str(value if value is not None else "")
    if not value.isprintable():  # a control or separator other than the ASCII space (rare)
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


def encode_words(text: str) -> str:
    """RFC 2047: ASCII text as it is; otherwise base64 encoded words of at most 75 characters,
    folded one per line. Words are split after a space where possible (a decoder joins adjacent
    encoded words without the folding space), never inside a character."""
    if text.isascii():
        return text
    chunks: list[str] = []
    chunk, size = "", 0
    for token in re.findall(r"\S+\s*|\s+", text):
        n = len(token.encode("utf-8"))
        if size + n > 45 and chunk:
            chunks.append(chunk)
            chunk, size = "", 0
        while n > 45:  # one very long word: split by characters
            cut, used = 0, 0
            while cut < len(token) and used + len(token[cut].encode("utf-8")) <= 45:
                used += len(token[cut].encode("utf-8"))
                cut += 1
            chunks.append(token[:cut])
            token, n = token[cut:], n - used
        chunk, size = chunk + token, size + n
    if chunk:
        chunks.append(chunk)
    return "\n ".join(f"=?utf-8?b?{base64.b64encode(c.encode('utf-8')).decode('ascii')}?=" for c in chunks)


def format_address(addr: Address) -> str:
    """'Name <local@domain>', the name quoted (ASCII) or RFC 2047 encoded; one clean line already."""
    name = addr.display_name
    if not name:
        return addr.addr_spec
    if name.isascii():
        return str(addr)  # the email package quotes specials
    return f"{encode_words(name)} <{addr.addr_spec}>"


def _check_raw(name: str, value: str) -> None:
    """A header value we wrote ourselves: ASCII, folded only as '\n ' by us, never a bare line break."""
    lines = value.split("\n")
    if not value.isascii() or "\r" in value or any(not line.startswith(" ") for line in lines[1:]) \
            or not all(line.isprintable() for line in lines):
        raise MailConfigError(f"refusing a malformed {name} header")


def check_raw_line(name: str, value: str) -> None:
    """A raw header of ours that must be one line (e.g. List-Unsubscribe with a URL)."""
    if not value.isascii() or not value.isprintable() or len(value) > 900:
        raise MailConfigError(f"{name} must be one line of printable ASCII")


def _set_raw(msg: EmailMessage, name: str, value: str) -> None:
    _check_raw(name, value)
    msg.set_raw(name, value)


def date_header(date: dt.datetime | None = None) -> str:
    return format_datetime(date or dt.datetime.now(dt.UTC))


def b64_lines(data: bytes) -> str:
    """base64 in 76-character lines, each ending in a newline (a regex with a group template
    costs a Python call per line: three times slower on a digest)."""
    return base64.encodebytes(data).decode("ascii")


MAX_LINE = 990  # octets; SMTP allows 998 plus CRLF, and dot-stuffing may add one


def join_html_lines(html: str, apart: re.Pattern | None = None, limit: int = MAX_LINE) -> str:
    """An HTML part in fewer, longer lines: consecutive lines joined with a space up to LIMIT
    octets. A mail server reads a message line by line, so its lines are much of what a message
    costs it; in HTML a line break and a space are the same whitespace (our mail has no <pre>).
    Lines matching APART (placeholders filled in later with values of unknown length) stay alone."""
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


def _body(content: str) -> tuple[str, bytes]:
    """(Content-Transfer-Encoding, body bytes with "\n" line ends) of UTF-8 text. The text as it
    is (7bit or 8bit, the way Django sends mail too): a third smaller than base64, nothing to
    encode, readable in an .eml file. base64 where a line is longer than SMTP allows or the text
    holds a NUL. A server without 8BITMIME gets the 8bit parts as base64 (Prepared.seven_bit)."""
    if "\r" in content:
        content = _ANY_EOL.sub("\n", content)
    data = content.encode("utf-8")
    if data and not data.endswith(b"\n"):
        data += b"\n"
    if b"\0" in data or max(map(len, data.split(b"\n"))) > MAX_LINE:
        return "base64", b64_lines(data).encode("ascii")
    return ("7bit" if data.isascii() else "8bit"), data


def _set_body(part: EmailMessage, subtype: str, content: str) -> bytes:
    """Sets PART's body; returns its wire bytes. The payload is the email package's form of
    8bit data (the bytes as ASCII with surrogate escapes), so get_content() reads it back."""
    cte, data = _body(content)
    part.set_raw("Content-Type", f'text/{subtype}; charset="utf-8"')
    part.set_raw("Content-Transfer-Encoding", cte)
    part.set_payload(data.decode("ascii", "surrogateescape"))
    return data


class _Wire:
    """What build_message knows that the wire needs, so nothing is parsed back from headers or
    encoded twice: the envelope, the Message-ID's local part, the multipart boundary ("" for a
    single part) and each body part's bytes."""

    __slots__ = ("sender", "recipients", "name", "boundary", "bodies")

    def __init__(self, sender: str, recipients: list[str], name: str, boundary: str, bodies: list[bytes]):
        self.sender, self.recipients, self.name = sender, recipients, name
        self.boundary, self.bodies = boundary, bodies

    @property
    def eight_bit(self) -> bool:
        """A body part is 8bit (none after to_seven_bit)."""
        return any(not body.isascii() for body in self.bodies)


def _body_parts(msg: EmailMessage) -> list[EmailMessage]:
    return msg.get_payload() if msg.is_multipart() else [msg]


def to_seven_bit(msg: EmailMessage) -> None:
    """Re-encode the 8bit parts of MSG (from build_message) as base64, in place, for a server
    without 8BITMIME."""
    wire: _Wire = msg._fw_wire
    for n, part in enumerate(_body_parts(msg)):
        if part.get("Content-Transfer-Encoding") == "8bit":
            encoded = b64_lines(wire.bodies[n])
            del part["Content-Transfer-Encoding"]
            part.set_raw("Content-Transfer-Encoding", "base64")
            part.set_payload(encoded)
            wire.bodies[n] = encoded.encode("ascii")


def build_message(*, to: Address | str, subject: str, text: str, html: str | None = None,
                  mail_from: str | Address | None = None, msg_id: str | None = None,
                  date: dt.datetime | None = None, headers: dict[str, str] | None = None,
                  raw_headers: dict[str, str] | None = None, boundary: str | None = None) -> EmailMessage:
    """An EmailMessage: multipart/alternative (text, then HTML) when html is given, else
    text/plain. Subject and extra header values go through header_text(): one clean line
    whatever they held. raw_headers (our own URLs, e.g. List-Unsubscribe) are written unfolded
    and must be printable ASCII. Headers are encoded here once (RFC 2047 where needed), so a
    digest run does not parse and refold every header of every message. BOUNDARY: the
    multipart boundary (default: a random one)."""
    sender = mail_from if isinstance(mail_from, Address) else parse_from(mail_from or MailSettings.from_env().mail_from)
    recipient = to if isinstance(to, Address) else address(to)
    msg = EmailMessage(policy=POLICY)
    _set_raw(msg, "From", format_address(sender))
    _set_raw(msg, "To", format_address(recipient))
    _set_raw(msg, "Subject", encode_words(header_text(subject, 200)))
    _set_raw(msg, "Date", date_header(date))
    msg_id = msg_id or make_msgid(domain=sender.domain)
    _set_raw(msg, "Message-ID", msg_id)
    for name, value in (headers or {}).items():
        _set_raw(msg, name, encode_words(header_text(value)))
    for name, value in (raw_headers or {}).items():
        check_raw_line(name, value)
        msg.set_raw(name, value)
    msg.set_raw("MIME-Version", "1.0")
    if html is None:
        bodies = [_set_body(msg, "plain", text)]
        boundary = ""
    else:
        # the boundary must not occur in a body: a random one, checked
        boundary = boundary or f"=_fw_{uuid.uuid4().hex}"
        if boundary in text or boundary in html:  # pragma: no cover - 128 random bits
            raise MailConfigError("the message body contains its MIME boundary")
        msg.set_raw("Content-Type", f'multipart/alternative; boundary="{boundary}"')
        parts = [EmailMessage(policy=POLICY), EmailMessage(policy=POLICY)]
        bodies = [_set_body(parts[0], "plain", text), _set_body(parts[1], "html", html)]
        msg.set_payload(parts)
    # read by to_bytes and Prepared; the message is not meant to be changed after this
    msg._fw_wire = _Wire(sender.addr_spec, [recipient.addr_spec], msg_id.strip("<>").split("@")[0], boundary,
                         bodies)
    return msg


class _Generator(BytesGenerator):
    """BytesGenerator writing a body in one piece (line endings normalised by one regex) instead
    of two writes per line: the same bytes, several times faster for a large digest."""

    def _write_lines(self, lines):
        if lines:
            self.write(_ANY_EOL.sub(self._NL, lines))


_ANY_EOL = re.compile(r"\r\n|\r|\n")


def _raw_header_block(msg: EmailMessage, nl: str) -> str:
    return "".join(f"{name}: {nl.join(value.splitlines())}{nl}" for name, value in msg.raw_items())


def to_bytes(msg: EmailMessage, policy_: policy.Policy = POLICY) -> bytes:
    """The message as bytes. A message from build_message (raw ASCII headers, bodies encoded
    when it was built) is written directly: the same bytes the email generator writes, without
    its per-header folding machinery; any other message goes through the generator."""
    wire: _Wire | None = getattr(msg, "_fw_wire", None)
    if wire is None:
        buf = BytesIO()
        _Generator(buf, mangle_from_=False, policy=policy_).flatten(msg)
        return buf.getvalue()
    # written with "\n", the bodies' line ends, then converted once
    out = [_raw_header_block(msg, "\n").encode("ascii"), b"\n"]
    if wire.boundary:
        for i, (part, body) in enumerate(zip(msg.get_payload(), wire.bodies)):
            head = ("\n" if i else "") + f"--{wire.boundary}\n" + _raw_header_block(part, "\n") + "\n"
            out += [head.encode("ascii"), body]
        out.append(f"\n--{wire.boundary}--\n".encode("ascii"))
    else:
        out.append(wire.bodies[0])
    data = b"".join(out)
    return data if policy_.linesep == "\n" else data.replace(b"\n", policy_.linesep.encode("ascii"))


def envelope(msg: EmailMessage) -> tuple[str, list[str]]:
    wire = getattr(msg, "_fw_wire", None)
    if wire is not None:
        return wire.sender, list(wire.recipients)
    sender = msg["From"].addresses[0].addr_spec
    recipients = [a.addr_spec for a in msg["To"].addresses]
    return sender, recipients


class MessageTemplate:
    """A message from build_message that goes to many recipients with a few values of their own,
    serialised for the wire once and filled per recipient by joining bytes: a digest shared by
    400 subscribers is encoded once, not 400 times. Each recipient's values replace the whole
    value of the headers named in HEADERS, and the PLACEHOLDERS (unguessable strings) in the
    bodies. fill() returns None where its values would not give the bytes build_message gives
    (a line break or NUL in a body value, a line over MAX_LINE, the boundary): that message is
    built the usual way. Only for messages whose body parts are all 8bit (the one encoding that
    takes any value as it is)."""

    def __init__(self, msg: EmailMessage, headers: Iterable[str], placeholders: dict[str, str]):
        wire: _Wire = msg._fw_wire
        if not wire.bodies or any(body.isascii() for body in wire.bodies):
            raise ValueError("a message template needs 8bit body parts")
        self.boundary = wire.boundary
        head, _, body = to_bytes(msg, WIRE_POLICY).partition(b"\r\n\r\n")
        wanted = {name.lower() for name in headers}
        pieces: list[bytes | str] = []  # bytes as they are; str: the key of a value
        for field in re.split(rb"\r\n(?![ \t])", head):  # one header with its folded lines
            name = field.partition(b":")[0]
            if name.lower().decode("ascii") in wanted:
                pieces += [name + b": ", "header:" + name.decode("ascii"), b"\r\n"]
            else:
                pieces.append(field + b"\r\n")
        pieces.append(b"\r\n")
        by_placeholder = {marker.encode(): key for key, marker in placeholders.items()}
        split = re.compile(b"(" + b"|".join(map(re.escape, by_placeholder)) + b")").split(body)
        body_pieces = [by_placeholder[piece] if n % 2 else piece for n, piece in enumerate(split)]
        self.pieces = [piece for piece in pieces + body_pieces if piece != b""]
        # the body lines that hold values: (their own octets, the keys of the values on them)
        self.lines: list[tuple[int, list[str]]] = []
        static, keys = 0, []
        for piece in body_pieces:
            if isinstance(piece, str):
                keys.append(piece)
                continue
            *ended, rest = piece.split(b"\r\n")
            if ended:
                if keys:
                    self.lines.append((static + len(ended[0]), keys))
                static, keys = len(rest), []
            else:
                static += len(rest)
        if keys:
            self.lines.append((static, keys))

    def fill(self, headers: dict[str, str], values: dict[str, str]) -> bytes | None:
        encoded: dict[str, bytes] = {}
        for name, value in headers.items():
            try:
                _check_raw(name, value)
            except MailConfigError:
                return None  # build_message says what is wrong with it
            if len(value) > 900 and max(map(len, value.split("\n"))) > 900:
                return None
            encoded["header:" + name] = value.replace("\n", "\r\n").encode("ascii")
        for key, value in values.items():
            if "\n" in value or "\r" in value or "\0" in value or (self.boundary and self.boundary in value):
                return None
            encoded[key] = value.encode("utf-8")
        for static, keys in self.lines:
            if static + sum(len(encoded[key]) for key in keys) > MAX_LINE:
                return None
        return b"".join([encoded[piece] if isinstance(piece, str) else piece for piece in self.pieces])


# -- transports ----------------------------------------------------------------------------------
class Prepared:
    """A message serialised for the wire ahead of sending (while the server reads the last one):
    `data` (CRLF line ends) and `smtp_data` (dot-stuffed and ended for DATA, so nothing is left to
    do between the server's 354 and the message going out).
    `eight_bit`: a body part is 8bit, so it needs BODY=8BITMIME (or seven_bit())."""

    __slots__ = ("msg", "sender", "recipients", "data", "smtp_data", "name", "eight_bit", "_rebuild")

    def __init__(self, msg: EmailMessage):
        self.msg, self._rebuild = msg, None
        self.sender, self.recipients = envelope(msg)
        self.data = to_bytes(msg, WIRE_POLICY)
        self.smtp_data = dot_stuffed(self.data) + b".\r\n"
        wire: _Wire | None = getattr(msg, "_fw_wire", None)
        if wire is not None:
            self.name, self.eight_bit = wire.name, wire.eight_bit
        else:
            self.name = (msg["Message-ID"] or "").strip("<>").split("@")[0]
            self.eight_bit = any(p.get("Content-Transfer-Encoding", "").lower() == "8bit" for p in msg.walk())

    @classmethod
    def filled(cls, data: bytes, *, sender: str, recipients: list[str], name: str,
               rebuild: Callable[[], EmailMessage]) -> "Prepared":
        """A message from MessageTemplate.fill (8bit); REBUILD builds the same as an EmailMessage,
        for seven_bit()."""
        self = cls.__new__(cls)
        self.msg, self._rebuild, self.data = None, rebuild, data
        self.smtp_data = dot_stuffed(data) + b".\r\n"
        self.sender, self.recipients, self.name, self.eight_bit = sender, recipients, name, True
        return self

    def seven_bit(self) -> "Prepared":
        """The same message with 8bit parts as base64 (a message from build_message)."""
        if not self.eight_bit:
            return self
        msg = self.msg if self.msg is not None else self._rebuild()
        to_seven_bit(msg)
        return Prepared(msg)


class Transport:
    kind = "none"

    def send(self, msg: EmailMessage | Prepared) -> str:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class OutboxTransport(Transport):
    """Writes each message as NAME.eml (from its Message-ID) into a folder; atomic per file."""

    kind = "outbox"

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def send(self, msg: EmailMessage | Prepared) -> str:
        prepared = msg if isinstance(msg, Prepared) else Prepared(msg)
        name = re.sub(r"[^A-Za-z0-9.\-_+]", "-", prepared.name) or uuid.uuid4().hex
        path = self.folder / f"{name}.eml"
        tmp = self.folder / f".{name}.{os.getpid()}.tmp"
        tmp.write_bytes(prepared.data.replace(b"\r\n", b"\n"))
        os.replace(tmp, path)
        return str(path)


def dot_stuffed(data: bytes) -> bytes:
    """SMTP transparency (RFC 5321 4.5.2): a line starting with "." gets another, and the data
    ends with CRLF. bytes.replace, not a multiline regex: a digest has thousands of lines."""
    body = data.replace(b"\n.", b"\n..")
    if body.startswith(b"."):
        body = b"." + body
    return body if body.endswith(b"\r\n") else body + b"\r\n"


def _raise_for(code: int, reply: bytes | str, stage: str):
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    text = f"{stage}: {code} {header_text(text, 300)}"
    if 400 <= code < 500:
        raise TemporaryFailure(text, code)
    raise PermanentFailure(text, code)


class SmtpTransport(Transport):
    kind = "smtp"

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
        self._announced: tuple[object, Prepared] | None = None  # (message, its Prepared) after announce()

    def _connect(self) -> None:
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
        except (OSError, smtplib.SMTPException) as exc:
            raise TemporaryFailure(f"cannot connect to {self.host}:{self.port}: {exc}") from None
        sock = smtp.sock
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.smtp = smtp

    def _drop(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.close()
            except OSError:
                pass
        self.smtp = None

    def _reset(self) -> None:
        try:
            self.smtp.rset()  # type: ignore[union-attr]
        except (OSError, smtplib.SMTPException):
            self._drop()

    def _ready(self, prepared: Prepared) -> tuple[smtplib.SMTP, Prepared]:
        """The connection (opened if needed) and the message as this server takes it."""
        if self.smtp is None:
            self._connect()
        assert self.smtp is not None
        if prepared.eight_bit and not self.smtp.has_extn("8bitmime"):
            prepared = prepared.seven_bit()
        return self.smtp, prepared

    @staticmethod
    def _mail_from(smtp: smtplib.SMTP, prepared: Prepared) -> None:
        smtp.putcmd("mail", f"FROM:{smtplib.quoteaddr(prepared.sender)}" + (" BODY=8BITMIME" if prepared.eight_bit else ""))

    def send(self, msg: EmailMessage | Prepared) -> str:
        self.start(msg)
        return self.finish()

    def announce(self, msg: EmailMessage | Prepared) -> None:
        """Send MSG's MAIL FROM without waiting for the reply, so the caller can do other work
        (record a result, claim this message) while the server answers; then start(MSG), which
        goes on from there, or cancel(). Raises TemporaryFailure if there is no connection."""
        self._announced = None
        smtp, prepared = self._ready(msg if isinstance(msg, Prepared) else Prepared(msg))
        try:
            self._mail_from(smtp, prepared)
        except OSError:
            self._drop()  # start() connects again
            return
        self._announced = (msg, prepared)

    def cancel(self) -> None:
        """Withdraw an announced message: nothing of it goes out."""
        if self._announced is None:
            return
        self._announced = None
        try:
            self.smtp.getreply()  # type: ignore[union-attr]
        except (OSError, smtplib.SMTPServerDisconnected, AttributeError):
            self._drop()
            return
        self._reset()

    def start(self, msg: EmailMessage | Prepared) -> None:
        """MAIL, RCPT, DATA and the message data, without waiting for the final reply: a caller
        can prepare the next message while the server digests this one, then call finish()."""
        announced, self._announced = self._announced, None
        if announced is not None and announced[0] is msg and self.smtp is not None:
            prepared, mail_sent = announced[1], True
        else:
            prepared, mail_sent = msg if isinstance(msg, Prepared) else Prepared(msg), False
        for attempt in (1, 2):
            smtp, prepared = self._ready(prepared)
            try:
                if not mail_sent:  # else announce() has sent it
                    self._mail_from(smtp, prepared)
                mail_sent = False
                code, reply = smtp.getreply()
                if code == 421:
                    self._drop()
                    if attempt == 1:
                        continue
                if code != 250:
                    self._reset()
                    _raise_for(code, reply, "MAIL FROM")
                for rcpt in prepared.recipients:
                    code, reply = smtp.rcpt(rcpt)
                    if code not in (250, 251):
                        self._reset()
                        _raise_for(code, reply, "RCPT TO")
                smtp.putcmd("data")
                code, reply = smtp.getreply()
                if code != 354:
                    self._reset()
                    _raise_for(code, reply, "DATA")
            except (OSError, smtplib.SMTPServerDisconnected) as exc:
                # Nothing of the message went out: safe to try again (once on a new connection).
                self._drop()
                if attempt == 1 and self.sent:
                    continue
                raise TemporaryFailure(f"connection to {self.host} lost before the message was sent: {exc}") from None
            try:
                smtp.send(prepared.smtp_data)
            except (OSError, smtplib.SMTPServerDisconnected) as exc:
                self._drop()
                raise UncertainDelivery(f"connection to {self.host} lost while the message data was sent: {exc}") from None
            return
        raise TemporaryFailure(f"{self.host} kept closing the connection")  # pragma: no cover

    def finish(self) -> str:
        """The server's reply to the message started last: 250 -> its text; else raises."""
        try:
            code, reply = self.smtp.getreply()  # type: ignore[union-attr]
        except (OSError, smtplib.SMTPServerDisconnected, AttributeError) as exc:
            self._drop()
            raise UncertainDelivery(f"connection to {self.host} lost after the message data was sent: {exc}") from None
        if code != 250:
            if code == 421:
                self._drop()
            _raise_for(code, reply, "end of DATA")
        self.sent += 1
        return f"{code} {header_text(reply.decode('utf-8', 'replace'), 200)}"

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (OSError, smtplib.SMTPException):
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
