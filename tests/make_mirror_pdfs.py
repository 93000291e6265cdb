"""Generate Arbetsförmedlingen's "Planerade upphandlingar 2027" PDFs for the mirror states.

    python tests/make_mirror_pdfs.py

The layout follows what Arbetsförmedlingen publishes: every page opens
with a running header (agency name, title, "Uppdaterad: …") and ends with "Sida N av M"; page 1
has the big title and a short preamble; then one entry per planned procurement: a title line and
the lines `Upphandlingsform:`, `Planerad annonsering:`, `Beräknad avtalsstart:`. The plan is laid
out so that one entry's title sits at the foot of page 1 and its fields continue on page 2 under
page 2's header, which the spider must strip to join them.

The output is deterministic (invariant=True: no creation date or random document id), so running
the script again rewrites byte-identical files. state2 holds the replaced plan under a new
download URL (a new hex id and timestamp); broken holds a copy of state2 (the hub answers 503
there, but the files are what the site would serve once it recovers).
"""

from __future__ import annotations

from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

MIRROR = Path(__file__).parent.parent / "fundwatch" / "mirror"
HOST = "arbetsformedlingen.se"

# The download paths the hub links to (Sitevision: /download/18.<hex>/<ms-timestamp>/<name>.pdf).
STATE1_PATH = "download/18.23736a8fc19b785bbd39e9e/1793088877000/planerade-upphandlingar-2027.pdf"
STATE2_PATH = "download/18.4258e0b6bb41db45bd1cd7b/1795179731000/planerade-upphandlingar-2027.pdf"

PREAMBLE = [
    "Här redovisar Arbetsförmedlingen de upphandlingar som myndigheten planerar att annonsera",
    "under 2027. Planen är preliminär och kan ändras. Tidpunkterna är ungefärliga. Frågor om",
    "planen besvaras av upphandlingsenheten, upphandling@arbetsformedlingen.se.",
]

# (title, Upphandlingsform, Planerad annonsering, Beräknad avtalsstart)
STATE1_ROWS = [
    ("Arbetsmarknadsutbildning inom lager och logistik", "LOU", "kvartal 1 2027", "hösten 2027"),
    ("Stöd och matchning i glesbygd", "LOV", "kvartal 1 2027", "sommaren 2027"),
    ("Språkstöd för arbetssökande", "LOU", "kvartal 2 2027", "hösten 2027"),
    ("Tolkförmedling, region Norr", "LOU", "kvartal 2 2027", "1 januari 2028"),
    ("Kartläggning av kompetens hos nyanlända", "LOU", "kvartal 3 2027", "våren 2028"),
    ("Arbetsträning hos idéburna organisationer", "LOU, reserverad upphandling", "kvartal 4 2027", "under 2028"),
]
# state2: "Stöd och matchning i glesbygd" dropped, "Yrkessvenska för vård och omsorg" added.
STATE2_ROWS = [
    STATE1_ROWS[0],
    ("Yrkessvenska för vård och omsorg", "LOU", "kvartal 2 2027", "hösten 2027"),
    *STATE1_ROWS[2:],
]

TOP = A4[1] - 60
BOTTOM = 70
LEFT = 60


def _header(c: canvas.Canvas, updated: str) -> float:
    width = A4[0]
    c.setFont("Helvetica-Bold", 10)
    c.drawString(LEFT, TOP, "Arbetsförmedlingen")
    c.setFont("Helvetica", 9)
    c.drawRightString(width - LEFT, TOP, "Planerade upphandlingar 2027")
    c.drawRightString(width - LEFT, TOP - 12, f"Uppdaterad: {updated}")
    return TOP - 50


def _footer(c: canvas.Canvas, page: int, pages: int) -> None:
    c.setFont("Helvetica", 9)
    c.drawCentredString(A4[0] / 2, BOTTOM - 30, f"Sida {page} av {pages}")


def make_pdf(path: Path, rows: list[tuple[str, str, str, str]], updated: str, split_after: int) -> None:
    """Rows 0..split_after-1 fully on page 1, row split_after's title at the foot of page 1 and its
    fields on page 2, the rest on page 2."""
    path.parent.mkdir(parents=True, exist_ok=True)
    c = canvas.Canvas(str(path), pagesize=A4, invariant=True)
    c.setTitle("Planerade upphandlingar 2027")
    c.setAuthor("Arbetsförmedlingen")
    pages = 2
    y = _header(c, updated)
    c.setFont("Helvetica-Bold", 18)
    c.drawString(LEFT, y, "Planerade upphandlingar 2027")
    y -= 28
    c.setFont("Helvetica", 10)
    for line in PREAMBLE:
        c.drawString(LEFT, y, line)
        y -= 14
    y -= 16
    page = 1
    for n, (title, form, ads, start) in enumerate(rows):
        if n == split_after:  # this title at the foot of page 1, its fields on page 2
            y = BOTTOM + 8
        c.setFont("Helvetica-Bold", 11)
        c.drawString(LEFT, y, title)
        y -= 16
        for label, value in (("Upphandlingsform", form), ("Planerad annonsering", ads), ("Beräknad avtalsstart", start)):
            if y < BOTTOM:
                _footer(c, page, pages)
                c.showPage()
                page += 1
                y = _header(c, updated)
            c.setFont("Helvetica", 10)
            c.drawString(LEFT + 10, y, f"{label}: {value}")
            y -= 14
        y -= 18
    _footer(c, page, pages)
    c.showPage()
    c.save()


def main() -> None:
    make_pdf(MIRROR / "state1" / HOST / STATE1_PATH, STATE1_ROWS, "2026-10-27", split_after=4)
    for state in ("state2", "broken"):
        make_pdf(MIRROR / state / HOST / STATE2_PATH, STATE2_ROWS, "2026-11-20", split_after=4)


if __name__ == "__main__":
    main()
