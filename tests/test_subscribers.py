"""Subscribers through the CLI: double opt-in, operator import, listing, filters, unsubscribe and
deletion (nothing of the address left but a hash)."""

from __future__ import annotations

import getpass
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from fundwatch.cli import main
from fundwatch.digest.models import Subscriber, Suppression
from fundwatch.digest.subscribers import email_hash
from fundwatch.storage.db import get_engine, session_scope
from fundwatch.swedish import fold_case
from helpers import read_outbox


def run(*args, input=None):
    return CliRunner().invoke(main, list(args), input=input)


def subscriber(email: str) -> Subscriber | None:
    with session_scope() as s:
        return s.scalars(select(Subscriber).where(Subscriber.email == email)).one_or_none()


def test_subscribe_is_double_opt_in(db_url, digest_env):
    result = run("subscribe", "Anna.Berg@Example.ORG", "--org", "Föreningen Åkervägen", "--agency", "migrationsverket",
                 "--kind", "funding_call", "--keyword", "våld", "--keyword", "barn")
    assert result.exit_code == 0, result.output
    sub = subscriber("anna.berg@example.org")
    assert sub.status == "unconfirmed" and sub.confirmed_at is None and sub.consent == "cli"
    assert (sub.agencies, sub.kinds, sub.keywords) == (["migrationsverket"], ["funding_call"], ["våld", "barn"])
    assert sub.include_noncompetitive is False
    msg = read_outbox(digest_env)["anna.berg@example.org"]
    assert msg["Subject"] == "Bekräfta din prenumeration på fundwatch"
    body = msg.get_body(("plain",)).get_content()
    assert "https://fundwatch.example.org/bekrafta/" in body
    assert "List-Unsubscribe" not in msg


def test_confirmed_import_records_who_and_when(db_url, digest_env):
    result = run("subscribe", "a@example.org", "--org", "A", "--confirmed")
    assert result.exit_code == 0, result.output
    sub = subscriber("a@example.org")
    assert sub.status == "confirmed" and sub.consent == "import"
    assert sub.imported_by == getpass.getuser() and sub.confirmed_at is not None
    assert not list(digest_env.glob("*.eml"))  # no confirmation mail
    assert run("subscribe", "b@example.org", "--org", "B", "--confirmed", "--by", "Kim (styrelsen)").exit_code == 0
    assert subscriber("b@example.org").imported_by == "Kim (styrelsen)"
    assert run("subscribe", "c@example.org", "--org", "C", "--by", "x").exit_code == 2  # --by needs --confirmed


def test_errors_are_one_clear_line(db_url, digest_env, monkeypatch):
    for args, expected in [
        (("subscribe", "not-an-address", "--org", "A"), "not a valid email address"),
        (("subscribe", "a@example.org", "--org", "A", "--agency", "skatteverket"), "unknown agency"),
        (("subscribe", "a@example.org", "--org", "  "), "organisation's name is required"),
        (("unsubscribe", "nobody@example.org"), "no subscriber"),
        (("subscribers", "update", "nobody@example.org", "--all-kinds"), "no subscriber"),
    ]:
        result = run(*args)
        assert result.exit_code == 1, (args, result.output)
        assert expected in result.output and len(result.output.strip().splitlines()) == 1, result.output
    monkeypatch.delenv("FUNDWATCH_SECRET_KEY")
    result = run("subscribe", "a@example.org", "--org", "A")
    assert result.exit_code == 1 and "FUNDWATCH_SECRET_KEY" in result.output
    assert subscriber("a@example.org") is None


def test_list_update_unsubscribe(db_url, digest_env):
    run("subscribe", "a@example.org", "--org", "A", "--confirmed", "--agency", "Brottsoffermyndigheten")
    run("subscribe", "b@example.org", "--org", "B")
    listed = json.loads(run("subscribers", "--format", "json").output)
    assert [(r["email"], r["status"], r["agencies"]) for r in listed] == [
        ("a@example.org", "confirmed", ["brottsoffermyndigheten"]), ("b@example.org", "unconfirmed", [])]
    table = run("subscribers").output
    assert "a@example.org" in table and "unconfirmed" in table
    assert run("subscribers", "update", "a@example.org", "--keyword", "Barn", "--kind", "procurement",
               "--include-noncompetitive").exit_code == 0
    sub = subscriber("a@example.org")
    assert (sub.agencies, sub.kinds, sub.keywords, sub.include_noncompetitive) == (
        ["brottsoffermyndigheten"], ["procurement"], ["Barn"], True)
    result = run("subscribers", "update", "a@example.org", "--reminder-days", "30")
    assert result.exit_code == 0 and subscriber("a@example.org").reminder_days == 30
    # plain values, no Python lists
    assert result.output == ("a@example.org: agencies brottsoffermyndigheten; kinds procurement; keywords Barn; "
                             "non-competitive included; reminder 30 days before a deadline\n")
    assert run("subscribers", "update", "a@example.org", "--reminder-days", "40").exit_code == 2
    assert run("subscribers", "update", "a@example.org", "--all-agencies", "--no-keywords").exit_code == 0
    sub = subscriber("a@example.org")
    assert (sub.agencies, sub.keywords, sub.kinds, sub.reminder_days) == ([], [], ["procurement"], 30)
    assert run("unsubscribe", "a@example.org").exit_code == 0
    assert subscriber("a@example.org").status == "unsubscribed"
    assert "already unsubscribed" in run("unsubscribe", "a@example.org").output
    only = json.loads(run("subscribers", "--status", "unsubscribed", "--format", "json").output)
    assert [r["email"] for r in only] == ["a@example.org"]


