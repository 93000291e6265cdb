"""The messages: headers parsed back with the email package, header injection from scraped text,
and the transport against a real SMTP server on 127.0.0.1 (aiosmtpd), never a mock of smtplib."""

from __future__ import annotations

import datetime as dt
import socket

import pytest
from click.testing import CliRunner

from fundwatch import mail as mailer
from fundwatch.cli import main
from fundwatch.digest.builder import short_date_sv
from fundwatch.storage.db import get_engine
from helpers import PUBLIC_URL, add_subscriber, crawl, free_port, make_item, parse, text_part

SOON = dt.date.today() + dt.timedelta(days=5)


def send(**kw):
    from fundwatch.digest.sending import send_due

    return send_due(**kw)


def test_headers_parse_back(sqlite_url, digest_env):
    crawl(get_engine(sqlite_url), "migrationsverket", [make_item("migrationsverket", "Stöd till föreningar", deadline=SOON)])
    sid = add_subscriber("anna@example.org", org="Föreningen Åkervägen")
    send()
    path = next(digest_env.glob("*.eml"))
    msg = parse(path.read_bytes())
    from fundwatch.digest.builder import iso_week

    week = iso_week()
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["From"].addresses[0].addr_spec == "veckobrev@example.org"
    assert str(msg["To"]) == "Föreningen Åkervägen <anna@example.org>"
    assert msg["Date"].datetime.tzinfo is not None
    assert msg["Message-ID"] == f"<digest.{week}.{sid}@example.org>"
    assert msg["List-Id"] == "fundwatch veckobrev <veckobrev.example.org>"
    assert msg["List-Unsubscribe"].startswith(f"<{PUBLIC_URL}/avregistrera/") and msg["List-Unsubscribe"].endswith(">")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["Subject"] == (f"fundwatch vecka {int(week[-2:])}: 1 öppen eller kommande utlysning · "
                              f"sista dag {short_date_sv(SOON)}: Stöd till föreningar")
    raw = path.read_bytes()
    header_block = raw.split(b"\r\n\r\n", 1)[0]
    # one List-Unsubscribe line, unfolded and unencoded, so every mailbox provider can read it
    assert any(line.startswith(b"List-Unsubscribe: <https://") and line.rstrip().endswith(b">")
               for line in header_block.splitlines())


@pytest.mark.parametrize("title", [
    "Stöd\r\nBcc: victim@example.com",
    "\nBcc: x@y",
    "Rad ett\u2028Rad två\u2029Tre\x85Fyra\x0bFem\x0cSex",
    "Titel\r\n\r\nX-Injected: 1",
])
def test_scraped_title_never_breaks_a_header(sqlite_url, digest_env, title):
    crawl(get_engine(sqlite_url), "migrationsverket", [make_item("migrationsverket", "nyckel", title=title, deadline=SOON)])
    add_subscriber("anna@example.org", org="Org\r\nBcc: evil@example.com")
    send()
    raw = next(digest_env.glob("*.eml")).read_bytes()
    msg = parse(raw)
    assert "Bcc" not in msg and "X-Injected" not in msg
    assert [a.addr_spec for a in msg["To"].addresses] == ["anna@example.org"]
    subject = msg["Subject"]
    assert "\n" not in subject and "\r" not in subject and "\u2028" not in subject and "\x85" not in subject
    assert subject.startswith("fundwatch vecka ")
    headers = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    assert headers.count("\nSubject:") + headers.startswith("Subject:") == 1
    assert not any(line.startswith(("Bcc", "X-Injected")) for line in headers.splitlines())


def test_header_text_collapses_every_separator():
    assert mailer.header_text("a\r\nb\u2028c\u2029d\x85e\tf\x00g  h") == "a b c d e f g h"
    assert mailer.header_text("x" * 300, 10) == "xxxxxxxxx…"


