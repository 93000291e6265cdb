"""The web app over real HTTP: uvicorn in a thread on a free port, requests with http.client.
Every confirm and unsubscribe path, tampered and foreign tokens, repeats, CSRF."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from click.testing import CliRunner
from sqlalchemy import delete as delete_rows
from sqlalchemy import select

from fundwatch.cli import main
from fundwatch.digest.models import Delivery, Subscriber, Suppression
from fundwatch.storage.db import get_engine, session_scope
from helpers import PUBLIC_URL, add_subscriber, crawl, free_port, make_item, read_outbox, wait_for

pytestmark = pytest.mark.slow  # every test here starts a server or crawls in child processes


def sub(email: str) -> Subscriber | None:
    with session_scope() as s:
        return s.scalars(select(Subscriber).where(Subscriber.email == email)).one_or_none()


def path_of(url: str) -> str:
    assert url.startswith(PUBLIC_URL + "/"), url
    return url[len(PUBLIC_URL):]


def links_for(email: str) -> dict[str, str]:
    from fundwatch.digest.subscribers import links

    return {k: path_of(v) for k, v in links(sub(email), PUBLIC_URL).items()}


def subscribe_via_form(web, digest_env, email="anna@example.org"):
    response, html = web.get("/")
    fields = [("csrf", web.csrf(html)), ("email", email), ("org", "Föreningen <Åkervägen>"),
              ("agency", "migrationsverket"), ("kind", "funding_call"), ("keywords", "våld, barn ,"),
              ("include_noncompetitive", "1")]
    return web.post("/", fields)


def test_form_shows_privacy_notice(web):
    response, html = web.get("/")
    assert response.status == 200 and '<html lang="sv">' in html
    assert "Vi sparar e-postadressen, organisationens namn" in html
    assert "avsluta via länken i varje brev" in html
    assert response.getheader("Referrer-Policy") == "same-origin"
    response, html = web.get("/integritet")
    assert response.status == 200 and "Så hanterar vi personuppgifter" in html


@pytest.mark.slow
def test_subscribe_and_confirm(web, digest_env):
    response, html = subscribe_via_form(web, digest_env)
    assert response.status == 200 and "Kolla din e-post" in html
    s = sub("anna@example.org")
    assert s.status == "unconfirmed" and s.consent == "web" and s.org == "Föreningen <Åkervägen>"
    assert (s.agencies, s.kinds, s.keywords, s.include_noncompetitive) == (
        ["migrationsverket"], ["funding_call"], ["våld", "barn"], True)
    mail = wait_for(lambda: read_outbox(digest_env).get("anna@example.org"), timeout=30, what="the queued confirmation")
    link = re.search(r"https://\S+/bekrafta/\S+", mail.get_body(("plain",)).get_content()).group(0)
    confirm = path_of(link)
    # GET shows a button and changes nothing
    response, html = web.get(confirm)
    assert response.status == 200 and "<button" in html and sub("anna@example.org").status == "unconfirmed"
    # POST without the CSRF token: refused, nothing changes
    response, _ = web.post(confirm, {})
    assert response.status == 403 and sub("anna@example.org").status == "unconfirmed"
    response, _ = web.post(confirm, {"csrf": web.csrf(html)}, cookies=False)
    assert response.status == 403 and sub("anna@example.org").status == "unconfirmed"
    response, page = web.post(confirm, {"csrf": web.csrf(html)})
    assert response.status == 200 and "Prenumerationen är bekräftad" in page
    # it says when the first digest comes: the next Monday 07:00
    assert re.search(r"Det första veckobrevet kommer måndag \d+ \w+ \d{4} kl\. 07\.00", page)
    assert sub("anna@example.org").status == "confirmed"
    response, page = web.post(confirm, {"csrf": web.csrf(html)})  # a repeat changes nothing
    assert response.status == 200 and "Redan bekräftad" in page
    # a second form submission for a confirmed address sends nothing more and says the same thing
    before = len(list(digest_env.glob("*.eml")))
    response, html = subscribe_via_form(web, digest_env)
    assert response.status == 200 and "Kolla din e-post" in html
    assert len(list(digest_env.glob("*.eml"))) == before


def test_form_errors_in_swedish_and_csrf(web, digest_env):
    response, html = web.get("/")
    response, page = web.post("/", [("csrf", web.csrf(html)), ("email", "inte en adress"), ("org", "")])
    assert response.status == 400
    assert "Ange en giltig e-postadress." in page and "Ange organisationens namn" in page
    response, _ = web.post("/", [("email", "a@example.org"), ("org", "A")])
    assert response.status == 403 and sub("a@example.org") is None


def test_tampered_and_foreign_tokens_change_nothing(web, digest_env):
    add_subscriber("anna@example.org", confirmed=False)
    links = links_for("anna@example.org")
    response, html = web.get("/")
    csrf = web.csrf(html)
    token = links["confirm"].rsplit("/", 1)[1]
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for path in (f"/bekrafta/{tampered}", f"/bekrafta/{token}x", "/bekrafta/nonsense",
                 links["unsubscribe"].replace("/avregistrera/", "/bekrafta/")):  # a token for another purpose
        response, _ = web.post(path, {"csrf": csrf})
        assert 400 <= response.status < 500, path
        response, _ = web.get(path)
        assert 400 <= response.status < 500, path
    assert sub("anna@example.org").status == "unconfirmed"
    unsub_token = links["unsubscribe"].rsplit("/", 1)[1]
    for path in (f"/avregistrera/{unsub_token[:-2]}xy", links["manage"].replace("/installningar/", "/avregistrera/")):
        response, _ = web.post(path, {"List-Unsubscribe": "One-Click"})
        assert 400 <= response.status < 500, path
    assert sub("anna@example.org").status == "unconfirmed"
    # a token of a deleted subscriber: 404
    CliRunner().invoke(main, ["subscribers", "delete", "anna@example.org", "--yes"])
    response, _ = web.post(links["unsubscribe"], {"List-Unsubscribe": "One-Click"})
    assert response.status == 404


def test_one_click_unsubscribe_rfc8058(web, digest_env):
    add_subscriber("anna@example.org")
    path = links_for("anna@example.org")["unsubscribe"]
    response, html = web.get(path)  # GET: a page with a button, nothing changes
    assert response.status == 200 and "<button" in html and 'value="One-Click"' in html
    assert sub("anna@example.org").status == "confirmed"
    response, _ = web.post(path, {})  # without the one-click body: refused
    assert response.status == 400 and sub("anna@example.org").status == "confirmed"
    response, page = web.post(path, {"List-Unsubscribe": "One-Click"}, cookies=False)
    assert response.status == 200 and response.getheader("Location") is None
    assert "Prenumerationen är avslutad" in page
    assert sub("anna@example.org").status == "unsubscribed"
    first_at = sub("anna@example.org").unsubscribed_at
    response, _ = web.post(path, {"List-Unsubscribe": "One-Click"}, cookies=False)  # repeatable
    assert response.status == 200 and sub("anna@example.org").unsubscribed_at == first_at


def test_one_click_multipart(web, digest_env):
    add_subscriber("anna@example.org")
    response, _ = web.post_multipart(links_for("anna@example.org")["unsubscribe"], {"List-Unsubscribe": "One-Click"})
    assert response.status == 200 and sub("anna@example.org").status == "unsubscribed"


def test_list_unsubscribe_header_of_a_digest_works(web, digest_env, sqlite_url):
    import datetime as dt

    from fundwatch.digest.sending import send_due

    crawl(get_engine(sqlite_url), "migrationsverket",
          [make_item("migrationsverket", "Utlysning", deadline=dt.date.today() + dt.timedelta(days=3))])
    add_subscriber("anna@example.org")
    send_due()
    msg = read_outbox(digest_env)["anna@example.org"]
    url = msg["List-Unsubscribe"].strip("<>")
    response, _ = web.post(path_of(url), {"List-Unsubscribe": "One-Click"}, cookies=False)
    assert response.status == 200 and sub("anna@example.org").status == "unsubscribed"
    manage = re.search(r"Ändra vad du får: (\S+)", msg.get_body(("plain",)).get_content()).group(1)
    response, html = web.get(path_of(manage))
    assert response.status == 200 and "Ändra vad du får" in html


def test_a_subscribers_feed_links_carry_its_form_and_region(web, digest_env, sqlite_url):
    """The settings page links to the feeds of the subscriber's own filter, organisation form and
    region included, and those feeds hold only what reaches that subscriber."""
    crawl(get_engine(sqlite_url), "migrationsverket", [
        make_item("migrationsverket", "TIA Skåne", deadline=dt.date.today() + dt.timedelta(days=9), region="Skåne län"),
        make_item("migrationsverket", "TIA Kalmar", deadline=dt.date.today() + dt.timedelta(days=9), region="Kalmar län"),
        make_item("migrationsverket", "För företag", deadline=dt.date.today() + dt.timedelta(days=9), eligibility=["företag"]),
    ])
    add_subscriber("anna@example.org", forms=["ideell förening"], regions=["Kalmar län"])
    response, html = web.get(links_for("anna@example.org")["manage"])
    feed = re.search(r'href="(/kalender\.ics[^"]*)"', html).group(1).replace("&amp;", "&")
    assert feed == "/kalender.ics?form=ideell+f%C3%B6rening&region=Kalmar+l%C3%A4n"
    response, body = web.get(feed)
    assert response.status == 200 and "TIA Kalmar" in body and "TIA Skåne" not in body and "För företag" not in body


def test_manage_filters_and_delete(web, digest_env):
    add_subscriber("anna@example.org", agencies=["migrationsverket"])
    path = links_for("anna@example.org")["manage"]
    response, html = web.get(path)
    assert response.status == 200 and 'value="migrationsverket" checked' in html
    assert 'href="/flode.atom?agency=migrationsverket"' in html and 'href="/kalender.ics?agency=migrationsverket"' in html
    fields = [("csrf", web.csrf(html)), ("org", "Nya namnet"), ("agency", "brottsoffermyndigheten"),
              ("kind", "procurement"), ("keywords", "barn")]
    response, _ = web.post(path, [f for f in fields if f[0] != "csrf"])
    assert response.status == 403 and sub("anna@example.org").org == "Föreningen Exempel"
    # the filter page names the kinds "Typ", explains watched pages and offers the reminder lead time
    assert "<legend>Typ</legend>" in html and "Bevakade sidor är" in html
    assert 'name="reminder_days" value="14" checked' in html
    response, page = web.post(path, fields + [("reminder_days", "40")])
    assert response.status == 400 and "Välj påminnelse 7, 14 eller 30 dagar" in page
    response, page = web.post(path, fields + [("reminder_days", "30")])
    assert response.status == 200 and "Dina val är sparade." in page
    assert 'name="reminder_days" value="30" checked' in page
    assert 'href="/flode.atom?agency=brottsoffermyndigheten&amp;kind=procurement&amp;q=barn"' in page
    s = sub("anna@example.org")
    assert (s.org, s.agencies, s.kinds, s.keywords, s.include_noncompetitive, s.reminder_days) == (
        "Nya namnet", ["brottsoffermyndigheten"], ["procurement"], ["barn"], False, 30)
    response, _ = web.post(path, [("csrf", web.csrf(html)), ("org", "X"), ("agency", "skatteverket")])
    assert response.status == 400 and sub("anna@example.org").org == "Nya namnet"
    delete = path.replace("/installningar/", "/radera/")
    response, _ = web.post(delete, {})
    assert response.status == 403 and sub("anna@example.org") is not None
    response, page = web.post(delete, {"csrf": web.csrf(html)})
    assert response.status == 200 and "Uppgifterna är raderade" in page
    assert sub("anna@example.org") is None
    with session_scope() as s:
        assert s.scalars(select(Suppression)).one().reason == "deleted"
    response, _ = web.get(path)
    assert response.status == 404


def test_mute_link_of_a_digest_works(web, digest_env, sqlite_url):
    """The "Visa inte fler om denna" link from a sent digest: GET asks, POST mutes, the next digest
    leaves the item out; a tampered token or an unknown item changes nothing."""
    from fundwatch.digest.sending import send_due

    engine = get_engine(sqlite_url)
    crawl(engine, "migrationsverket", [make_item("migrationsverket", "Tyst", deadline=dt.date.today() + dt.timedelta(days=5)),
                                        make_item("migrationsverket", "Kvar", deadline=dt.date.today() + dt.timedelta(days=6))])
    add_subscriber("anna@example.org")
    send_due()
    text = read_outbox(digest_env)["anna@example.org"].get_body(("plain",)).get_content()
    link = re.search(r"Visa inte fler om denna: (\S+id=migrationsverket/funding_call/tyst)\r?\n", text).group(1)
    path = path_of(link)
    response, html = web.get(path)
    assert response.status == 200 and "”Tyst”" in html and "<button" in html
    assert sub("anna@example.org").muted == []
    response, _ = web.post(path, {})
    assert response.status == 403 and sub("anna@example.org").muted == []
    response, _ = web.get(path.replace("/dolj/", "/dolj/x"))
    assert response.status == 400
    response, _ = web.get(path.replace("id=migrationsverket", "id=nosuch"))
    assert response.status == 404
    response, page = web.post(path, {"csrf": web.csrf(html)})
    assert response.status == 200 and "Du får inte fler brev om denna" in page
    response, page = web.post(path, {"csrf": web.csrf(html)})  # repeatable
    assert response.status == 200 and sub("anna@example.org").muted == ["migrationsverket/funding_call/tyst"]
    for mail in digest_env.glob("*.eml"):
        mail.unlink()
    with session_scope() as session:
        session.execute(delete_rows(Delivery))  # as if a week had passed
    send_due()
    text = read_outbox(digest_env)["anna@example.org"].get_body(("plain",)).get_content()
    assert "Kvar" in text and "Tyst" not in text
def test_filters_take_an_organisation_form_and_a_region(web, digest_env):
    add_subscriber("bo@example.org", forms=["stiftelse"])
    path = links_for("bo@example.org")["manage"]
    response, html = web.get(path)
    assert response.status == 200 and 'value="stiftelse" checked' in html
    assert '<option value="Skåne län">Skåne län</option>' in html
    fields = [("csrf", web.csrf(html)), ("org", "Stiftelsen"), ("form", "ideell förening"), ("form", "trossamfund"),
              ("region", "Skåne län")]
    response, page = web.post(path, fields)
    assert response.status == 200 and "Dina val är sparade." in page
    s = sub("bo@example.org")
    assert (s.forms, s.regions) == (["ideell förening", "trossamfund"], ["Skåne län"])
    assert '<option value="Skåne län" selected>' in page
    response, page = web.post(path, [("csrf", web.csrf(html)), ("org", "X"), ("region", "Atlantis")])
    assert response.status == 400 and sub("bo@example.org").regions == ["Skåne län"]
    assert "Ogiltigt val av myndighet, slag, organisationsform eller region." in page


def test_serve_refuses_without_secret_key(sqlite_url, digest_env, monkeypatch):
    monkeypatch.delenv("FUNDWATCH_SECRET_KEY")
    result = CliRunner().invoke(main, ["serve", "--port", str(free_port())])
    assert result.exit_code == 1 and "FUNDWATCH_SECRET_KEY is not set" in result.output
