"""Screenshots of the weekly digest as subscribers see it: a first digest and a returning one, each
at 390 px (a phone) and 1200 px (a desktop mail client), in headless Chromium.

Run: .venv/bin/python bench/screenshots_digest.py [--db PATH] [--out DIR]
The digests are built from the demo database (PATH, else one made by `fundwatch demo` in a temp
folder): the first digest as a new subscriber gets it after both demo crawls, the returning one
with what the second crawl changed. Writes first.html, returning.html and a PNG per width to DIR
(default: screenshots/, which .gitignore covers) and prints the size of each HTML part.
Needs Debian's `chromium` (apt-get install chromium).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WIDTHS = {390: 3400, 1200: 2400}  # window width: height (a headless screenshot is the window only)
GMAIL_CLIP = 102 * 1024


def demo_database(work: Path) -> Path:
    env = dict(os.environ, FUNDWATCH_SECRET_KEY=os.environ.get("FUNDWATCH_SECRET_KEY", "screenshots-only-secret"))
    exe = Path(sys.executable).parent / "fundwatch"
    subprocess.run([str(exe), "demo", "--dir", str(work / "demo")], env=env, check=True, capture_output=True,
                   timeout=900, cwd=ROOT)
    return work / "demo" / "fundwatch.db"


def render(db: Path) -> dict[str, tuple[str, str]]:
    """{name: (subject, html)} of the first and the returning digest."""
    os.environ["FUNDWATCH_DATABASE_URL"] = f"sqlite:///{db.absolute()}"
    os.environ.setdefault("FUNDWATCH_SECRET_KEY", "screenshots-only-secret")
    from sqlalchemy import func, select

    from fundwatch.digest.builder import WeekData
    from fundwatch.digest.filters import Filters
    from fundwatch.digest.render import filters_sv, render_digest
    from fundwatch.sources import load_sources
    from fundwatch.storage.db import session_scope
    from fundwatch.storage.models import Change, Run

    base = "https://fundwatch.example.org"
    links = {"manage": f"{base}/installningar/TOKEN", "unsubscribe": f"{base}/avregistrera/TOKEN",
             "mute": f"{base}/dolj/TOKEN"}
    with session_scope() as session:
        first_crawl = sorted(session.scalars(select(Run.id)))[: len(list(load_sources()))]  # the demo crawls every source twice
        after_first_crawl = session.scalar(select(func.max(Change.id)).where(Change.run_id.in_(first_crawl))) or 0
        upto = WeekData.max_change_id(session)
        data = WeekData.load(session, after_id=0, upto_id=upto)
        digests = {"first": data.build(Filters(), after_id=data.first_after_id, upto_id=upto, first=True),
                   "returning": data.build(Filters(), after_id=after_first_crawl, upto_id=upto, first=False)}
    out = {}
    for name, digest in digests.items():
        subject, _text, html = render_digest(digest, org="Demoföreningen", email="demo@example.org", links=links,
                                             filters_text=filters_sv(Filters(), {}), list_url=f"{base}/utlysningar")
        out[name] = (subject, html)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="demo database (default: make one with `fundwatch demo`)")
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    options = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium not found: apt-get install chromium")
    work = Path(tempfile.mkdtemp(prefix="fundwatch-screens-"))
    db = options.db or demo_database(work)
    options.out.mkdir(parents=True, exist_ok=True)
    for name, (subject, html) in render(db).items():
        page = options.out / f"{name}.html"
        page.write_text(html, encoding="utf-8")
        size = len(html.encode("utf-8"))
        print(f"{name}: {subject!r}; HTML {size / 1024:.1f} kB ({'under' if size < GMAIL_CLIP else 'OVER'} Gmail's 102 kB)")
        for width, height in WIDTHS.items():
            png = options.out / f"{name}-{width}.png"
            subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                            f"--user-data-dir={work / 'chromium'}", f"--screenshot={png}",
                            f"--window-size={width},{height}", page.absolute().as_uri()],
                           check=True, capture_output=True, timeout=120)
            print(f"  {png}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