def test_message_id_is_fixed_per_week_and_subscriber(sqlite_url, digest_env):
    from fundwatch.config import MailSettings
    from fundwatch.digest.builder import WeekData
    from fundwatch.digest.filters import Filters
    from fundwatch.digest.models import Subscriber
    from fundwatch.digest.sending import Composer
    from fundwatch.storage.db import session_scope

    sid = add_subscriber("anna@example.org")
    composer = Composer(MailSettings.from_env())
    with session_scope() as s:
        sub = s.get(Subscriber, sid)
        data = WeekData.load(s, after_id=0, upto_id=0)
        d = data.build(Filters.of(sub), after_id=0, upto_id=0, first=True)
        a, b = composer.message(d, sub), composer.message(d, sub)
    assert a["Message-ID"] == b["Message-ID"]


ORGS = ["Föreningen Åkervägen", 'Föreningen <Öst> & "Väst"', ".Punkt först", "Ö" * 200, "Kör 🎶 tillsammans"]


def test_a_digest_rendered_once_is_filled_with_each_subscribers_own_values(sqlite_url, digest_env):
    """A digest shared by many subscribers is rendered once and filled with each one's own values
    (name, address, links, filters): the text and HTML are those the digest rendered for that
    subscriber alone gives, also for a name with HTML specials or at the start of a line."""
    from fundwatch.config import MailSettings
    from fundwatch.digest.builder import WeekData
    from fundwatch.digest.filters import Filters
    from fundwatch.digest.models import Subscriber
    from fundwatch.digest.render import filters_sv, render_digest
    from fundwatch.digest.sending import Composer
    from fundwatch.storage.db import session_scope

    crawl(get_engine(sqlite_url), "migrationsverket",
          [make_item("migrationsverket", f"Stöd <{n}> & råd", deadline=SOON) for n in range(3)])
    ids = [add_subscriber(f"s{n}@example.org", org=org) for n, org in enumerate(ORGS)]
    composer = Composer(MailSettings.from_env())
    with session_scope() as s:
        upto = WeekData.max_change_id(s)
        data = WeekData.load(s, after_id=0, upto_id=upto)
        digest = data.build(Filters.of(s.get(Subscriber, ids[0])), after_id=0, upto_id=upto, first=True)
        for sid in ids:
            sub = s.get(Subscriber, sid)
            subject, text, html, headers = composer.render(digest, sub)
            lk = composer.links(sub)
            alone = render_digest(digest, org=" ".join(sub.org.split()), email=sub.email,
                                  links=lk,
                                  filters_text=filters_sv(Filters.of(sub), composer.agency_names))
            assert (subject, text) == alone[:2]
            assert html == alone[2]
            msg = parse(composer.message(digest, sub).as_bytes())
            assert msg["To"].addresses[0].addr_spec == sub.email
            assert f"nytt för {sub.org}" in text_part(msg)
            assert headers["List-Unsubscribe"] == f"<{lk['unsubscribe']}>"
    assert len(composer._rendered) == 1  # rendered once for all five


def test_a_digest_goes_out_base64_to_a_server_without_8bitmime(sqlite_url, digest_env, smtp):
    smtp.offer_8bitmime = False
    crawl(get_engine(sqlite_url), "migrationsverket", [make_item("migrationsverket", "Stöd till föreningar", deadline=SOON)])
    for n in range(3):
        add_subscriber(f"s{n}@example.org", org=f"Förening {n}")
    assert send().sent == 3
    for _, raw in smtp.messages:
        msg = parse(raw)
        assert raw.isascii()
        assert {p["Content-Transfer-Encoding"] for p in msg.iter_parts()} == {"base64"}
        assert "Stöd till föreningar" in text_part(msg)
        assert f"nytt för {str(msg['To']).split(' <')[0]}" in text_part(msg)


def test_smtp_one_connection_for_many_messages(sqlite_url, digest_env, smtp):
    crawl(get_engine(sqlite_url), "brottsoffermyndigheten", [make_item("brottsoffermyndigheten", "Projektmedel", deadline=SOON)])
    for n in range(12):
        add_subscriber(f"s{n}@example.org")
    report = send()
    assert report.sent == 12
    assert sorted(smtp.recipients()) == sorted(f"s{n}@example.org" for n in range(12))
    assert len(smtp.sessions) == 1
    msg = parse(smtp.messages[0][1])
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "Projektmedel" in text_part(msg)


