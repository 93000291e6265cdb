"""End to end over the project's mirror of the three agencies with their own spiders and Vinnova's API, served on
127.0.0.1 and crawled by `fundwatch crawl` child processes with the shipped sources file (the funders
read by configuration have their own crawls of the three states in test_funders.py):
state 1, then state 2 (exact change events), state 2 again (removals after two healthy misses),
then the broken state twice (failed runs with reasons, zero removals)."""

from __future__ import annotations

import json

import pytest

from fundwatch.mirror_server import MirrorServer
from helpers import MIRROR, crawl_args, run_cli

pytestmark = pytest.mark.slow  # every test here starts a server or crawls in child processes

MV, BO, AF, VN = "migrationsverket", "brottsoffermyndigheten", "arbetsformedlingen", "vinnova"


@pytest.fixture(scope="module")
def timeline(tmp_path_factory):
    """Crawl every state once, in order, recording what each step produced."""
    tmp = tmp_path_factory.mktemp("e2e")
    env = {"FUNDWATCH_DATABASE_URL": f"sqlite:///{tmp / 'fundwatch.db'}", "FUNDWATCH_CACHE_DIR": str(tmp / "cache")}
    steps = {}
    last_change = 0
    with MirrorServer(MIRROR / "state1") as server:
        env["FUNDWATCH_MIRROR"] = server.url
        for step, state in [("state1", "state1"), ("state2", "state2"), ("state2-again", "state2"),
                            ("broken", "broken"), ("broken-again", "broken")]:
            server.set_root(MIRROR / state)
            crawl = run_cli(*crawl_args(MV, BO, AF, VN), env=env)
            history = json.loads(run_cli("history", "--format", "json", env=env).stdout)
            steps[step] = {
                "crawl": crawl,
                "events": {(h["change"], h["item_id"], tuple(sorted(h["fields"]))) for h in history if h["id"] > last_change},
                "calls": json.loads(run_cli("calls", "--format", "json", env=env).stdout),
                "runs": json.loads(run_cli("runs", "--format", "json", env=env).stdout),
            }
            last_change = max([h["id"] for h in history] + [last_change])
    return steps


def by_title(calls, agency, kind="funding_call"):
    return {c["title"]: c for c in calls if c["agency"] == agency and c["kind"] == kind}


@pytest.mark.slow
def test_state1_lists_every_call_procurement_and_news_item(timeline):
    step = timeline["state1"]
    assert step["crawl"].returncode == 0, step["crawl"].stderr
    calls = step["calls"]
    counts = {}
    for c in calls:
        counts[(c["agency"], c["kind"])] = counts.get((c["agency"], c["kind"]), 0) + 1
    assert counts == {(MV, "funding_call"): 6, (MV, "news"): 4, (BO, "funding_call"): 2, (BO, "news"): 5,
                      (AF, "procurement"): 10, (AF, "news"): 4, (VN, "funding_call"): 4}
    assert len(step["events"]) == 35 and {e[0] for e in step["events"]} == {"new"}
    mv = by_title(calls, MV)
    forstudier = mv["Förstudier inom integration"]
    assert (forstudier["amount_text"], forstudier["amount_sek"]) == ("Ca 2,3 MSEK", 2_300_000)
    assert (forstudier["deadline"], forstudier["deadline_text"], forstudier["competitive"]) == (None, "Ej bestämt", True)
    integration = mv["Specifikt mål 2: Integration av tredjelandsmedborgare"]
    assert (integration["opens"], integration["deadline"]) == ("2027-02-01", "2027-03-15")
    assert mv["Specifikt mål 3: Självmant återvändande"]["competitive"] is False
    assert mv["Specifikt mål 3: Självmant återvändande"]["amount_sek"] == 500_000_000
    bo = by_title(calls, BO)
    assert {c["deadline"] for c in bo.values()} == {"2027-04-01", "2027-10-01"}  # next dates of each rule
    af = [c for c in calls if c["agency"] == AF and c["kind"] == "procurement"]
    assert sum(c["status"] == "planned" for c in af) == 6
    tolk = next(c for c in af if c["details"].get("Diarienummer") == "Af-2026/0063 4410")
    assert (tolk["deadline"], tolk["details"]["Upphandlingsform"]) == ("2027-01-15", "Dynamiskt inköpssystem")


