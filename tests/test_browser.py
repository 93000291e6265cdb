"""End to end in a real browser: Debian's headless chromium, driven by Selenium through
chromium-driver, opens the list, filters by agency, opens a call and sees its history.

Without chromium the test is skipped and says why; `.ci/run` installs it and sets
FUNDWATCH_REQUIRE_BROWSER=1, which turns that skip into a failure."""

from __future__ import annotations

import datetime as dt
import os
import shutil

import pytest

from fundwatch.storage.db import get_engine
from fundwatch.storage.queries import now_local
from helpers import crawl, make_item, web_server

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def browser(width: int = 1200, height: int = 900):
    """Headless chromium at a window size, or a skip (a failure under .ci/run) saying what is missing."""
    missing = [name for name, path in (("chromium", CHROMIUM), ("chromium-driver", CHROMEDRIVER)) if not path]
    if missing:
        why = f"{' and '.join(missing)} not installed (apt-get install chromium chromium-driver)"
        if os.environ.get("FUNDWATCH_REQUIRE_BROWSER") == "1":
            pytest.fail(f"FUNDWATCH_REQUIRE_BROWSER=1 but {why}")
        pytest.skip(why)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", "--lang=sv-SE"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


def test_list_filter_call_and_history_in_chromium(sqlite_url, digest_env):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    today = now_local().date()
    engine = get_engine(sqlite_url)
    crawl(engine, "migrationsverket", [make_item("migrationsverket", "AMIF Integration", deadline=today + dt.timedelta(days=30))])
    crawl(engine, "migrationsverket", [make_item("migrationsverket", "AMIF Integration", deadline=today + dt.timedelta(days=44))])
    crawl(engine, "brottsoffermyndigheten", [make_item("brottsoffermyndigheten", "Brottsofferfonden",
                                                       deadline=today + dt.timedelta(days=10))])
    driver = browser()
    try:
        with web_server() as port:
            driver.get(f"http://127.0.0.1:{port}/utlysningar")
            assert driver.title == "Utlysningar och erbjudanden – fundwatch"
            titles = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "table.calls tbody td:first-child a")]
            assert titles == ["Brottsofferfonden", "AMIF Integration"]
            # the stylesheet loaded (a CSP without inline styles still styles the page)
            main = driver.find_element(By.TAG_NAME, "main")
            assert main.value_of_css_property("max-width") == "1200px"

            driver.find_element(By.CSS_SELECTOR, 'input[name=agency][value=migrationsverket]').click()
            driver.find_element(By.CSS_SELECTOR, "form.filters button[type=submit]").click()
            WebDriverWait(driver, 10).until(expected_conditions.url_contains("agency=migrationsverket"))
            titles = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "table.calls tbody td:first-child a")]
            assert titles == ["AMIF Integration"]

            driver.find_element(By.LINK_TEXT, "AMIF Integration").click()
            WebDriverWait(driver, 10).until(expected_conditions.url_contains("/utlysningar/migrationsverket/"))
            assert driver.find_element(By.TAG_NAME, "h1").text == "AMIF Integration"
            history = driver.find_element(By.CSS_SELECTOR, "ol.changes")
            entries = history.find_elements(By.CSS_SELECTOR, ":scope > li")
            assert [e.find_element(By.CSS_SELECTOR, ".status").text for e in entries] == ["Ändrad", "Ny"]
            moved = entries[0].find_element(By.CSS_SELECTOR, "table.fieldchanges").text
            assert "Sista ansökningsdag" in moved and "→" in moved
            logs = [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and "favicon.ico" not in e["message"]]
            assert logs == []  # nothing blocked by the CSP, nothing missing
    finally:
        driver.quit()