def test_the_html_part_goes_out_8bit_in_lines_smtp_accepts(sqlite_url, digest_env, smtp):
    """The HTML part is sent as it is (8bit UTF-8, lines SMTP accepts), each item once, each
    subscriber's own name escaped."""
    engine = get_engine(sqlite_url)
    crawl(engine, "brottsoffermyndigheten",
          [make_item("brottsoffermyndigheten", f"Projektmedel {n}", deadline=SOON) for n in range(40)])
    add_subscriber("a@example.org", org="Föreningen <Öst> & Väst")
    add_subscriber("b@example.org")
    assert send().sent == 2
    for _, raw in smtp.messages:
        msg = parse(raw)
        html = msg.get_body(("html",))
        assert html["Content-Transfer-Encoding"] == "8bit"
        lines = html.get_content().replace("\r\n", "\n").split("\n")
        assert max(len(line.encode()) for line in lines) <= 990
        # 40 item blocks (each item once: it is due within 14 days, so in the first section)
        assert html.get_content().count(">Projektmedel ") == 40
    a_html = parse(smtp.messages[0][1]).get_body(("html",)).get_content()
    assert "Föreningen &lt;Öst&gt; &amp; Väst" in a_html


def test_smtp_refused_without_https_links(sqlite_url, digest_env, smtp, monkeypatch):
    monkeypatch.setenv("FUNDWATCH_PUBLIC_URL", "http://127.0.0.1:8080")
    get_engine(sqlite_url)
    add_subscriber("anna@example.org")
    result = CliRunner().invoke(main, ["digest", "send", "--send-empty"])
    assert result.exit_code == 1
    assert "FUNDWATCH_PUBLIC_URL" in result.output and "https" in result.output
    assert smtp.messages == []


def test_send_refused_without_secret_key(sqlite_url, digest_env, monkeypatch):
    monkeypatch.delenv("FUNDWATCH_SECRET_KEY")
    get_engine(sqlite_url)
    result = CliRunner().invoke(main, ["digest", "send"])
    assert result.exit_code == 1 and "FUNDWATCH_SECRET_KEY is not set" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_transport_tells_4xx_5xx_and_lost_connection_apart(smtp):
    smtp.replies["soft@example.org"] = ("rcpt", "450 4.2.1 Mailbox busy, try later")
    smtp.replies["hard@example.org"] = ("rcpt", "550 5.1.1 No such user")
    smtp.replies["full@example.org"] = ("data", "552 5.2.2 Mailbox full")
    smtp.drop.add("lost@example.org")

    def msg(to):
        return mailer.build_message(to=to, subject="Hej", text="Hej", mail_from="fw <fw@example.org>")

    transport = mailer.SmtpTransport(f"smtp://127.0.0.1:{smtp.port}")
    with transport:
        assert transport.send(msg("ok@example.org")).startswith("250")
        with pytest.raises(mailer.TemporaryFailure) as soft:
            transport.send(msg("soft@example.org"))
        assert soft.value.code == 450
        with pytest.raises(mailer.PermanentFailure) as hard:
            transport.send(msg("hard@example.org"))
        assert hard.value.code == 550
        with pytest.raises(mailer.PermanentFailure):
            transport.send(msg("full@example.org"))
        assert transport.send(msg("ok2@example.org")).startswith("250")  # same connection still usable
        with pytest.raises(mailer.UncertainDelivery):
            transport.send(msg("lost@example.org"))
        assert transport.send(msg("ok3@example.org")).startswith("250")  # reconnects
    assert smtp.recipients() == ["ok@example.org", "ok2@example.org", "lost@example.org", "ok3@example.org"]


def _parts(msg):
    """{content type: (transfer encoding, text with \\n line ends)} (an 8bit body parsed from
    the wire keeps its CRLFs)."""
    return {p.get_content_type(): (p["Content-Transfer-Encoding"], p.get_content().replace("\r\n", "\n"))
            for p in msg.iter_parts()}