def test_state2_produces_exactly_the_expected_change_events(timeline):
    events = timeline["state2"]["events"]
    assert events == {
        ("new", "migrationsverket/funding_call/specifikt-mål-2-tidiga-insatser-för-nyanlända-kvinnor", ()),
        ("new", "migrationsverket/news/2026-12-02-utlysningen-inom-specifikt-mal-2-stanger-senare", ()),
        ("updated", "migrationsverket/funding_call/specifikt-mål-2-integration-av-tredjelandsmedborgare", ("deadline", "deadline_text", "text")),
        ("updated", "migrationsverket/funding_call/förstudier-inom-integration", ("amount_sek", "amount_text", "text")),
        ("updated", "brottsoffermyndigheten/funding_call/brottsofferinriktade-projekt", ("deadline_rule", "deadline_text", "details", "text")),
        ("new", "brottsoffermyndigheten/news/andrad-sista-ansokningsdag-for-varens-projektmedel", ()),
        ("new", "arbetsformedlingen/procurement/planerad-yrkessvenska-för-vård-och-omsorg", ()),
        ("new", "arbetsformedlingen/news/2026-11-20-uppdaterad-plan-for-upphandlingar-2027", ()),
        ("updated", "arbetsformedlingen/procurement/af-2026-0063-4410", ("deadline", "deadline_text", "text")),
        # Vinnova's answer since yesterday: a round moved, a call no longer public, a new call
        ("updated", "vinnova/funding_call/2026-01001", ("deadline", "deadline_text", "details")),
        ("updated", "vinnova/funding_call/2026-01002", ("status",)),
        ("new", "vinnova/funding_call/2026-01005", ()),
    }
    # one miss is not a removal; the second healthy miss is
    assert timeline["state2-again"]["events"] == {
        ("removed", "migrationsverket/funding_call/specifikt-mål-1-stärkt-mottagande-av-ensamkommande-barn", ()),
        ("removed", "arbetsformedlingen/procurement/planerad-stöd-och-matchning-i-glesbygd", ()),
        ("removed", "arbetsformedlingen/procurement/af-2026-0057-1187", ()),
    }
    bo = by_title(timeline["state2"]["calls"], BO)
    assert bo["Brottsofferinriktade projekt"]["deadline"] == "2027-03-15"  # the changed rule


def test_broken_state_fails_with_reasons_and_removes_nothing(timeline):
    for step in ("broken", "broken-again"):
        assert timeline[step]["crawl"].returncode == 0  # failed runs are recorded runs
        assert timeline[step]["events"] == set()
        assert len(timeline[step]["calls"]) == len(timeline["state2-again"]["calls"])
    latest = {}
    for run in reversed(timeline["broken-again"]["runs"]):
        latest[run["source"]] = run
    assert latest[MV]["status"] == "failed"
    assert "planerade-utlysningar no longer carries the expected content (missing: labels Öppnar, Stänger" in latest[MV]["reason"]
    assert latest[BO]["status"] == "failed" and latest[BO]["reason"] == (
        "https://www.brottsoffermyndigheten.se/sok-projektmedel/forskningsprojekt/sok-forskningsmedel/ answered HTTP 503")
    assert latest[AF]["status"] == "failed"
    assert latest[VN]["status"] == "failed"  # the API answers nothing at the watermark's date: no removal either
    assert latest[AF]["reason"] == "https://arbetsformedlingen.se/for-leverantorer/upphandlingar-och-regelverk answered HTTP 503"
