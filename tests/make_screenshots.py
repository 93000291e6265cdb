"""Screenshots of the public web for review: the list, a call page with history and the change log,
each at 390 px (a phone) and 1200 px wide, in Debian's headless chromium.

    .venv/bin/python tests/make_screenshots.py --out screenshots/            # on a fresh demo database
    .venv/bin/python tests/make_screenshots.py --out shots/ --database sqlite:///fundwatch-demo/fundwatch.db

Without --database it runs `fundwatch demo` into a temporary folder first (about a minute)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

WIDTHS = (390, 1200)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNG files")
    parser.add_argument("--database", help="SQLAlchemy URL of a fundwatch database (default: a fresh demo)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fundwatch-shots-") as tmp:
        url = args.database
        if not url:
            subprocess.run([sys.executable, "-m", "fundwatch.cli", "demo", "--dir", f"{tmp}/demo"], check=True,
                           stdout=subprocess.DEVNULL)
            url = f"sqlite:///{tmp}/demo/fundwatch.db"
        os.environ.update(FUNDWATCH_DATABASE_URL=url, FUNDWATCH_SECRET_KEY=os.environ.get("FUNDWATCH_SECRET_KEY", "screenshots"))
        shoot(args.out)


def shoot(out: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    from helpers import web_server

    with web_server() as port:
        base = f"http://127.0.0.1:{port}"
        changes = json.load(urllib.request.urlopen(f"{base}/api/v1/changes?limit=1000"))
        moved = [c for c in changes if "deadline" in c["fields"]] or [c for c in changes if c["change"] == "updated"] or changes
        item = moved[-1]["item_id"] if moved else json.load(urllib.request.urlopen(f"{base}/api/v1/calls"))[0]["id"]
        pages = {"list": "/utlysningar", "call": "/utlysningar/" + urllib.parse.quote(item, safe="/"),
                 "changes": "/andringar"}
        options = webdriver.ChromeOptions()
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"):
            options.add_argument(arg)
        driver = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)
        try:
            for width in WIDTHS:
                for name, path in pages.items():
                    driver.set_window_size(width, 900)
                    driver.get(base + path)
                    height = driver.execute_script("return document.documentElement.scrollHeight")
                    driver.set_window_size(width, min(height, 5000))
                    target = out / f"{name}-{width}.png"
                    driver.save_screenshot(str(target))
                    print(target)
        finally:
            driver.quit()


if __name__ == "__main__":
    main()
