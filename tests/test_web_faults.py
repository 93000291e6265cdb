"""The web app under abuse, over real HTTP: confirmation floods (plus-addresses, one client), an
answer that would tell whether an address is subscribed (by its time or its status when the relay
is down), a form that would rewrite someone's filters, missing security headers, cross-site posts."""

from __future__ import annotations

import datetime as dt
import statistics
import time

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from fundwatch.digest import confirmations
from fundwatch.digest.models import ConfirmationRequest, Subscriber
from fundwatch.storage.db import get_engine, session_scope
from fundwatch.web.app import ANSWER_FLOOR_SECONDS, SECURITY_HEADERS, create_app
from helpers import Client, Handler, add_subscriber, free_port, wait_for, web_server

pytestmark = pytest.mark.slow  # every test here starts a server


@pytest.fixture(autouse=True)
def quick_worker(monkeypatch):
    monkeypatch.setattr("fundwatch.web.app.MAIL_WORKER_SECONDS", 0.2)


def form(client, email: str, org: str = "Föreningen Exempel", **extra):
    _, html = client.get("/")
    fields = [("csrf", client.csrf(html)), ("email", email), ("org", org), *extra.get("fields", [])]
    return client.post("/", fields, headers=extra.get("headers"))


def sub(email: str) -> Subscriber | None:
    with session_scope() as s:
        return s.scalars(select(Subscriber).where(Subscriber.email == email)).one_or_none()


def eml_count(outbox) -> int:
    return len(list(outbox.glob("*.eml")))


# -- 7. throttling ----------------------------------------------------------------------------------
def test_plus_addresses_of_one_inbox_get_three_confirmations_then_a_swedish_wait(web, digest_env):
    answers = [form(web, f"{'Target' if n % 2 else 'target'}+{n}@example.org") for n in range(8)]
    assert [r.status for r, _ in answers] == [200] * 3 + [429] * 5
    assert "Vänta en stund" in answers[-1][1] and "den här e-postadressen" in answers[-1][1]
    wait_for(lambda: eml_count(digest_env) == 3, timeout=30, what="three confirmations")
    time.sleep(1)  # a few more worker rounds send nothing more
    assert eml_count(digest_env) == 3
    assert form(web, "someone.else@example.org")[0].status == 200  # another inbox is not held up


def test_one_client_address_is_throttled_across_inboxes(web, digest_env, monkeypatch):
    monkeypatch.setattr(confirmations, "PER_CLIENT", 4)
    statuses = [form(web, f"person{n}@example.org")[0].status for n in range(4)]
    response, html = form(web, "person9@example.org")
    assert statuses == [200] * 4 and response.status == 429
    assert "från din uppkoppling" in html and sub("person9@example.org") is None


def test_inbox_and_client_keys():
    assert confirmations.mailbox_key("Target+1@Example.org") == confirmations.mailbox_key("target@example.org")
    assert confirmations.mailbox_key("target.x@example.org") != confirmations.mailbox_key("target@example.org")
    assert confirmations.client_key("2001:db8::1") == confirmations.client_key("2001:db8::ffff:1")  # one /64
    assert confirmations.client_key("192.0.2.1") != confirmations.client_key("192.0.2.2")


# -- 8. no leak, a queue, no overwrite --------------------------------------------------------------
@pytest.fixture
def slow_relay(sqlite_url, digest_env, monkeypatch):
    """A relay that takes 0.4 s per message (the time that told a stranger from a subscriber)."""
    handler = Handler()
    handler.delay = 0.4
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("FUNDWATCH_SMTP_URL", f"smtp://127.0.0.1:{port}")
    monkeypatch.setattr(confirmations, "PER_CLIENT", 100)
    monkeypatch.setattr(confirmations, "PER_MAILBOX", 100)
    get_engine(sqlite_url)
    yield handler
    controller.stop()


def test_the_answer_is_the_same_page_in_the_same_time_for_a_subscriber_and_a_stranger(slow_relay):
    add_subscriber("known@example.org")
    with web_server() as port:
        client = Client(port)
        known, stranger = [], []
        for n in range(6):
            started = time.perf_counter()
            k_response, k_page = form(client, "known@example.org" if n < 3 else "KNOWN@example.org")
            known.append(time.perf_counter() - started)
            started = time.perf_counter()
            s_response, s_page = form(client, f"stranger{n}@example.org")
            stranger.append(time.perf_counter() - started)
            assert (k_response.status, s_response.status) == (200, 200)
            assert k_page.replace("known@example.org", "X").replace("KNOWN@example.org", "X") == \
                s_page.replace(f"stranger{n}@example.org", "X")
        wait_for(lambda: len(slow_relay.messages) == 6, timeout=60, what="the queued confirmations")
    # GET + POST each: the relay's 0.4 s is in neither, and both wait out the same floor
    assert statistics.median(stranger) < 0.4 and statistics.median(known) < 0.4, (known, stranger)
    assert min(known + stranger) >= ANSWER_FLOOR_SECONDS
    assert abs(statistics.median(stranger) - statistics.median(known)) < 0.05, (known, stranger)
    assert sorted(slow_relay.recipients()) == [f"stranger{n}@example.org" for n in range(6)]