def test_subscribing_again_unconfirmed_says_what_it_replaced(db_url, digest_env):
    run("subscribe", "b@example.org", "--org", "B", "--agency", "migrationsverket", "--keyword", "barn")
    result = run("subscribe", "b@example.org", "--org", "B", "--reminder-days", "7")
    assert result.exit_code == 0
    assert ("b@example.org: was already waiting for confirmation; its filters were agencies migrationsverket; "
            "kinds all; keywords barn;") in result.output
    assert "now agencies all; kinds all; keywords none; non-competitive left out; reminder 7 days" in result.output
    same = run("subscribe", "b@example.org", "--org", "B", "--reminder-days", "7")
    assert "already waiting" not in same.output  # nothing replaced, nothing said about it


def test_digest_status_week_must_be_an_iso_week(db_url, digest_env):
    result = run("digest", "status", "--week", "49")
    assert result.exit_code == 2 and "'49' is not an ISO week: give it as YYYY-Www" in result.output


def test_delete_leaves_only_a_hash(db_url, digest_env):
    run("subscribe", "anna@example.org", "--org", "Föreningen Anna")
    assert run("subscribers", "delete", "anna@example.org", "--yes").exit_code == 0
    assert subscriber("anna@example.org") is None
    with session_scope() as s:
        [supp] = s.scalars(select(Suppression)).all()
        assert supp.email_hash == email_hash("anna@example.org") and supp.reason == "deleted"
    engine = get_engine(db_url)
    with engine.connect() as conn:  # the address is nowhere in the database
        for table in ("subscribers", "deliveries", "suppressions"):
            for row in conn.execute(text(f"SELECT * FROM {table}")):
                assert "anna@example.org" not in repr(tuple(row))
    # an operator cannot re-import it; the person can subscribe again themself (double opt-in)
    result = run("subscribe", "anna@example.org", "--org", "A", "--confirmed")
    assert result.exit_code == 1 and "deleted on request" in result.output
    assert run("subscribe", "anna@example.org", "--org", "A").exit_code == 0
    assert subscriber("anna@example.org").status == "unconfirmed"


@pytest.mark.slow
def test_delete_asks_first(db_url, digest_env):
    run("subscribe", "anna@example.org", "--org", "A", "--confirmed")
    assert run("subscribers", "delete", "anna@example.org", input="n\n").exit_code == 1
    assert subscriber("anna@example.org") is not None


def test_swedish_case_folding_keeps_aao():
    assert fold_case("VÅLD i nära RELATIONER") == "våld i nära relationer"
    assert "vald" not in fold_case("Våldsutsatta")
    assert fold_case("Ä") == "ä" and fold_case("Ö") == "ö"
    assert fold_case("A\u030a") == "å"  # a decomposed å is the same letter


def test_the_subscribers_table_fits_80_columns(sqlite_url, digest_env, monkeypatch):
    run("subscribe", "anna.andersson@example.org", "--org", "Föreningen för ett rikare föreningsliv i Norrbotten",
        "--confirmed", "--agency", "brottsoffermyndigheten", "--agency", "migrationsverket", "--keyword", "våld",
        "--keyword", "ensamkommande barn", "--include-noncompetitive")
    monkeypatch.setenv("COLUMNS", "80")
    lines = run("subscribers").output.splitlines()
    assert lines[0].split() == ["EMAIL", "ORG", "STATUS", "CONFIRMED", "FILTERS"]
    assert all(len(line) <= 80 for line in lines), lines
    assert "anna.andersson@example.org" in lines[1] and "confirmed" in lines[1]  # the address is never cut
    assert "agencies brotts" in lines[1]  # the filters, shortened with …
