"""What a digest says: sections per filter, Swedish dates and labels, source coverage, the first
digest, empty digests, the ISO week, and the change range each delivery covers. Time is pinned with
time-machine; items and runs are written through storage/runlife.py as a crawl would."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select

from fundwatch.digest.models import Delivery
from fundwatch.storage.db import get_engine, session_scope
from helpers import add_subscriber, crawl, html_part, make_item, read_outbox, text_part

TZ = ZoneInfo("Europe/Stockholm")
T0 = dt.datetime(2027, 4, 26, 9, 0, tzinfo=TZ)  # Monday, week 17
T1 = dt.datetime(2027, 5, 4, 9, 0, tzinfo=TZ)  # Tuesday, week 18: the second crawl
T2 = dt.datetime(2027, 5, 5, 10, 0, tzinfo=TZ)  # Wednesday, week 18: the digest goes out
T3 = dt.datetime(2027, 5, 11, 9, 0, tzinfo=TZ)  # Tuesday, week 19


def _a(deadline: dt.date, text: str):
    return make_item("migrationsverket", "Stöd till våldsutsatta kvinnor", deadline=deadline, deadline_text=text,
                     amount_text="Ca 2,3 MSEK", text="Projekt mot VÅLD i nära relationer.")


def week17_items():
    return {
        "migrationsverket": [
            _a(dt.date(2027, 5, 3), "3 maj 2027"),
            make_item("migrationsverket", "Gammal utlysning", deadline=dt.date(2027, 6, 30), text="Något annat."),
        ],
        "brottsoffermyndigheten": [
            make_item("brottsoffermyndigheten", "Brottsofferinriktade projekt", deadline=dt.date(2027, 5, 12),
                      text="Projektmedel för ideella föreningar."),
        ],
        "arbetsformedlingen": [
            make_item("arbetsformedlingen", "Rusta och matcha", kind="procurement", text="Upphandling."),
        ],
    }


def send(**kw):
    from fundwatch.digest.sending import send_due

    return send_due(**kw)


@pytest.fixture
def week18(sqlite_url, digest_env):
    """Two crawls and a week-17 digest, then the week-18 digests: {name: subscriber id}, outbox."""
    engine = get_engine(sqlite_url)
    with time_machine.travel(T0, tick=False):
        for agency, items in week17_items().items():
            crawl(engine, agency, items)
        ids = {
            "all": add_subscriber("alla@example.org"),
            "bo": add_subscriber("bo@example.org", agencies=["brottsoffermyndigheten"]),
            "kw": add_subscriber("kw@example.org", keywords=["VÅLD"]),
            "nc": add_subscriber("nc@example.org", agencies=["Migrationsverket"], include_noncompetitive=True),
        }
    with time_machine.travel(T0 + dt.timedelta(hours=1), tick=False):
        report = send()
        assert report.sent == 4, report
    for path in digest_env.glob("*.eml"):
        path.rename(path.with_suffix(".w17"))
    with time_machine.travel(T1, tick=False):
        crawl(engine, "migrationsverket", [
            _a(dt.date(2027, 5, 17), "17 maj 2027"),
            make_item("migrationsverket", "Integration av nyanlända", deadline=dt.date(2027, 9, 1), amount_sek=5_000_000,
                      text="Stöd till föreningar."),
            make_item("migrationsverket", "Stöd till Polisens arbete", competitive=False, deadline=dt.date(2027, 10, 1)),
        ])
        crawl(engine, "brottsoffermyndigheten", week17_items()["brottsoffermyndigheten"])
        crawl(engine, "arbetsformedlingen", [], status="failed", reason_code="http_status",
              reason_params={"url": "https://arbetsformedlingen.se/x", "status": 503})
    with time_machine.travel(T2, tick=False):
        ids["new"] = add_subscriber("ny@example.org")
        ids["vald"] = add_subscriber("vald@example.org", keywords=["vald"])
        report = send()
    return ids, digest_env, report


def sections(text: str) -> dict[str, str]:
    """Upper-case section headings of the text part -> their body."""
    parts = re.split(r"^([A-ZÅÄÖ][A-ZÅÄÖ0-9 ]+(?: \(\d+\))?)$", text, flags=re.M)
    return {re.sub(r" \(\d+\)$", "", parts[i]): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def test_week_digest_for_everything(week18):
    ids, outbox, report = week18
    mails = read_outbox(outbox)
    msg = mails["alla@example.org"]
    text = text_part(msg)
    s = sections(text)
    # what needs action first: what closes within 14 days, then new, then closed
    assert list(s) == ["SISTA DAG INOM 14 DAGAR", "NYA UTLYSNINGAR OCH ERBJUDANDEN", "STÄNGDA ELLER BORTTAGNA"]
    assert "Integration av nyanlända" in s["NYA UTLYSNINGAR OCH ERBJUDANDEN"]
    assert "5 000 000 kr" in s["NYA UTLYSNINGAR OCH ERBJUDANDEN"]
    assert "Öppen · Sista ansökningsdag: 1 september 2027" in s["NYA UTLYSNINGAR OCH ERBJUDANDEN"]
    assert "Polisens" not in text  # icke-konkurrerande: left out by default
    soon = s["SISTA DAG INOM 14 DAGAR"]
    # full cards, earliest deadline first; the changed one says what changed in one line
    assert soon.index("Brottsofferinriktade projekt") < soon.index("Stöd till våldsutsatta kvinnor")
    assert "  Öppen · Sista ansökningsdag: 12 maj 2027\n" in soon
    assert "  Sista ansökningsdag flyttad: 3 maj 2027 → 17 maj 2027\n" in soon
    assert "Gammal utlysning" in s["STÄNGDA ELLER BORTTAGNA"]
    assert "ÖPPNA JUST NU" not in text  # not a first digest
    assert "Källor: 2 av 3 källor kunde kontrolleras denna vecka. Arbetsförmedlingen: sidan svarade 503." in text
    # each item names its agency as the source and links to the agency's page
    assert "Utlysning · Källa: Migrationsverket" in text
    assert "https://www.migrationsverket.se/utlysningar/integration-av-nyanlända" in text
    # the subject: new calls and the nearest open deadline
    assert msg["Subject"] == "fundwatch vecka 18: 1 ny utlysning · sista dag 12 maj: Brottsofferinriktade projekt"


def test_filters_agency_keyword_noncompetitive(week18):
    ids, outbox, report = week18
    mails = read_outbox(outbox)
    bo = text_part(mails["bo@example.org"])
    assert "Brottsofferinriktade projekt" in bo and "Migrationsverket" not in bo.split("--")[0]
    assert "1 av 1 källor kunde kontrolleras denna vecka." in bo  # coverage of the sources they follow
    kw = text_part(mails["kw@example.org"])  # "VÅLD" matches "våldsutsatta" (title) and "VÅLD" (text)
    assert "Stöd till våldsutsatta kvinnor" in kw and "Integration av nyanlända" not in kw
    assert "vald@example.org" not in mails  # "vald" is not "våld": nothing matched, an empty digest is not sent
    nc = text_part(mails["nc@example.org"])
    assert "Stöd till Polisens arbete" in nc and "Integration av nyanlända" in nc
    assert "Brottsofferinriktade" not in nc
    assert report.skipped_empty == 1


def test_first_digest_lists_open_now(week18):
    ids, outbox, report = week18
    msg = read_outbox(outbox)["ny@example.org"]
    text = text_part(msg)
    s = sections(text)
    assert list(s) == ["SISTA DAG INOM 14 DAGAR", "ÖPPNA OCH KOMMANDE UTLYSNINGAR"]
    # a list to look through: each open call on a line with its agency, status and deadline, then its link
    open_now = s["ÖPPNA OCH KOMMANDE UTLYSNINGAR"]
    assert re.search(r"^\* Rusta och matcha[^\n]* \(Arbetsförmedlingen · Öppen[^\n]*\)\n  https://\S+$", open_now, re.M)
    assert "* Integration av nyanlända (Migrationsverket · Öppen, sista ansökningsdag 1 september 2027)\n" in open_now
    assert "Källa:" not in open_now
    # what closes soon is a card above, not repeated in the list
    assert "Brottsofferinriktade projekt" in s["SISTA DAG INOM 14 DAGAR"] and "Brottsoffer" not in open_now
    html = html_part(msg)
    assert re.search(r'<li class="brief-item" style="[^"]+"><a href="[^"]+"[^>]*>Integration av nyanlända</a> – '
                     r"Migrationsverket · <strong>Öppen</strong>, sista ansökningsdag 1 september 2027</li>", html)
    assert "Välkommen! Det här första veckobrevet tar upp utlysningar som går att söka nu" in html
    assert msg["Subject"] == ("fundwatch vecka 18: 4 öppna eller kommande utlysningar · sista dag 12 maj: "
                              "Brottsofferinriktade projekt")


def test_html_is_inlined_escaped_and_accessible(week18):
    ids, outbox, report = week18
    html = html_part(read_outbox(outbox)["alla@example.org"])
    assert '<html lang="sv">' in html
    assert re.search(r'<h1 style="[^"]+">Vecka 18, 2027', html)
    assert re.search(r'<h2 style="[^"]*color:#0b3d5c[^"]*">Nya utlysningar och erbjudanden', html)
    assert re.search(r'<p class="status" style="[^"]+">Öppen · Sista ansökningsdag: 12 maj 2027</p>', html)
    assert re.search(r'<h3 style="[^"]+"><a href="https://www\.migrationsverket\.se/', html)
    assert "<style>" in html and "@media" in html  # only what cannot be inlined stays in a style block
    assert "17 maj 2027" in html and "Källa: Migrationsverket" in html
    assert "<img" not in html or re.search(r"<img[^>]+alt=", html)


def test_scraped_markup_is_escaped(sqlite_url, digest_env):
    engine = get_engine(sqlite_url)
    crawl(engine, "migrationsverket", [make_item("migrationsverket", "Utlysning <script>alert(1)</script> & co",
                                                 url="javascript:alert(1)", deadline=dt.date.today() + dt.timedelta(days=3))])
    add_subscriber("a@example.org")
    send()
    html = html_part(read_outbox(digest_env)["a@example.org"])
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html
    assert "javascript:" not in html


def test_deliveries_record_the_range_and_next_week_continues(week18, sqlite_url):
    ids, outbox, report = week18
    engine = get_engine(sqlite_url)
    with session_scope() as s:
        w18 = {d.subscriber_id: d for d in s.scalars(select(Delivery).where(Delivery.week == "2027-W18"))}
        w17 = {d.subscriber_id: d for d in s.scalars(select(Delivery).where(Delivery.week == "2027-W17"))}
    assert w18[ids["all"]].after_change_id == w17[ids["all"]].upto_change_id
    assert not w18[ids["all"]].first and w18[ids["new"]].first
    assert ids["vald"] not in w18
    for path in outbox.glob("*.eml"):
        path.unlink()
    with time_machine.travel(T3, tick=False):
        crawl(engine, "brottsoffermyndigheten", week17_items()["brottsoffermyndigheten"] + [
            make_item("brottsoffermyndigheten", "Forskningsmedel 2028", deadline=dt.date(2027, 10, 1))])
        crawl(engine, "migrationsverket", [_a(dt.date(2027, 5, 17), "17 maj 2027")])
        send()
    text = text_part(read_outbox(outbox)["alla@example.org"])
    assert "vecka 19" in text
    assert "Forskningsmedel 2028" in sections(text)["NYA UTLYSNINGAR OCH ERBJUDANDEN"]
    assert "3 maj 2027 → 17 maj 2027" not in text  # already told in week 18


def test_a_second_send_in_the_same_week_sends_nothing(week18):
    ids, outbox, report = week18
    with time_machine.travel(T2 + dt.timedelta(hours=2), tick=False):
        again = send()
    assert again.sent == 0 and again.planned == 0


def test_empty_digest_sent_when_configured(sqlite_url, digest_env, monkeypatch):
    get_engine(sqlite_url)
    add_subscriber("tom@example.org", keywords=["finns inte"])
    assert send().sent == 0
    assert list(digest_env.glob("*.eml")) == []
    monkeypatch.setenv("FUNDWATCH_SEND_EMPTY_DIGEST", "1")
    assert send().sent == 1
    text = text_part(read_outbox(digest_env)["tom@example.org"])
    assert "Inget nytt som matchar dina val den här veckan." in text
    assert "0 av 3 källor kunde kontrolleras denna vecka." in text  # no source has run: never silent


def test_iso_week_is_taken_in_stockholm(sqlite_url, digest_env):
    from fundwatch.digest.builder import iso_week

    # Sunday 23:30 UTC is already Monday in Stockholm: the next ISO week
    sunday_night = dt.datetime(2027, 5, 9, 22, 30, tzinfo=dt.UTC)
    with time_machine.travel(sunday_night, tick=False):
        assert iso_week() == "2027-W19"
    assert iso_week(dt.datetime(2027, 5, 9, 23, 59, tzinfo=TZ)) == "2027-W18"


def test_field_labels_in_swedish():
    from fundwatch.digest.builder import field_changes

    got = field_changes({"deadline": ["2027-05-03", "2027-05-17"], "deadline_text": ["3 maj", "17 maj"],
                         "amount_text": [None, "Ca 2 MSEK"], "amount_sek": [None, 2000000],
                         "competitive": [True, False], "status": ["open", "closed"], "text": ["a", "b"],
                         "details": [{"Stöd från AMIF": "75 %"}, {"Stöd från AMIF": "90 %"}]})
    assert got == [
        ("Status", "öppen", "stängd"),
        ("Sista ansökningsdag", "3 maj 2027", "17 maj 2027"),
        ("Belopp", "–", "Ca 2 MSEK"),
        ("Öppen för civilsamhället", "ja (konkurrerande)", "nej (icke-konkurrerande)"),
        ("Stöd från AMIF", "75 %", "90 %"),
        ("Text", "", "texten på sidan har ändrats"),
    ]


def test_preview_writes_html_and_prints_text(week18, tmp_path):
    from click.testing import CliRunner

    from fundwatch.cli import main

    out = tmp_path / "p.html"
    with time_machine.travel(T2 + dt.timedelta(hours=1), tick=False):
        result = CliRunner().invoke(main, ["digest", "preview", "--email", "alla@example.org", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "fundwatch – vecka 18, 2027" in result.output
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_procurements_show_their_tender_deadline_and_planned_ones_say_so():
    from fundwatch.digest.builder import ItemView

    def view(kind, status, deadline_sv):
        return ItemView(id="a/b/c", agency="arbetsformedlingen", agency_name="Arbetsförmedlingen", kind=kind,
                        kind_sv="Upphandling", title="T", url="https://arbetsformedlingen.se/", status=status,
                        deadline=None, deadline_sv=deadline_sv, amount_sv=None, opens_sv=None, competitive=None)

    assert (view("procurement", "open", "14 december 2026").deadline_label, view("funding_call", "open", None).deadline_label) == (
        "Sista anbudsdag", "Sista ansökningsdag")
    assert view("procurement", "planned", None).deadline_shown == "ej bestämd"  # the status says Planerad
    assert view("procurement", "unknown", None).deadline_shown == "inte angiven"
    assert view("news", "unknown", None).deadline_shown is None


W49 = dt.datetime(2027, 12, 6, 9, 0, tzinfo=TZ)  # Monday, week 49


@pytest.fixture
def week49(sqlite_url, digest_env):
    """A week-48 crawl, a first digest, then a week-49 crawl with a call first seen after its
    deadline, one opening later, news, a watched page and a moved deadline; returns (engine, outbox)."""
    engine = get_engine(sqlite_url)
    with time_machine.travel(W49 - dt.timedelta(days=7), tick=False):
        crawl(engine, "migrationsverket", [make_item("migrationsverket", "Flyttad", deadline=dt.date(2028, 3, 3))])
        add_subscriber("alla@example.org")
        add_subscriber("snart@example.org", reminder_days=30)
        assert send().sent == 2
    for path in digest_env.glob("*.eml"):
        path.unlink()
    with time_machine.travel(W49 - dt.timedelta(hours=2), tick=False):
        crawl(engine, "migrationsverket", [
            make_item("migrationsverket", "Flyttad", deadline=dt.date(2028, 3, 17)),
            make_item("migrationsverket", "Redan stängd", deadline=dt.date(2027, 12, 4)),
            make_item("migrationsverket", "Öppnar i februari", opens=dt.date(2028, 2, 1), deadline=dt.date(2028, 3, 1),
                      status="unknown"),
            make_item("migrationsverket", "Snart slut", deadline=dt.date(2027, 12, 14),
                      details={"Vem kan söka": "Ideella föreningar och stiftelser"}),
            make_item("migrationsverket", "Lite senare", deadline=dt.date(2027, 12, 30)),
            make_item("migrationsverket", "Nya regler för bidrag", kind="news", status="unknown"),
        ])
    return engine, digest_env


def test_status_order_and_sections_of_a_returning_digest(week49):
    engine, outbox = week49
    with time_machine.travel(W49, tick=False):
        send()
    msg = read_outbox(outbox)["alla@example.org"]
    text = text_part(msg)
    s = sections(text)
    assert list(s) == ["SISTA DAG INOM 14 DAGAR", "NYA UTLYSNINGAR OCH ERBJUDANDEN", "ÄNDRADE", "KOMMANDE",
                       "STÄNGDA ELLER BORTTAGNA", "NYTT FRÅN MYNDIGHETERNA"]
    assert "Snart slut" in s["SISTA DAG INOM 14 DAGAR"]
    assert "  Vem kan söka: Ideella föreningar och stiftelser\n" in s["SISTA DAG INOM 14 DAGAR"]
    assert "Lite senare" in s["NYA UTLYSNINGAR OCH ERBJUDANDEN"]
    # a call first seen after its deadline is never new or open
    assert "Redan stängd" not in s["NYA UTLYSNINGAR OCH ERBJUDANDEN"] + s["SISTA DAG INOM 14 DAGAR"]
    assert "* Redan stängd\n  Utlysning · Källa: Migrationsverket\n  Stängd · Sista ansökningsdag: 4 december 2027\n" in (
        s["STÄNGDA ELLER BORTTAGNA"])
    assert "  Ny · Öppnar 1 februari 2028 · Sista ansökningsdag: 1 mars 2028\n" in s["KOMMANDE"]
    assert "Öppnar i februari" not in s["NYA UTLYSNINGAR OCH ERBJUDANDEN"]
    assert "  Sista ansökningsdag flyttad: 3 mars 2028 → 17 mars 2028\n" in s["ÄNDRADE"]
    # news apart from the calls, a line each
    assert "* Nya regler för bidrag (Migrationsverket)\n" in s["NYTT FRÅN MYNDIGHETERNA"]
    assert "Nya regler" not in text.split("NYTT FRÅN MYNDIGHETERNA")[0]
    # the subject counts the new calls (not the closed one, not the news) and the nearest open deadline
    assert msg["Subject"] == "fundwatch vecka 49: 3 nya utlysningar · sista dag 14 dec: Snart slut"
    html = html_part(msg)
    assert re.search(r'<p class="status" style="[^"]+">Stängd · Sista ansökningsdag: 4 december 2027</p>', html)
    assert re.search(r'<p class="status" style="[^"]+"><span class="new" style="[^"]+">Ny</span> · '
                     r'Öppnar 1 februari 2028 · Sista ansökningsdag', html)


def test_a_new_call_says_ny_in_the_reminder_and_upcoming_sections(week49):
    """A call first seen this week that lands among those closing soon or those opening later (not
    under "Nya utlysningar") still says it is new, in both parts; a changed call does not."""
    engine, outbox = week49
    with time_machine.travel(W49, tick=False):
        send()
    msg = read_outbox(outbox)["alla@example.org"]
    s = sections(text_part(msg))
    assert "* Snart slut\n  Utlysning · Källa: Migrationsverket\n  Ny · Öppen · Sista ansökningsdag: 14 december 2027\n" in (
        s["SISTA DAG INOM 14 DAGAR"])
    assert "* Öppnar i februari\n  Utlysning · Källa: Migrationsverket\n  Ny · Öppnar 1 februari 2028" in s["KOMMANDE"]
    assert "Ny ·" not in s["ÄNDRADE"] + s["STÄNGDA ELLER BORTTAGNA"]  # Flyttad was seen before; Redan stängd never new
    assert "  Öppen · Sista ansökningsdag: 30 december 2027\n" in s["NYA UTLYSNINGAR OCH ERBJUDANDEN"]  # the heading says it
    html = html_part(msg)
    new_mark = r'<p class="status" style="[^"]+"><span class="new" style="[^"]+">Ny</span> · '
    assert re.search(new_mark + "Öppen · Sista ansökningsdag: 14 december 2027</p>", html)
    assert re.search(new_mark + "Öppnar 1 februari 2028 · ", html)
    assert len(re.findall('<span class="new"', html)) == 2
    # a subscriber whose reminder reaches "Lite senare" (30 days) gets it marked there too
    soon = sections(text_part(read_outbox(outbox)["snart@example.org"]))["SISTA DAG INOM 30 DAGAR"]
    assert "* Lite senare\n  Utlysning · Källa: Migrationsverket\n  Ny · Öppen · Sista ansökningsdag: 30 december 2027" in soon


def test_reminder_lead_time_is_the_subscribers(week49):
    engine, outbox = week49
    with time_machine.travel(W49, tick=False):
        send()
    s = sections(text_part(read_outbox(outbox)["snart@example.org"]))
    soon = s["SISTA DAG INOM 30 DAGAR"]
    assert soon.index("Snart slut") < soon.index("Lite senare")
    assert "NYA UTLYSNINGAR OCH ERBJUDANDEN" not in s  # both new calls are listed once, in the first section
    assert "påminnelse 30 dagar före sista dag" in text_part(read_outbox(outbox)["snart@example.org"])


def test_first_digest_never_lists_a_closed_call(week49):
    engine, outbox = week49
    with time_machine.travel(W49, tick=False):
        add_subscriber("ny@example.org")
        send()
    text = text_part(read_outbox(outbox)["ny@example.org"])
    s = sections(text)
    assert "Redan stängd" not in text
    assert "STÄNGDA ELLER BORTTAGNA" not in s
    assert "* Öppnar i februari (Migrationsverket · Öppnar 1 februari 2028, sista ansökningsdag 1 mars 2028)\n" in (
        s["ÖPPNA OCH KOMMANDE UTLYSNINGAR"])


def test_a_muted_item_leaves_the_digest(week49):
    from fundwatch.digest import subscribers as subs

    engine, outbox = week49
    with session_scope() as session:
        subs.mute(session, subs.require(session, "alla@example.org"), "migrationsverket/funding_call/snart-slut")
    with time_machine.travel(W49, tick=False):
        send()
    text = text_part(read_outbox(outbox)["alla@example.org"])
    assert "Snart slut" not in text and "Lite senare" in text
    # every card carries its signed mute link, the item's id as a parameter
    assert re.search(r"Visa inte fler om denna: https://fundwatch\.example\.org/dolj/[\w.-]+"
                     r"\?id=migrationsverket/funding_call/lite-senare\n", text)


def test_first_digest_is_compact_and_under_gmail_clipping(sqlite_url, digest_env):
    engine = get_engine(sqlite_url)
    with time_machine.travel(W49, tick=False):
        crawl(engine, "migrationsverket", [
            make_item("migrationsverket", f"Utlysning nummer {n} om ett långt ämne med många ord i rubriken",
                      deadline=dt.date(2028, 1, 1) + dt.timedelta(days=n), amount_text="Högst 2 miljoner kronor",
                      text="Text " * 200)
            for n in range(120)])
        add_subscriber("ny@example.org")
        send()
    msg = read_outbox(digest_env)["ny@example.org"]
    s = sections(text_part(msg))
    listed = re.findall(r"^\* Utlysning nummer (\d+) ", s["ÖPPNA OCH KOMMANDE UTLYSNINGAR"], re.M)
    assert listed == [str(n) for n in range(25)]  # the first 25 by deadline
    assert "… och 95 till." in text_part(msg)
    assert "Alla utlysningar på webben: https://fundwatch.example.org/utlysningar\n" in text_part(msg)
    assert len(html_part(msg).encode("utf-8")) < 102_000


def test_first_digest_names_the_region_of_calls_with_the_same_title(sqlite_url, digest_env):
    """The 21 county TIA calls share a title: a new subscriber with no region filter tells them
    apart by their county on each line."""
    engine = get_engine(sqlite_url)
    with time_machine.travel(W49, tick=False):
        crawl(engine, "migrationsverket", [
            make_item("migrationsverket", f"TIA {county}", title="Bidrag för tidiga insatser för asylsökande",
                      deadline=dt.date(2028, 3, 22), region=county)
            for county in ("Stockholms län", "Skåne län")])
        add_subscriber("ny@example.org")
        send()
    msg = read_outbox(digest_env)["ny@example.org"]
    open_now = sections(text_part(msg))["ÖPPNA OCH KOMMANDE UTLYSNINGAR"]
    for county in ("Stockholms län", "Skåne län"):
        assert f"* Bidrag för tidiga insatser för asylsökande (Migrationsverket, {county} · Öppen" in open_now
        assert re.search(rf"asylsökande</a> – Migrationsverket, {county} · <strong>Öppen</strong>", html_part(msg))