def test_a_relay_that_is_down_changes_nothing_in_the_answer_and_the_mail_follows(sqlite_url, digest_env, monkeypatch):
    relay_port = free_port()  # nothing listens there yet
    monkeypatch.setenv("FUNDWATCH_SMTP_URL", f"smtp://127.0.0.1:{relay_port}")
    monkeypatch.setattr(confirmations, "RETRY_BASE", dt.timedelta(seconds=1))
    get_engine(sqlite_url)
    add_subscriber("known@example.org")
    with web_server() as port:
        client = Client(port)
        stranger = form(client, "stranger@example.org")
        known = form(client, "known@example.org")
        assert stranger[0].status == known[0].status == 200
        assert "Kolla din e-post" in stranger[1] and "Kolla din e-post" in known[1]

        def failed_once():
            with session_scope() as s:
                return s.scalars(select(ConfirmationRequest).where(ConfirmationRequest.attempts > 0)).first()
        row = wait_for(failed_once, timeout=30, what="a failed attempt")
        assert row.due_at is not None and row.sent_at is None  # to be retried
        handler = Handler()
        controller = Controller(handler, hostname="127.0.0.1", port=relay_port)
        controller.start()  # the relay is back
        try:
            wait_for(lambda: handler.recipients(), timeout=60, what="the retried confirmation")
        finally:
            controller.stop()
    assert handler.recipients() == ["stranger@example.org"]
    assert sub("stranger@example.org").confirmation_sent_at is not None


def test_a_form_for_an_unconfirmed_address_does_not_rewrite_its_name_or_filters(web, digest_env):
    form(web, "anna@example.org", "Annas förening", fields=[("agency", "migrationsverket")])
    response, _ = form(web, "anna@example.org", "Någon annan", fields=[("agency", "brottsoffermyndigheten"),
                                                                         ("keywords", "spam")])
    assert response.status == 200
    s = sub("anna@example.org")
    assert (s.org, s.agencies, s.keywords) == ("Annas förening", ["migrationsverket"], [])


# -- 9. headers, cookie, origin ---------------------------------------------------------------------
def assert_secure(response, what: str) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.getheader(name) == value, (what, name, response.getheader(name))
    csp = response.getheader("Content-Security-Policy")
    assert "script-src" not in csp and "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert response.getheader("X-Content-Type-Options") == "nosniff" and response.getheader("X-Frame-Options") == "DENY"


def test_every_answer_carries_the_security_headers(web, digest_env):
    response, html = web.get("/")
    assert_secure(response, "form")
    assert_secure(web.get("/integritet")[0], "privacy")
    response, body = web.request("POST", "/", b"x", {"Content-Type": "multipart/form-data"})  # no boundary
    assert response.status == 400 and body == "Felaktig begäran"
    assert_secure(response, "400")
    assert_secure(web.post("/", [("email", "a@example.org"), ("org", "A")])[0], "403 csrf")
    assert_secure(web.get("/finns-inte")[0], "404")
    assert_secure(web.request("PUT", "/")[0], "405")
    assert_secure(web.get("/bekrafta/nonsense")[0], "bad token")
    assert_secure(web.post("/avregistrera/x", {})[0], "one-click without its body")


def test_a_page_added_to_the_app_later_gets_the_headers_too(sqlite_url, digest_env):
    app = create_app()
    app.router.routes.append(Route("/api/x", lambda request: PlainTextResponse("x")))
    with web_server(app) as port:
        client = Client(port)
        response, body = client.get("/api/x")
    assert body == "x"
    assert_secure(response, "added route")


def test_the_csrf_cookie_is_host_prefixed_under_https(sqlite_url, digest_env, monkeypatch):
    with web_server() as port:  # digest_env: an https FUNDWATCH_PUBLIC_URL
        client = Client(port)
        response, _ = client.get("/")
    cookie = response.getheader("Set-Cookie")
    assert cookie.startswith("__Host-fw_csrf=") and "Secure" in cookie and "Path=/" in cookie
    assert "Domain" not in cookie
    monkeypatch.setenv("FUNDWATCH_PUBLIC_URL", "http://127.0.0.1:8080")
    with web_server() as port:
        client = Client(port)
        response, _ = client.get("/")
    assert response.getheader("Set-Cookie").startswith("fw_csrf=")


def test_a_post_from_another_site_is_refused_even_with_the_token(web, digest_env):
    site = web.origin
    for headers in ({"Origin": "https://evil.example"}, {"Origin": None, "Referer": "https://evil.example/x"},
                    {"Origin": None}, {"Origin": "null"}):
        response, html = form(web, "anna@example.org", headers=headers)
        assert response.status == 403, headers
        assert "Formuläret har gått ut" in html
    assert sub("anna@example.org") is None
    response, _ = form(web, "anna@example.org", headers={"Origin": None, "Referer": f"{site}/"})
    assert response.status == 200 and sub("anna@example.org") is not None


def test_one_click_unsubscribe_needs_no_origin_its_token_authenticates_it(web, digest_env):
    from fundwatch.digest.subscribers import links
    from helpers import PUBLIC_URL

    add_subscriber("anna@example.org")
    with session_scope() as s:
        url = links(s.scalars(select(Subscriber)).one(), PUBLIC_URL)["unsubscribe"]
    response, _ = web.post(url[len(PUBLIC_URL):], {"List-Unsubscribe": "One-Click"}, cookies=False,
                           headers={"Origin": "https://mail.provider.example"})
    assert response.status == 200 and sub("anna@example.org").status == "unsubscribed"
