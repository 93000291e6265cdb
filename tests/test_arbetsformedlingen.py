"""Arbetsförmedlingen spider (City Scrapers style): saved mirror pages parsed under frozen time,
the exact items with every field; then real crawls over HTTP through the mirror server
(state1 -> state2 -> state2 -> broken)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import time_machine
from scrapy.http import HtmlResponse, Request, Response

from fundwatch.items import FundItem
from fundwatch.mirror_server import MirrorServer
from fundwatch.spiders.arbetsformedlingen import ArbetsformedlingenSpider
from helpers import MIRROR, file_response, make_spider, mirror_response

SITE = "https://arbetsformedlingen.se"
HUB = f"{SITE}/for-leverantorer/upphandlingar-och-regelverk"
CURRENT = f"{HUB}/aktuella-upphandlingar"
NEWS = f"{SITE}/for-leverantorer/nyheter-for-leverantorer"
PDF1 = f"{SITE}/download/18.23736a8fc19b785bbd39e9e/1793088877000/planerade-upphandlingar-2027.pdf"
PDF2 = f"{SITE}/download/18.4258e0b6bb41db45bd1cd7b/1795179731000/planerade-upphandlingar-2027.pdf"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel("2026-11-26 10:00 +01:00", tick=False):
        yield


@pytest.fixture
def spider():
    return make_spider(ArbetsformedlingenSpider)


def pdf_response(state: str, url: str) -> Response:
    return file_response(MIRROR / state / "arbetsformedlingen.se" / urlsplit(url).path.lstrip("/"), url,
                         meta={"hub_url": HUB})


def item(kind: str, key: str, title: str, url: str, origin: str, **fields) -> FundItem:
    return FundItem(agency="arbetsformedlingen", kind=kind, key=key, title=title, url=url, origin=origin,
                    source="arbetsformedlingen", **fields)


# -- hub ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("state, pdf", [("state1", PDF1), ("state2", PDF2)])
def test_hub_resolves_current_page_and_pdf(spider, state, pdf):
    requests = list(spider.parse(mirror_response(state, HUB)))
    assert [(r.url, r.callback.__name__, r.meta["page_role"]) for r in requests] == [
        (CURRENT, "_parse_current", "current-procurements"),
        (pdf, "_parse_planned", "planned-procurements"),  # "Pdf, 18 kB." / "Pdf, 19 kB.": found by name
    ]
    assert requests[1].meta["hub_url"] == HUB
    page = spider.health.pages[HUB]
    assert page.carried and page.layout is None


def _hub_variant(replacements: dict[str, str]) -> HtmlResponse:
    body = mirror_response("state1", HUB).body.decode()
    for old, new in replacements.items():
        assert old in body
        body = body.replace(old, new)
    return HtmlResponse(url=HUB, body=body.encode(), encoding="utf-8", request=Request(HUB))


def test_hub_without_links_is_a_layout_change(spider):
    response = _hub_variant({">Se aktuella upphandlingar<": ">Se listan<",
                             "> Planerade upphandlingar <span": "> Plan 2027 <span"})
    assert list(spider.parse(response)) == []
    page = spider.health.pages[HUB]
    assert page.layout == "links Aktuella upphandlingar, Planerade upphandlingar" and not page.carried


def test_hub_without_pdf_link_still_follows_current_page(spider):
    response = _hub_variant({"> Planerade upphandlingar <span": "> Plan 2027 <span"})
    assert [r.url for r in spider.parse(response)] == [CURRENT]
    assert spider.health.pages[HUB].layout == "link Planerade upphandlingar"


# -- current procurements ---------------------------------------------------------------------------
RUSTA = item(
    "procurement", "Af-2026/0041 2345", "Rusta och matcha 2", f"{CURRENT}#h-Rustaochmatcha2", CURRENT,
    deadline=None, deadline_text="Ansökan tas emot löpande", published=dt.date(2026, 9, 14),
    details={"Upphandlingsform": "LOV", "Diarienummer": "Af-2026/0041 2345", "Publicerad": "2026-09-14"},
    text="Rusta och matcha 2\nUpphandlingsform: LOV\nDiarienummer: Af-2026/0041 2345\nPublicerad: 2026-09-14\n"
         "Sista anbudsdag: Ansökan tas emot löpande\n"
         "Rusta och matcha 2 är en tjänst i ett valfrihetssystem. Leverantörer stöttar arbetssökande att hitta "
         "arbete eller börja studera. Du kan ansöka om att bli leverantör när som helst under avtalstiden.\n"
         "Läs mer om Rusta och matcha",
)
VARD = item(
    "procurement", "Af-2026/0057 1187", "Arbetsmarknadsutbildning inom vård och omsorg",
    "https://tendsign.com/doc.aspx?UniqueId=aqhpqbmmcg", CURRENT,
    deadline=dt.date(2026, 12, 14), deadline_text="2026-12-14", published=dt.date(2026, 10, 2),
    details={"Upphandlingsform": "LOU", "Diarienummer": "Af-2026/0057 1187", "Publicerad": "2 oktober 2026"},
    text="Arbetsmarknadsutbildning inom vård och omsorg\nUpphandlingsform: LOU\nDiarienummer Af-2026/0057 1187\n"
         "Publicerad: 2 oktober 2026\nSista anbudsdag: 2026-12-14\n"
         "Utbildningen ska ge arbetssökande de kunskaper som krävs för arbete som undersköterska eller "
         "vårdbiträde. Upphandlingen omfattar tolv regioner.\nTill upphandlingen i Tendsign",
)


def tolk(deadline: dt.date, written: str) -> FundItem:
    return item(
        "procurement", "Af-2026/0063 4410", "Dynamiskt inköpssystem för tolktjänster",
        "https://tendsign.com/doc.aspx?UniqueId=bkrtpmvxwe", CURRENT,
        deadline=deadline, deadline_text=written, published=dt.date(2026, 10, 20),
        details={"Upphandlingsform": "Dynamiskt inköpssystem", "Diarienummer": "Af-2026/0063 4410",
                 "Publicerad": "2026-10-20"},
        text="Dynamiskt inköpssystem för tolktjänster\nUpphandlingsform Dynamiskt inköpssystem\n"
             f"Diarienummer Af-2026/0063 4410\nPublicerad 2026-10-20\nSista anbudsdag {written}\n"
             "Systemet är öppet för nya leverantörer under hela giltighetstiden. Anbud i den första "
             "avropsrundan ska ha kommit in senast sista anbudsdag.\nTill upphandlingen i Tendsign",
    )


IDEBUREN = item(
    "procurement", "Af-2026/0071 0932", "Stöd till arbetssökande genom idéburna organisationer",
    "https://tendsign.com/doc.aspx?UniqueId=cwnzhdqfus", CURRENT,
    deadline=dt.date(2027, 1, 8), deadline_text="den 8 januari 2027", published=dt.date(2026, 11, 3),
    details={"Upphandlingsform": "LOU", "Diarienummer": "Af-2026/0071 0932", "Publicerad": "3 november 2026"},
    text="Stöd till arbetssökande genom idéburna organisationer\nUpphandlingsform\nLOU\nDiarienummer\n"
         "Af-2026/0071 0932\nPublicerad\n3 november 2026\nSista anbudsdag\nden 8 januari 2027\n"
         "Upphandlingen är reserverad för idéburna organisationer. Uppdraget är att ge arbetssökande som står "
         "långt från arbetsmarknaden stöd i vardagen och kontakt med arbetsgivare.\nTill upphandlingen i Tendsign",
)


def test_current_procurements_state1(spider):
    # bold-label paragraphs, a list with bold labels, a table, a definition list
    items = list(spider._parse_current(mirror_response("state1", CURRENT)))
    assert len(items) == 4
    assert items == [RUSTA, VARD, tolk(dt.date(2027, 1, 15), "15 januari 2027 kl. 23.59"), IDEBUREN]
    assert not any(page.layout for page in spider.health.pages.values())


def test_current_procurements_state2_one_removed_one_deadline_moved(spider):
    items = list(spider._parse_current(mirror_response("state2", CURRENT)))
    assert len(items) == 3
    assert items == [RUSTA, tolk(dt.date(2027, 1, 29), "29 januari 2027 kl. 23.59"), IDEBUREN]


def test_current_page_without_procurements_is_a_layout_change(spider):
    body = "<html><body><main><h1>Aktuella upphandlingar</h1><h2>Inga upphandlingar</h2><p>Just nu finns inga.</p></main></body></html>"
    response = HtmlResponse(url=CURRENT, body=body.encode(), encoding="utf-8", request=Request(CURRENT))
    assert list(spider._parse_current(response)) == []
    assert spider.health.pages[CURRENT].layout.startswith("procurement headings")


# -- planned procurements (PDF) ---------------------------------------------------------------------
def planned(title: str, form: str, ads: str, start: str) -> FundItem:
    return item(
        "procurement", f"planerad {title}", title, HUB, HUB, status="planned", deadline=None,
        # the quarter it is to be announced in is when it opens, in part: "kvartal 1 2027 (prel.)"
        details={"Upphandlingsform": form, "Planerad annonsering": ads, "Beräknad avtalsstart": start,
                 "Öppnar": f"{ads} (prel.)"},
        text=f"{title}\nUpphandlingsform: {form}\nPlanerad annonsering: {ads}\nBeräknad avtalsstart: {start}",
    )


LAGER = planned("Arbetsmarknadsutbildning inom lager och logistik", "LOU", "kvartal 1 2027", "hösten 2027")
GLESBYGD = planned("Stöd och matchning i glesbygd", "LOV", "kvartal 1 2027", "sommaren 2027")
YRKESSVENSKA = planned("Yrkessvenska för vård och omsorg", "LOU", "kvartal 2 2027", "hösten 2027")
PLANNED_REST = [
    planned("Språkstöd för arbetssökande", "LOU", "kvartal 2 2027", "hösten 2027"),
    planned("Tolkförmedling, region Norr", "LOU", "kvartal 2 2027", "1 januari 2028"),
    # title at the foot of page 1, its fields under page 2's header
    planned("Kartläggning av kompetens hos nyanlända", "LOU", "kvartal 3 2027", "våren 2028"),
    planned("Arbetsträning hos idéburna organisationer", "LOU, reserverad upphandling", "kvartal 4 2027", "under 2028"),
]


def test_planned_pdf_state1(spider):
    items = list(spider._parse_planned(pdf_response("state1", PDF1)))
    assert len(items) == 6
    assert items == [LAGER, GLESBYGD, *PLANNED_REST]


def test_planned_pdf_state2_new_url_one_added_one_dropped(spider):
    items = list(spider._parse_planned(pdf_response("state2", PDF2)))
    assert len(items) == 6
    assert items == [LAGER, YRKESSVENSKA, *PLANNED_REST]  # same ids, url and origin as in state1


def header_only_pdf() -> bytes:
    """A readable PDF with the page header and preamble but no entries."""
    from io import BytesIO

    from reportlab.pdfgen import canvas

    out = BytesIO()
    c = canvas.Canvas(out, invariant=True)
    for y, line in ((800, "Arbetsförmedlingen"), (780, "Planerade upphandlingar 2027"), (760, "Uppdaterad: 2026-10-27"),
                    (720, "Planen publiceras i december."), (60, "Sida 1 av 1")):
        c.drawString(60, y, line)
    c.save()
    return out.getvalue()


@pytest.mark.parametrize("body, missing", [
    (b"%PDF-1.4\n1 0 obj << /Type /Catalog >>\ntrasig", "a readable PDF"),
    (b"<html><body><h1>Sidan kunde inte visas</h1></body></html>", "a readable PDF"),
    (header_only_pdf(), "planned procurements (a title line, then Upphandlingsform: \u2026)"),
])
def test_unreadable_pdf_is_a_layout_change_not_an_exception(spider, body, missing):
    response = Response(url=PDF1, body=body, request=Request(PDF1, meta={"hub_url": HUB}))
    assert list(spider._parse_planned(response)) == []
    assert spider.health.pages[PDF1].layout == missing


# -- supplier news ----------------------------------------------------------------------------------
def news(path: str, title: str, published: dt.date, text: str) -> FundItem:
    url = f"{NEWS}/{path}"
    return item("news", url, title, url, NEWS, published=published, text=text)


NEWS_STATE1 = [
    news("2026/2026-11-12-nytt-dynamiskt-inkopssystem-for-tolktjanster", "Nytt dynamiskt inköpssystem för tolktjänster",
         dt.date(2026, 11, 12), "Arbetsförmedlingen inrättar ett dynamiskt inköpssystem för tolktjänster. "
         "Leverantörer kan ansöka om att delta."),
    news("2026/2026-10-27-planerade-upphandlingar-2027-publicerade", "Planerade upphandlingar 2027 publicerade",
         dt.date(2026, 10, 27), "Nu finns planen över de upphandlingar vi räknar med att annonsera under 2027."),
    # datetime="2026-09-13T22:30:00Z" is 14 September in Stockholm, as the visible date says
    news("2026/2026-09-14-rusta-och-matcha-2-oppnar-for-nya-leverantorer", "Rusta och matcha 2 öppnar för nya leverantörer",
         dt.date(2026, 9, 14), "Från och med i dag kan du ansöka om att bli leverantör av Rusta och matcha 2."),
    news("2025/2025-09-23-andrade-villkor-for-leverantorer", "Ändrade villkor för leverantörer av Rusta och matcha",
         dt.date(2025, 9, 23), "Från den 1 januari 2026 gäller nya villkor för ersättning och rapportering."),
]
NEWS_ADDED = news("2026/2026-11-20-uppdaterad-plan-for-upphandlingar-2027", "Uppdaterad plan för upphandlingar 2027",
                  dt.date(2026, 11, 20), "Planen för 2027 har uppdaterats. Yrkessvenska för vård och omsorg har tillkommit.")


@pytest.mark.parametrize("state, expected", [("state1", NEWS_STATE1), ("state2", [NEWS_ADDED, *NEWS_STATE1])])
def test_supplier_news(spider, state, expected):
    items = list(spider.parse(mirror_response(state, NEWS)))
    assert len(items) == len(expected)
    assert items == expected


def test_empty_news_list_is_flagged(spider):
    assert list(spider.parse(mirror_response("broken", NEWS))) == []
    assert spider.health.pages[NEWS].layout == "news items (li.sv-channel-item)"


# -- real crawls over HTTP ------------------------------------------------------------------------
@pytest.mark.slow
def test_crawls_through_the_mirror_server(tmp_path):
    env = dict(os.environ, FUNDWATCH_DATABASE_URL=f"sqlite:///{tmp_path / 'fundwatch.db'}",
               FUNDWATCH_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("FUNDWATCH_SOURCES", None)
    result_file = tmp_path / "r.json"

    def crawl(state: str) -> dict:
        server.set_root(MIRROR / state)
        result_file.unlink(missing_ok=True)
        proc = subprocess.run(
            [sys.executable, "-m", "scrapy", "crawl", "arbetsformedlingen", "-s", "DOWNLOAD_DELAY=0",
             "-s", "AUTOTHROTTLE_ENABLED=0", "-s", "FUNDWATCH_BACKOFF_BASE=0", "-s", "FUNDWATCH_RETRY_AFTER_MAX=1",
             "-s", f"FUNDWATCH_RESULT_FILE={result_file}"],
            env=env, cwd=Path(__file__).parent.parent, capture_output=True, text=True, timeout=60,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads(result_file.read_text("utf-8"))

    def counts(result: dict) -> tuple:
        return tuple(result[k] for k in ("status", "pages", "items", "new", "updated", "removed", "reappeared"))

    with MirrorServer(MIRROR / "state1") as server:
        env["FUNDWATCH_MIRROR"] = server.url
        # 4 current + 6 planned + 4 news; pages: hub, news list, current page, PDF
        assert counts(crawl("state1")) == ("ok", 4, 14, 14, 0, 0, 0)
        # new: 1 planned row, 1 news item; updated: the moved Sista anbudsdag (the new PDF URL is no update)
        assert counts(crawl("state2")) == ("ok", 4, 14, 2, 1, 0, 0)
        # second healthy miss: the dropped procurement and the dropped planned row are removed
        assert counts(crawl("state2")) == ("ok", 4, 14, 0, 0, 2, 0)
        broken = crawl("broken")
        assert counts(broken) == ("failed", 2, 0, 0, 0, 0, 0)
        assert broken["reason"] == f"{HUB} answered HTTP 503"
        hub_requests = [r.status for r in server.log if r.path == "/arbetsformedlingen.se" + urlsplit(HUB).path]
        assert hub_requests[-3:] == [503, 503, 503]  # retried after Retry-After: 1

    import sqlite3

    with sqlite3.connect(tmp_path / "fundwatch.db") as db:
        removed = sorted(r[0] for r in db.execute("SELECT id FROM items WHERE status = 'removed'"))
    assert removed == ["arbetsformedlingen/procurement/af-2026-0057-1187",
                       "arbetsformedlingen/procurement/planerad-stöd-och-matchning-i-glesbygd"]
