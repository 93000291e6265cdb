"""Issue 19's check on the demo: every shipped source crawled on the mirror's first state, as
`fundwatch demo` does (child processes, sources in parallel), then the first digest of a subscriber
who filters on "ideell förening" shows calls from at least eight funders. A call that names only
other organisation forms is left out; a call that does not say who may apply stays in."""

from __future__ import annotations

import re

import pytest
import time_machine

from fundwatch.mirror_server import MirrorServer
from fundwatch.sources import load_sources
from fundwatch.storage.db import session_scope
from fundwatch.storage.queries import list_items
from helpers import STATE1, add_subscriber, crawl_args, read_outbox, run_cli, text_part

pytestmark = pytest.mark.slow  # a mirror server and crawls in child processes

NOW = "2026-12-02 10:00 +01:00"  # the mirror's first state is as of this day
FORENING = "forening@example.org"
OPEN_COUNT = re.compile(r"^ÖPPNA OCH KOMMANDE UTLYSNINGAR \((\d+)\)$", re.M)
URL = re.compile(r"^\s+(https?://\S+)$|^\* .*\n\s+(https?://\S+)$", re.M)


def test_first_digest_for_ideell_forening_shows_calls_from_at_least_eight_funders(sqlite_url, digest_env, crawl_env,
                                                                                  monkeypatch):
    monkeypatch.delenv("FUNDWATCH_SOURCES", raising=False)  # the shipped sources, as the demo crawls them
    sources = load_sources()
    # with validators, as the demo serves it: every page is stored in the HTTP cache while the crawls run
    with MirrorServer(STATE1, validators=True) as server:
        monkeypatch.setenv("FUNDWATCH_MIRROR", server.url)
        crawled = run_cli(*crawl_args(*[s.id for s in sources]))
    assert crawled.returncode == 0, crawled.stdout + crawled.stderr
    assert "failed" not in crawled.stdout and "partial" not in crawled.stdout, crawled.stdout

    add_subscriber(FORENING, forms=["ideell förening"])
    add_subscriber("alla@example.org")
    from fundwatch.digest.sending import send_due

    with time_machine.travel(NOW, tick=False):
        assert send_due().sent == 2
    mails = read_outbox(digest_env)
    shown = {m[0] or m[1] for m in URL.findall(text_part(mails[FORENING]))}
    with session_scope() as session:
        calls = [i for i in list_items(session) if i.kind == "funding_call"]
    shown_calls = [i for i in calls if i.url in shown]
    funders = {i.agency for i in shown_calls}
    assert len(funders) >= 8, sorted(funders)

    # a call open only to studieförbund (Folkbildningsrådet) or researchers is not for this subscriber ...
    other_forms = [i for i in calls if i.eligibility and "ideell förening" not in i.eligibility]
    assert other_forms and not {i.url for i in other_forms} & shown
    open_calls = {to: int(OPEN_COUNT.search(text_part(mail)).group(1)) for to, mail in mails.items()}
    assert open_calls[FORENING] < open_calls["alla@example.org"], open_calls
    # ... a call that does not say who may apply is (Kulturrådet's year overview names no applicants)
    silent = [i for i in shown_calls if not i.eligibility]
    assert "kulturradet" in {i.agency for i in silent}