def test_bodies_go_out_8bit_to_a_server_that_offers_8bitmime(smtp):
    text, html = "Stöd till föreningar – 17 maj 2027\n.en rad med punkt\n", "<p>Stöd & <b>råd</b></p>\n"
    msg = mailer.build_message(to="a@example.org", subject="Hej", text=text, html=html, mail_from="fw <fw@example.org>")
    with mailer.SmtpTransport(f"smtp://127.0.0.1:{smtp.port}") as transport:
        transport.send(msg)
    raw = smtp.messages[0][1]
    assert "Stöd till föreningar".encode() in raw  # UTF-8 as it is, not base64
    assert smtp.mail_options == [["BODY=8BITMIME"]]
    assert _parts(parse(raw)) == {"text/plain": ("8bit", text), "text/html": ("8bit", html)}  # the dot line too


def test_bodies_go_out_base64_to_a_server_without_8bitmime(smtp):
    smtp.offer_8bitmime = False
    text, html = "Sista ansökningsdag: 3 maj 2027\n", "<p>Sista ansökningsdag</p>\n"
    msg = mailer.build_message(to="a@example.org", subject="Hej", text=text, html=html, mail_from="fw <fw@example.org>")
    with mailer.SmtpTransport(f"smtp://127.0.0.1:{smtp.port}") as transport:
        transport.send(msg)
        transport.send(mailer.build_message(to="b@example.org", subject="x", text="ascii only", mail_from="fw@example.org"))
    raw = smtp.messages[0][1]
    assert raw.isascii() and smtp.mail_options == [[], []]
    assert _parts(parse(raw)) == {"text/plain": ("base64", text), "text/html": ("base64", html)}
    assert parse(smtp.messages[1][1])["Content-Transfer-Encoding"] == "7bit"


def test_a_line_too_long_for_smtp_is_sent_base64(smtp):
    title = "Stöd " * 300  # one 1,500-character line, as a scraped title could be
    msg = mailer.build_message(to="a@example.org", subject="Hej", text="kort\n", html=f"<h3>{title}</h3>\n",
                               mail_from="fw <fw@example.org>")
    with mailer.SmtpTransport(f"smtp://127.0.0.1:{smtp.port}") as transport:
        transport.send(msg)
    parts = _parts(parse(smtp.messages[0][1]))
    assert parts["text/html"] == ("base64", f"<h3>{title}</h3>\n") and parts["text/plain"] == ("7bit", "kort\n")
    assert max(len(line) for line in smtp.messages[0][1].split(b"\r\n")) <= 998


def test_a_connection_lost_while_idle_is_opened_again_once(smtp):
    """A relay that dropped the connection between two messages: nothing of the next message had
    gone out, so it goes out over a new connection."""
    def msg(to):
        return mailer.build_message(to=to, subject="Hej", text="Hej", mail_from="fw <fw@example.org>")

    with mailer.SmtpTransport(f"smtp://127.0.0.1:{smtp.port}") as transport:
        assert transport.send(msg("first@example.org")).startswith("250")
        transport.smtp.sock.shutdown(socket.SHUT_RDWR)  # as a relay closing an idle connection
        assert transport.send(msg("second@example.org")).startswith("250")
    assert smtp.recipients() == ["first@example.org", "second@example.org"]
    assert len(smtp.sessions) == 2


def test_transport_without_server_is_a_temporary_failure():
    transport = mailer.SmtpTransport(f"smtp://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(mailer.TemporaryFailure):
        transport.send(mailer.build_message(to="a@example.org", subject="x", text="x", mail_from="fw <fw@example.org>"))


def test_bad_smtp_url_is_a_clear_error():
    with pytest.raises(mailer.MailConfigError, match="smtp://host"):
        mailer.SmtpTransport("http://example.org")


def test_outbox_transport_for_alerts(tmp_path):
    from fundwatch.config import MailSettings

    settings = MailSettings(None, None, None, "fw <fw@example.org>", tmp_path / "out", "http://x", "ops@example.org")
    msg = mailer.build_message(to="ops@example.org", subject="Alert:\nsource down", text="x", mail_from=settings.mail_from)
    [path] = mailer.send_all([msg], settings)
    assert parse(open(path, "rb").read())["Subject"] == "Alert: source down"
